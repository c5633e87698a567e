"""Every drill scenario once on the lab, with the SMTP/IMAP workload and the invariant sampler.

Each run must lose no accepted message, break no invariant (no two holders of
the VIP, the mail volume, DRBD Primary or a mail master at any sample) and
measure a downtime. The stand-in mail stack serves (real postfix + dovecot).
A killed daemon is drilled on pacemail's own stack (test_main_stack.py): the
stand-in's ocf:heartbeat:dovecot fails its restart after a killed master now
and then (dovecot exits 89 while the master's orphans still hold the
listeners), and Pacemaker then moves the whole stack.
"""

import pytest

from pacemail.drills import engine, standin, target
from pacemail.drills.scenarios import SCENARIOS, sequence


@pytest.fixture(scope="module")
def drill_target(lab):
    t = target.standin_target(lab.name)
    yield t
    standin.remove(lab)


def drill(t, name):
    result = engine.run(t, SCENARIOS[name], print)
    assert result["lost"] == 0, result["lost_numbers"]
    assert result["violations"] == []
    assert result["accepted"] > 0 and result["delivered"] == result["accepted"]
    assert result["passed"]
    return result


@pytest.mark.parametrize("name", ["power-off-active", "partition-active", "kill-corosync"])
def test_node_loss_is_fenced_and_the_stack_moves(drill_target, name):
    r = drill(drill_target, name)
    assert r["active_after"] != r["active_before"]
    assert r["active_before"] in r["fenced"] and r["fence_s"] is not None
    assert r["detect_s"] is not None and r["detect_s"] <= r["fence_s"] + 0.5
    assert r["downtime_s"]["smtp"] > 0.5 and r["downtime_s"]["imap"] > 0.5
    assert r["recover_s"] >= r["fence_s"]


def test_standby_moves_the_stack_without_fencing(drill_target):
    r = drill(drill_target, "standby-active")
    assert r["active_after"] != r["active_before"] and r["fenced"] == []
    assert r["downtime_s"]["smtp"] is not None and r["downtime_s"]["imap"] is not None


def test_random_is_seeded_and_fits_the_lab(lab):
    a, b = sequence("random", lab, 8, seed=7), sequence("random", lab, 8, seed=7)
    assert a == b and all(s.fits(lab) for s in a)
    assert "two-node-split" not in {s.name for s in a}
    with pytest.raises(ValueError):
        sequence("two-node-split", lab, 1, 0)
