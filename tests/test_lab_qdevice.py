"""The quorum device and SBD in the lab.

Quick (root, no running lab): the quorum device's certificates made as pcs makes them, each
node ending with the cluster certificate qnetd's CA signed, and nothing written outside the
lab's directory; the shared SBD disk (``lab up --sbd-disk``) on a loop device with SBD's
header, readable by fence_sbd as the description's ``sbd:`` section names it, and gone with
``lab down``. No sbd daemon runs: this machine has no watchdog (no softdog module can load).

With a lab (``test_labs``; a two-node lab with a quorum device under the session's two-node
name): corosync counts qnetd's vote (3 expected votes), and a split of the two nodes is
decided by qnetd, not by a fence race: the half with the lowest node id (ffsplit's
tie-breaker) keeps quorum and fences the other, the other loses quorum and fences nobody, and
the mail stack, started on the losing node, ends on the winner with no mail lost.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LAB_NAME, TWO_NODE_LAB, lab_unavailable
from pacemail import namespaces
from pacemail.controller.description import parse
from pacemail.lab import cluster, inventory, lifecycle, provision, qnetd
from pacemail.lab import sbd as lab_sbd
from pacemail.lab.nodes import node_run, node_runner
from pacemail.lab.topology import QNETD_ADDRESS, Lab, lock_name
from pacemail.pacemaker import quorum
from pacemail.pacemaker import sbd as sbd_tool
from pacemail.runlock import hold

PACEMAIL = str(Path(sys.executable).parent / "pacemail")
TEMPLATE = Path(__file__).resolve().parent.parent / "cib-templates" / "mail-2node-qdevice.yaml"
SCRATCH_LAB = f"{LAB_NAME}qs"     # the quick tests' lab directory: made, never booted
STACK_WAIT_S = 180.0
VOTE_WAIT_S = 60.0
NON_PRIMARY = r"This node is within the non-primary component"   # corosync: quorum lost


@pytest.fixture
def scratch():
    """A lab's directories without a running lab, removed (loop devices included) after."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    with hold(lock_name(SCRATCH_LAB)):
        lifecycle.down(SCRATCH_LAB)
        lab = Lab(SCRATCH_LAB, 2, qdevice=True)
        try:
            yield lab
        finally:
            lifecycle.down(SCRATCH_LAB)
            assert not lab.dir.exists() and not provision.loops_under(lab.dir)


def _tree(path: str) -> list[tuple[str, int]]:
    return sorted((str(p), p.stat().st_mtime_ns) for p in Path(path).rglob("*"))


@pytest.mark.skipif(shutil.which("corosync-qnetd-certutil") is None or
                    shutil.which("corosync-qdevice-net-certutil") is None,
                    reason="needs corosync-qnetd and corosync-qdevice (run ./bootstrap.sh)")
def test_every_node_gets_the_cluster_certificate_signed_by_qnetds_ca(scratch):
    lab = scratch
    for node in lab.nodes:
        (node.root / "etc/corosync").mkdir(parents=True)
    host_etc = _tree("/etc/corosync")
    qnetd.certificates(lab)
    assert _tree("/etc/corosync") == host_etc            # the host's own left alone
    qnetd_db = lab.qnetd_root / "etc/corosync/qnetd/nssdb"
    assert (qnetd_db / f"cluster-{lab.cluster_name}.crt").is_file()
    for node in lab.nodes:
        db = node.root / "etc/corosync/qdevice/net/nssdb"
        listed = subprocess.run(["certutil", "-L", "-d", str(db)], capture_output=True,
                                text=True, timeout=30).stdout
        assert "QNet CA" in listed and "Cluster Cert" in listed, (node.name, listed)
        valid = subprocess.run(["certutil", "-V", "-u", "C", "-n", "Cluster Cert", "-d", str(db)],
                               capture_output=True, text=True, timeout=30)
        assert "certificate is valid" in valid.stdout, (node.name, valid.stdout, valid.stderr)


@pytest.mark.skipif(shutil.which("sbd") is None or shutil.which("fence_sbd") is None,
                    reason="needs sbd and fence-agents (run ./bootstrap.sh)")
