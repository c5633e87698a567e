"""Fencing proofs on the lab: a partitioned three-node cluster and a split two-node one.

Three nodes: the node running the mail stack is cut off from the other two;
it is fenced, the majority takes over only after the fencing is confirmed,
and no sample (every 100 ms, the drills sampler) shows two holders of the
VIP, the mail volume or a mail master. Two nodes: a lab of its own, fenced
as a cluster description says (devices with a CIB secret, the fence race
resolved by pacemail's automatic choice), split ``PACEMAIL_SPLIT_ROUNDS``
times (default 10, about 4 min), the stack moved off the DC first: every round exactly one
node survives and runs the stack, the other is fenced.
"""

from __future__ import annotations

import os
import secrets

import pytest

from conftest import TWO_NODE_LAB, lab_unavailable
from pacemail.drills import engine, standin
from pacemail.drills.scenarios import SCENARIOS
from pacemail.lab.nodes import node_runner
from pacemail.pacemaker import cib

ROUNDS = int(os.environ.get("PACEMAIL_SPLIT_ROUNDS", "10"))


def test_partitioned_active_node_is_fenced_before_the_majority_takes_over(lab):
    from pacemail.drills import twonode

    t = twonode.settled_standin(lab)
    try:
        r = engine.run(t, SCENARIOS["partition-active"], print)
    finally:
        standin.remove(lab)
    assert r["violations"] == [] and r["lost"] == 0 and r["passed"], r
    assert r["fenced"] == [r["active_before"]] and r["active_after"] != r["active_before"]
    assert r["fence_s"] is not None and r["recover_s"] >= r["fence_s"]
    print(f"\npartition-active: fenced after {r['fence_s']}s, stack back after "
          f"{r['recover_s']}s, smtp down {r['downtime_s']['smtp']}s")


@pytest.fixture(scope="module")
def two_node(test_labs):
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    from pacemail.drills import twonode
    from pacemail.lab import lifecycle

    secret = secrets.token_urlsafe(18)
    try:
        prepared = twonode.prepare(TWO_NODE_LAB, secret)
        yield prepared, secret
    finally:
        lifecycle.down(TWO_NODE_LAB)


def test_two_node_fencing_comes_from_the_description(two_node):
    p, secret = two_node
    assert "note: fence race (two nodes): pacemail chose priority-fencing-delay=15s" in p.plan_output
    text = cib.get(run=node_runner(p.lab.name, "node1")).decode()
    assert 'name="priority-fencing-delay" value="15s"' in text
    assert text.count('name="password" value="lrm://"') == 2 and secret not in text
    for node in p.lab.nodes:
        logs = node.root / "var/log"
        for path in (f for f in logs.rglob("*") if f.is_file()):
            assert secret not in path.read_text(errors="replace"), path
    assert secret not in p.plan_output


def test_two_node_split_leaves_exactly_one_survivor_every_round(two_node):
    from pacemail.drills import twonode

    p, _ = two_node
    t = twonode.place_stack(p)
    results = twonode.rounds(t, ROUNDS, print)
    summary = [(r["dc_before"], r["active_before"], r["fenced"], r.get("active_after"), r["round_s"])
               for r in results]
    print(f"\ntwo-node split, {ROUNDS} rounds: {summary}")
    assert all(r["single_survivor"] and r["active_after"] == r["active_before"] != r["dc_before"]
               for r in results), [
        (r["fenced"], r.get("active_after"), r["violations"], r["lost"]) for r in results]
