"""two-node-split on a two_node lab: one node fences the other, no mail is lost, no split brain.

Without a tie-breaker both nodes of a split two_node cluster fence each
other (seen here: both reboot, still cut apart, and nothing runs until the
network heals). The lab gets what a two-node production cluster needs:
``priority-fencing-delay``, with the mail stack weighing more, so the node
running it survives the race.
"""

import pytest

from conftest import LAB_NAME, lab_unavailable
from pacemail.drills import engine, standin, target
from pacemail.drills.scenarios import SCENARIOS
from pacemail.lab.nodes import node_run


@pytest.fixture(scope="module")
def two_node_lab():
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    from pacemail.lab import lifecycle

    name = f"{LAB_NAME[:9]}2"
    lab = lifecycle.up(name, 2, two_node=True).lab
    node_run(lab.name, "node1", ["crm_attribute", "--type", "crm_config", "--name",
                                 "priority-fencing-delay", "--update", "5s"], timeout=30)
    yield lab
    lifecycle.down(name)


def test_two_node_split_fences_one_side(two_node_lab):
    t = target.standin_target(two_node_lab.name)
    node_run(two_node_lab.name, "node1", ["crm_resource", "--resource", standin.GROUP, "--meta",
                                          "--set-parameter", "priority", "--parameter-value", "10"],
             timeout=30)
    r = engine.run(t, SCENARIOS["two-node-split"], print)
    assert r["lost"] == 0 and r["violations"] == [] and r["passed"]
    assert len(r["fenced"]) == 1 and r["fence_s"] is not None
    assert r["downtime_s"]["smtp"] is not None and r["downtime_s"]["imap"] is not None