def test_the_shared_sbd_disk_carries_the_header_and_fence_sbd_reads_it(scratch):
    lab = scratch
    device = lab_sbd.shared_disk(lab)
    assert device in provision.loops_under(lab.dir)          # lab down / doctor find it
    header = sbd_tool.dump(device)
    assert (header.watchdog_s, header.msgwait_s, header.slots) == (5, 10, 255)
    text = ("nodes: [node1, node2]\nstorage: {drbd_resource: mail, device: /dev/drbd0, "
            "mount_point: /srv/mail}\nvips:\n  mail: {address: 198.18.0.100, prefix: 24}\n"
            f"services:\n  postfix: {{}}\nsbd: {{mode: disk, devices: [{device}]}}\n")
    d = parse(text).description
    [fence] = d.fence_devices
    for node in ("node1", "node2"):
        subprocess.run(["sbd", "-d", device, "allocate", node], check=True, capture_output=True,
                       timeout=30)
    listed = subprocess.run(["fence_sbd", f"--devices={dict(fence.params)['devices']}",
                             "--action=list"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert {line.split(",")[0] for line in listed.stdout.split()} == {"node1", "node2"}


# -- with a running lab ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def qdevice_lab(test_labs):
    try:
        yield lifecycle.up(TWO_NODE_LAB, 2, qdevice=True).lab
    finally:
        lifecycle.down(TWO_NODE_LAB)


def _counting_the_device(lab: Lab, node: str):
    state = quorum.read(run=node_runner(lab.name, node))
    return state if state.qdevice and state.qdevice_votes == 1 and state.total_votes == 3 else None


def test_corosync_counts_qnetds_vote_as_the_third(qdevice_lab):
    lab = qdevice_lab
    for node in ("node1", "node2"):
        state = cluster.wait_for(lambda: _counting_the_device(lab, node), VOTE_WAIT_S,
                                 f"{node} counting qnetd's vote")
        assert (state.expected_votes, state.total_votes, state.quorum) == (3, 3, 2)
        assert state.quorate and not state.two_node and state.member_names == ("node1", "node2")
        shown = node_run(lab.name, node, ["corosync-quorumtool", "-s"], timeout=30).stdout
        assert "Qdevice" in shown, shown
    listed = qnetd.tool(lab, ["-l"])
    assert f'Cluster "{lab.cluster_name}":' in listed
    assert "Node ID 1:" in listed and "Node ID 2:" in listed, listed


def test_a_split_is_decided_by_qnetd_and_the_stack_ends_on_its_winner(qdevice_lab):
    from pacemail.drills import engine, events, mainjob, target
    from pacemail.drills.scenarios import SCENARIOS

    lab = qdevice_lab
    # The stack starts on node2: the half ffsplit's tie-breaker (lowest node id) leaves out.
    path = lab.dir / TEMPLATE.name
    path.write_text(TEMPLATE.read_text().replace("preferred_node: node1", "preferred_node: node2"))
    plan = node_run(lab.name, "node1", [PACEMAIL, "plan", str(path)], timeout=120, check=False)
    said = plan.stdout + plan.stderr
    assert (f"note: fence race (two nodes): the description sets quorum.device "
            f"(qnetd {QNETD_ADDRESS}, ffsplit)") in said, said
    assert "live corosync" not in said, said      # corosync runs the description's device
    t = target.description_target(lab.name, path)
    cluster.wait_for(lambda: mainjob.running_on(lab, t.stack.resources) == "node2",
                     STACK_WAIT_S, "the mail stack running on node2", interval=1.0)

    r = engine.run(t, SCENARIOS["two-node-split"], print)

    assert r["active_before"] == "node2" and r.get("active_after") == "node1", r
    assert r["fenced"] == ["node2"], r      # by node1, which held the vote; nobody fenced node1
    assert r["lost"] == 0 and r["violations"] == [] and r["passed"], r
    logs = events.log_lines(lab.nodes, events.COROSYNC_LOG)
    lost = {node: events.first_match(lines, NON_PRIMARY, r["fault_time"])
            for node, lines in logs.items()}
    assert lost["node2"] is not None and lost["node1"] is None, lost
    for node in ("node1", "node2"):   # whole again, the device's vote counted on both
        cluster.wait_for(lambda: _counting_the_device(lab, node), VOTE_WAIT_S,
                         f"{node} counting qnetd's vote after the rejoin")


def test_lab_down_takes_qnetd_and_its_namespace_with_it(qdevice_lab):
    lab = qdevice_lab
    assert qnetd.pid(lab)
    removed = lifecycle.down(lab.name)
    assert f"netns {lab.qnetd_netns}" in removed, removed
    assert lab.qnetd_netns not in namespaces.names()
    assert lab.name not in [r.name for r in inventory.find()]
    with pytest.raises(LookupError):
        qnetd.pid(lab)
