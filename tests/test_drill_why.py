"""What a FAIL verdict lists, from each tool's output as the cluster gives it."""

from __future__ import annotations

import subprocess

from pacemail.drills import events, why
from pacemail.proc import CommandError

SCORES = """\
pcmk__clone_assign: pm-drbd-clone allocation score on node1: 0
pcmk__primitive_assign: pm-mount allocation score on node1: -INFINITY
pcmk__primitive_assign: pm-mount allocation score on node2: 10300
pm-drbd:0 promotion score on node2: 10000
pm-drbd:1 promotion score on node3: -INFINITY
"""
MON = """\
Failed Resource Actions:
  * pm-postfix-main start on node1 returned 'error' at Sun Dec  6 21:58:03 2026
"""
CONSTRAINTS = """\
<constraints>
  <rsc_location id="drbd-fence-by-handler-mail-pm-drbd-clone" rsc="pm-drbd-clone">
    <rule role="Promoted" score="-INFINITY" id="drbd-fence-by-handler-mail-rule-pm-drbd-clone">
      <expression attribute="#uname" operation="ne" value="node2" id="drbd-fence-expr"/>
    </rule>
  </rsc_location>
  <rsc_location id="cli-ban-pm-mount-on-node1" rsc="pm-mount" node="node1" score="-INFINITY"/>
  <rsc_location id="pm-loc-mount-prefers-node1" rsc="pm-mount" node="node1" score="100"/>
  <rsc_location id="pm-loc-proxysql-avoids-node9" rsc="pm-proxysql" node="node9" score="-INFINITY"/>
</constraints>
"""


def tools(down: set[str]):
    """A runner per node, as a target gives :func:`why.explain`; the nodes in ``down`` fail."""
    calls = []

    def runner(node):
        def run(argv, *, timeout, check=True, input=None):
            calls.append((node, argv[0]))
            if node in down:
                raise CommandError(argv, 255, stderr="ssh: connect to host: No route to host")
            out = {"crm_simulate": SCORES, "crm_mon": MON, "cibadmin": CONSTRAINTS,
                   "drbdadm": f"mail role:Secondary\n  disk:UpToDate\n  {node} seen\n"}[argv[0]]
            return subprocess.CompletedProcess(argv, 0, out, "")
        return run
    return runner, calls


def test_the_cluster_view_comes_from_the_first_node_that_answers():
    run, calls = tools(down={"node1"})
    lines = why.explain(run, ["node1", "node2", "node3"], "mail")
    assert calls[:2] == [("node1", "crm_simulate"), ("node2", "crm_simulate")]
    assert "score: pm-drbd:1 promotion score on node3: -INFINITY" in lines
    assert "score: pcmk__primitive_assign: pm-mount allocation score on node2: 10300" in lines
    assert not any("pm-drbd-clone allocation" in line for line in lines)
    assert any(line.startswith("crm_mon: * pm-postfix-main start on node1") for line in lines)
    assert [line for line in lines if line.startswith("constraint:")] == [   # no preference
        "constraint: drbd-fence-by-handler-mail-pm-drbd-clone: pm-drbd-clone (Promoted) "
        "-INFINITY on #uname ne node2",
        "constraint: cli-ban-pm-mount-on-node1: pm-mount -INFINITY on node1"]
    assert [line for line in lines if line.startswith("drbd on")] == [
        "drbd on node2: mail role:Secondary disk:UpToDate node2 seen",
        "drbd on node3: mail role:Secondary disk:UpToDate node3 seen"]


def test_nobody_answers():
    assert why.explain(tools({"node1"})[0], ["node1"], "mail") == ["no node answers"]
    assert why.explain(tools(set())[0], [], "mail") == ["no node is on"]


LOG = """\
Dec 06 21:49:40.100 node1 pacemaker-controld  [812] (te_rsc_command) notice: Initiating stop operation pm-mount_stop_0 on node2
Dec 06 21:49:50.167 node1 pacemaker-schedulerd[811] (pe_fence_node) warning: Cluster node node3 will be fenced: pm-drbd:2 failed there
Dec 06 21:49:50.200 node1 pacemaker-controld  [812] (log_executor_event) notice: Result of monitor operation for pm-vip-mail on node1: ok
Dec 06 21:49:50.300 node1 pacemaker-controld  [812] (log_executor_event) error: Result of demote operation for pm-drbd on node3: error (timed out)
"""


def test_logged_decisions_since_the_fault_in_time_order():
    from datetime import datetime

    after = datetime(datetime.now().year, 12, 6, 21, 49, 45).timestamp()
    earlier = LOG.replace("Dec 06 21:49:50.300", "Dec 06 21:49:50.150")
    lines = events.decisions({"node1": LOG.splitlines(), "node2": earlier.splitlines()[3:]}, after)
    assert lines == [
        "node2: error: Result of demote operation for pm-drbd on node3: error (timed out)",
        "node1: warning: Cluster node node3 will be fenced: pm-drbd:2 failed there",
        "node1: error: Result of demote operation for pm-drbd on node3: error (timed out)"]
