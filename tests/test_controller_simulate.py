"""The templates under crm_simulate: the stack lands on one node and fails over in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from pacemail.controller.build import build_cib
from pacemail.controller.description import load, parse
from pacemail.pacemaker import simulate
from pacemail.pacemaker.verify import verify

TEMPLATES = Path(__file__).resolve().parent.parent / "cib-templates"
STACK = ("pm-mount", "pm-vip-mail", "pm-postfix-main", "pm-dovecot", "pm-vip-proxysql", "pm-proxysql")


def online(cib: etree._Element) -> bytes:
    """All nodes up with quorum, each with the promotion score a healthy DRBD replica sets."""
    cib.set("have-quorum", "1")
    cib.set("dc-uuid", cib.find("configuration/nodes/node").get("id"))
    status = cib.find("status")
    for node in cib.iterfind("configuration/nodes/node"):
        state = etree.SubElement(status, "node_state", id=node.get("id"), uname=node.get("uname"),
                                 in_ccm="true", crmd="online", join="member", expected="member")
        promotion_score(state)
    return etree.tostring(cib)


def promotion_score(state: etree._Element) -> None:
    """What the DRBD agent's monitor sets on an UpToDate replica (crm_master)."""
    nid = state.get("id")
    for old in state.findall("transient_attributes"):
        state.remove(old)
    attributes = etree.SubElement(etree.SubElement(state, "transient_attributes", id=nid),
                                  "instance_attributes", id=f"status-{nid}")
    etree.SubElement(attributes, "nvpair", id=f"status-{nid}-master-pm-drbd",
                     name="master-pm-drbd", value="10000")


def rejoined(cib: bytes, name: str) -> bytes:
    """``name`` back online with a resynced (promotable) DRBD replica."""
    tree = etree.fromstring(cib)
    state = tree.find(f"status/node_state[@uname='{name}']")
    state.attrib.update({"in_ccm": "true", "crmd": "online", "join": "member", "expected": "member"})
    promotion_score(state)
    return etree.tostring(tree)


def stack_nodes(sim: simulate.Simulation) -> set[str]:
    nodes = {node for rid in STACK for node, role in sim.placement[rid] if role == "Started"}
    nodes |= {node for node, role in sim.placement["pm-drbd"] if role == "Promoted"}
    return nodes


@pytest.fixture(params=["mail-3node", "mail-2node"])
def started(request):
    d = load(TEMPLATES / f"{request.param}.yaml").description
    cib = online(build_cib(d))
    assert verify(cib).warnings == ()
    return d, simulate.simulate(cib)


def test_whole_stack_starts_on_the_preferred_node(started):
    d, sim = started
    assert stack_nodes(sim) == {d.placement.preferred_node}
    assert all(len(sim.placement[rid]) == 1 for rid in STACK)


def test_node_failure_moves_the_whole_stack_to_one_other_node_in_order(started):
    """Promote, then the mount and the VIP side by side, then dovecot, then postfix."""
    d, sim = started
    failed = d.placement.preferred_node
    after = simulate.simulate(sim.cib_after, nodes_fail=(failed,))
    [target] = stack_nodes(after)
    assert target != failed
    A = simulate.Action
    promote, mount, vip = (A("pm-drbd", "promote", target), A("pm-mount", "start", target),
                           A("pm-vip-mail", "start", target))
    for later in (mount, vip):
        assert later in after.actions and after.requires(later, promote), later
    # the VIP starts next to the mount, not after it: one start less on the critical path
    assert not after.requires(vip, mount) and not after.requires(mount, vip)
    for service in ("pm-postfix-main", "pm-dovecot"):
        assert after.requires(A(service, "start", target), vip)
        assert after.requires(A(service, "start", target), mount)
    assert after.requires(A("pm-postfix-main", "start", target), A("pm-dovecot", "start", target))
    assert after.requires(A("pm-proxysql", "start", target), A("pm-vip-proxysql", "start", target))
    assert after.requires(A("pm-vip-proxysql", "start", target), A("pm-mount", "start", target))


@pytest.mark.parametrize("failback", [False, True])
def test_failback_only_when_asked(failback):
    text = (TEMPLATES / "mail-3node.yaml").read_text()
    text = text.replace("failback: false", f"failback: {str(failback).lower()}")
    d = parse(text, "mail-3node.yaml").description
    failed = d.placement.preferred_node
    started = simulate.simulate(online(build_cib(d)))
    moved = simulate.simulate(started.cib_after, nodes_fail=(failed,))
    back = simulate.simulate(rejoined(moved.cib_after, failed))
    assert stack_nodes(back) == ({failed} if failback else stack_nodes(moved))


@pytest.mark.parametrize("at, goes_back", [("2026-12-05T03:30:00", True),    # Saturday, in the window
                                           ("2026-12-05T12:00:00", False),   # Saturday, after it
                                           ("2026-12-07T03:30:00", False)])  # Monday, that hour
def test_failback_only_inside_its_window(at, goes_back):
    """``failback: {hours: 2-4, weekdays: 6-7}``: the recovered preferred node takes the stack
    back only when the scheduler's clock is inside the window; outside it the stack stays."""
    text = (TEMPLATES / "mail-3node.yaml").read_text()
    text = text.replace("failback: false", "failback: {hours: 2-4, weekdays: 6-7}")
    d = parse(text, "mail-3node.yaml").description
    home = d.placement.preferred_node
    started = simulate.simulate(online(build_cib(d)), at=at)
    assert stack_nodes(started) == {home}
    moved = simulate.simulate(started.cib_after, nodes_fail=(home,), at=at)
    back = simulate.simulate(rejoined(moved.cib_after, home), at=at)
    assert stack_nodes(moved) != {home}
    assert stack_nodes(back) == ({home} if goes_back else stack_nodes(moved))
    assert stack_nodes(simulate.simulate(back.cib_after, at=at)) == stack_nodes(back)   # settled


@pytest.mark.parametrize("failing, moves", [("pm-proxysql", False), ("pm-vip-proxysql", False),
                                            ("pm-dovecot", True)])
def test_only_a_mail_service_failure_moves_the_mail_store(failing, moves):
    """ProxySQL follows the mail store but never drags it: when it cannot start on the active
    node (not installed there: OCF_ERR_INSTALLED) it stops there and the mailboxes stay. A
    mail daemon that cannot start there is a reason to move, and the stack moves, once."""
    d = load(TEMPLATES / "mail-3node.yaml").description
    home = d.placement.preferred_node
    first = simulate.simulate(online(build_cib(d)), ops_fail=(f"{failing}_start_0@{home}=5",))
    after = simulate.simulate(first.cib_after)
    [where] = stack_nodes_but(after, failing)
    assert (where != home) is moves, after.placement
    assert all(role != "Started" for node, role in after.placement[failing] if node == home)
    again = simulate.simulate(after.cib_after)
    assert stack_nodes_but(again, failing) == {where}    # settled: no further move


def stack_nodes_but(sim: simulate.Simulation, failing: str) -> set[str]:
    nodes = {node for rid in STACK if rid != failing and not rid.endswith("proxysql")
             for node, role in sim.placement[rid] if role == "Started"}
    return nodes | {node for node, role in sim.placement["pm-drbd"] if role == "Promoted"}
