"""The quorum guard and the DRBD handlers on a real 3-node cluster (the lab)."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pacemail.lab import cluster, net, power, switchd
from pacemail.lab.nodes import NodeDown, node_run, node_runner
from pacemail.pacemaker import cib, fencing
from pacemail.proc import CommandError

PACEMAIL = str(Path(sys.executable).parent / "pacemail")
CLONE = "pmfence-drbd-clone"
CID = f"drbd-fence-by-handler-mail-{CLONE}"
ALL = ["node1", "node2", "node3"]

pytestmark = pytest.mark.lab


def pacemail(lab, node, *args, env: dict | None = None, timeout: float = 120):
    argv = ["env", *(f"{k}={v}" for k, v in (env or {}).items()), PACEMAIL, *args]
    return node_run(lab.name, node, argv, timeout=timeout, check=False)


def test_quorate_node_reports_quorum(lab):
    done = pacemail(lab, "node1", "fencing", "quorum", "--json")
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["quorate"] and state["running"] and not state["two_node"]
    assert state["expected_votes"] == 3 and state["total_votes"] == 3
    assert [(m["id"], m["name"]) for m in state["members"]] == [(1, "node1"), (2, "node2"),
                                                                (3, "node3")]
    guard = pacemail(lab, "node1", "fencing", "guard")
    assert guard.returncode == 0 and guard.stdout.startswith("allowed: quorate")


def test_isolated_node_is_refused_while_the_majority_may_take_over(lab):
    single, pair = lab.node("node3"), [lab.node("node1"), lab.node("node2")]
    net.partition(lab, [single], pair)
    try:
        def node3_inquorate_or_fenced():
            """("refused", guard, quorum) from node3, or "fenced".

            The majority may fence node3 at any moment: a call can die with it, or
            find it rebooted with corosync not up yet, also a refusal.
            """
            if not power.is_on(lab, single):
                return "fenced"
            try:
                guard = pacemail(lab, "node3", "fencing", "guard", timeout=30)
                quorum = pacemail(lab, "node3", "fencing", "quorum", timeout=30)
            except (NodeDown, CommandError):
                return None  # powered off or rebooting while we asked
            refused = guard.returncode == 1 and quorum.returncode in (1, 3)  # 3: corosync down
            return ("refused", guard, quorum) if refused else None
        seen = cluster.wait_for(node3_inquorate_or_fenced, 60, "node3 refused or fenced")
        print("\nnode3 after the partition:", seen if seen == "fenced" else seen[1].stdout.strip())
        if seen != "fenced":
            _, refusal, quorum = seen
            if "corosync is not answering" not in refusal.stdout:  # else: fenced, rebooting
                assert refusal.stdout.startswith("refused: this partition is NOT quorate"), \
                    refusal.stdout
                assert "1 of 3 expected votes" in refusal.stdout
            assert "NOT quorate" in quorum.stdout or "not answering" in quorum.stdout
        majority = cluster.wait_for(
            lambda: (d := pacemail(lab, "node1", "fencing", "guard")).returncode == 0 and
            "node3" not in d.stdout and d, 60, "node1 allowed without node3")
        assert majority.stdout.startswith("allowed: quorate: 2 of 3 expected votes")
    finally:
        net.heal(lab)
        if not power.is_on(lab, single):
            switchd.request(str(lab.switch_socket), "on", "node3")
        cluster.wait_for_quorum(lab.name, ALL, 180)


def drbd9_env(me: int) -> dict:
    env = {"DRBD_RESOURCE": "mail", "DRBD_MINOR": "0", "DRBD_VOLUME": "0",
           "DRBD_MY_NODE_ID": str(me), "DRBD_PEER_NODE_ID": str((me + 1) % 3),
           "UP_TO_DATE_NODES": hex(1 << me)}
    env.update({f"DRBD_NODE_ID_{i}": n for i, n in enumerate(ALL)})
    return env


def test_fence_and_unfence_peer_on_the_live_cib(lab):
    cibadmin = lambda *a: node_run(lab.name, "node1", ["cibadmin", *a], timeout=30)  # noqa: E731
    cibadmin("--create", "-o", "resources", "-X",
             f'<clone id="{CLONE}"><meta_attributes id="{CLONE}-meta">'
             f'<nvpair id="{CLONE}-promotable" name="promotable" value="true"/>'
             f'<nvpair id="{CLONE}-target-role" name="target-role" value="Stopped"/>'
             f'</meta_attributes><primitive id="pmfence-drbd" class="ocf" provider="pacemaker" '
             f'type="Stateful"><instance_attributes id="pmfence-drbd-ia"><nvpair '
             f'id="pmfence-drbd-ia-res" name="drbd_resource" value="mail"/></instance_attributes>'
             f'</primitive></clone>')
    try:
        fence = pacemail(lab, "node1", "fencing", "fence-peer", env=drbd9_env(0))
        assert fence.returncode == 4, fence.stderr
        for node in ALL:  # every node's CIB has it
            location = ET.fromstring(cib.element(f"//rsc_location[@id='{CID}']",
                                                 run=node_runner(lab.name, node)))
            assert location.get("rsc") == CLONE
            assert [(e.get("operation"), e.get("value")) for e in location.iter("expression")] == [
                ("ne", "node1")]
        # the other side, a moment later: the constraint already excludes node2
        other = pacemail(lab, "node2", "fencing", "fence-peer", env=drbd9_env(1))
        assert other.returncode == 6, other.stderr
        unfence = pacemail(lab, "node2", "fencing", "unfence-peer", env=drbd9_env(1))
        assert unfence.returncode == 0, unfence.stderr
        assert cib.element(f"//rsc_location[@id='{CID}']",
                           run=node_runner(lab.name, "node1")) is None
    finally:
        node_run(lab.name, "node1", ["cibadmin", "--delete", "--xpath",
                                     f"//rsc_location[@id='{CID}']"], timeout=30, check=False)
        cibadmin("--delete", "--xpath", f"//clone[@id='{CLONE}']")


@pytest.mark.parametrize("peer_timeout, how", [
    ("30", "confirmed down"),                           # waits; Pacemaker fences node3 itself
    ("0", "asking Pacemaker to reboot lost peer node3"),  # no wait: the handler has it fenced
])
def test_fence_peer_with_stonith_confirms_a_lost_peer_as_fenced(lab, peer_timeout, how):
    """node3 vanishes; node1's handler gets it fenced (or finds Pacemaker did) and says 7."""
    cibadmin = lambda *a: node_run(lab.name, "node1", ["cibadmin", *a], timeout=30)  # noqa: E731
    cibadmin("--create", "-o", "resources", "-X",
             f'<clone id="{CLONE}"><meta_attributes id="{CLONE}-meta">'
             f'<nvpair id="{CLONE}-promotable" name="promotable" value="true"/>'
             f'<nvpair id="{CLONE}-target-role" name="target-role" value="Stopped"/>'
             f'</meta_attributes><primitive id="pmfence-drbd" class="ocf" provider="pacemaker" '
             f'type="Stateful"/></clone>')
    env = drbd9_env(0)
    env["UP_TO_DATE_NODES"] = "0x3"  # node1 and node2 UpToDate: only node3 is excluded
    net.partition(lab, [lab.node("node3")], [lab.node("node1"), lab.node("node2")])
    try:
        done = pacemail(lab, "node1", "fencing", "fence-peer", "--stonith", "--clone", CLONE,
                        "--peer-timeout", peer_timeout, env=env, timeout=200)
        print("\n" + done.stderr)
        assert done.returncode == 7, done.stderr
        assert how in done.stderr and "node3 confirmed down" in done.stderr
        history = fencing.history("node3", run=node_runner(lab.name, "node1"))
        assert any(e.status == "success" for e in history), history
        location = ET.fromstring(cibadmin("--query", "--xpath", f"//rsc_location[@id='{CID}']")
                                 .stdout)
        assert sorted(e.get("value") for e in location.iter("expression")) == ["node1", "node2"]
    finally:
        net.heal(lab)
        if not power.is_on(lab, lab.node("node3")):
            switchd.request(str(lab.switch_socket), "on", "node3")
        cluster.wait_for_quorum(lab.name, ALL, 180)
        node_run(lab.name, "node1", ["cibadmin", "--delete", "--xpath",
                                     f"//rsc_location[@id='{CID}']"], timeout=30, check=False)
        cibadmin("--delete", "--xpath", f"//clone[@id='{CLONE}']")
