"""A file alert on the lab tells the failover: the mail template with an ``alerts:`` section
applied through node1, the active node's plug pulled; every survivor's alert file then holds
the fencing of that node, and the node that took the stack over holds the start (DRBD: the
promotion) of each of its resources there, each as one line written by pacemail's alert
agent, run by Pacemaker as hacluster. Afterwards the node is back on and rejoined and every
pm- element (the alert too) removed, for the tests that follow.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources

import pytest

from pacemail.controller import description
from pacemail.drills import mainjob, target
from pacemail.lab import cluster, proxysql
from pacemail.lab.nodes import node_run

from test_main_stack import back_on, power_off, remove

# Pacemaker's own log folder: hacluster, who runs alert agents, may write there.
ALERT_LOG = "/var/log/pacemaker/pacemail-alerts.log"
ALERTS = f"""
alerts:
  - name: failover-log
    kind: file
    recipients: [{ALERT_LOG}]
    select: [fencing, nodes, resources]
"""
TAKEOVER_S = 120.0
TOLD_S = 30.0          # alerts run in the background: the last line may trail crm_mon


def with_alerts(lab_name: str):
    """The template with the file alert, as the lab runs it (:func:`target.as_lab_runs`)."""
    text = resources.files("pacemail.cib_templates").joinpath(mainjob.TEMPLATE).read_text()
    parsed = description.parse(text + ALERTS, mainjob.TEMPLATE)
    assert parsed.description, parsed.problems
    return target.as_lab_runs(parsed.description, lab_name)


def told(lab, node: str, since: float) -> list[dict]:
    """The lines of ``node``'s alert file about events from ``since`` (epoch seconds) on."""
    out = node_run(lab.name, node, ["cat", ALERT_LOG], timeout=10, check=False).stdout
    events = [json.loads(line) for line in out.splitlines()]
    return [e for e in events
            if datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp() >= since]


@pytest.fixture(scope="module")
def failover(lab):
    """(target, the node powered off, the node that took the stack over, when it went off)."""
    database = proxysql.start_database(lab)
    try:
        t = target.pacemail_target(lab.name, with_alerts(lab.name))
        try:
            old = cluster.wait_for(lambda: mainjob.running_on(lab, t.stack.resources),
                                   mainjob.STACK_WAIT_S, "the mail stack on one node", interval=1.0)
            t.wait_redundant(120)
            off_at = power_off(lab, t, old)         # returns once the survivors fenced it
            try:
                new = cluster.wait_for(
                    lambda: (n := mainjob.running_on(lab, t.stack.resources)) != old and n,
                    TAKEOVER_S, f"the stack taken over from {old}", interval=1.0)
                yield t, old, new, off_at
            finally:
                back_on(lab, t, old)
        finally:
            remove(lab, t.stack.resources + ("pm-drbd",))
    finally:
        database.stop()


def test_the_alert_file_of_the_survivors_tells_the_fencing_and_the_takeover(lab, failover):
    t, old, new, off_at = failover
    survivors = [n.name for n in lab.nodes if n.name != old]

    def fenced(node: str) -> list[dict]:
        return [e for e in told(lab, node, off_at)
                if e["kind"] == "fencing" and e["node"] == old and e.get("rc") == "0"]

    def started() -> dict[str, dict] | None:
        done = {e["rsc"]: e for e in told(lab, new, off_at)
                if e["kind"] == "resource" and e["node"] == new and e.get("rc") == "0"
                and (e["task"] == "start" or (e["task"] == "promote" and e["rsc"] == "pm-drbd"))}
        return done if set(t.stack.resources) | {"pm-drbd"} <= set(done) else None

    for node in survivors:       # each node that sees a fencing reports it
        [line] = cluster.wait_for(lambda: fenced(node), TOLD_S, f"{old}'s fencing in {node}'s {ALERT_LOG}")
        assert line["host"] == node and f" of {old} " in line["desc"]
    lines = cluster.wait_for(started, TOLD_S, f"the takeover's starts in {new}'s {ALERT_LOG}")
    assert all(line["host"] == new for line in lines.values())
    # the takeover came after the fencing, in the order of the tree: DRBD, then what sits on it
    assert fenced(new)[0]["time"] <= lines["pm-drbd"]["time"] < lines["pm-mount"]["time"]
