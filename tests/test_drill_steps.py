"""A failover's steps: the fencing request and DRBD's promotion from the logs, in the report
and in bench/failover.py's parts."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

from hypothesis import given, strategies as st

from pacemail.drills import engine, events, report
from pacemail.drills.scenarios import SCENARIOS

YEAR = datetime.now().year
FAULT = datetime(YEAR, 12, 7, 0, 41, 0).timestamp()
LOG = """\
Dec 07 00:40:51.429 node2 pacemaker-controld  [36] (log_executor_event) \tnotice: Result of promote operation for pm-drbd on node1: ok | CIB update 49
Dec 07 00:41:03.453 node3 pacemaker-controld  [36] (controld_execute_fence_action) \tnotice: Requesting fencing (off) of node node1 | action=1 timeout=60000
Dec 07 00:41:04.012 node3 pacemaker-controld  [36] (log_executor_event) \tnotice: Result of monitor operation for pm-drbd on node3: promoted | call=60
Dec 07 00:41:04.425 node3 pacemaker-controld  [36] (log_executor_event) \tnotice: Result of promote operation for pm-drbd on node3: ok | CIB update 94
"""


def test_fence_request_and_promotion_after_the_fault():
    lines = LOG.splitlines()
    assert events.first_match(lines, events.FENCE_REQUESTED, FAULT) == FAULT + 3.453
    assert events.first_match(lines, events.promoted("pm-drbd"), FAULT) == FAULT + 4.425
    assert events.first_match(lines, events.promoted("pm-other"), FAULT) is None
    # a promoted DRBD's monitor says "promoted": expected, no decision to explain
    assert events.decisions({"node3": lines}, FAULT) == []


class Logged:
    """A drill target whose Pacemaker logs are LOG (only what _steps reads)."""
    node_names = ["node1", "node2", "node3"]

    def __init__(self, kinds):
        self.kinds = kinds

    def detected_at(self, nodes, pattern, after):
        return events.first_match(LOG.splitlines(), pattern, after)


def test_a_run_has_its_fence_request_and_promotion():
    steps = engine._steps(Logged(("vip", "mount", "drbd")), FAULT)
    assert steps == {"fence_requested_s": 3.45, "promoted_s": 4.42}
    # the stand-in has no DRBD: nothing promoted to measure
    assert engine._steps(Logged(("vip", "mount")), FAULT)["promoted_s"] is None
    assert SCENARIOS["power-off-active"].fence == "active"


def _run(**figures):
    return {"scenario": "power-off-active", "downtime_s": {"smtp": 6.1, "imap": 6.3},
            "detect_s": 0.9, "fence_requested_s": 1.2, "fence_s": 1.7, "promoted_s": 2.4,
            "recover_s": 5.3, "lost": 0, "violations": [], "passed": True,
            "active_before": "node1", "active_after": "node2", "accepted": 10, "duplicates": 0,
            **figures}


def test_the_report_table_shows_the_steps():
    text = report.markdown(report.build([_run()], {"corosync": "token 300 ms, consensus 360 ms "
                                                   "(runtime)"}))
    assert "| detect (s) | fence requested (s) | fence (s) | promoted (s) | recover (s) |" in text
    assert "| 6.10 | 6.30 | 0.90 | 1.20 | 1.70 | 2.40 | 5.30 | 10 |" in text
    header = text.split("\n\n")[1]
    assert "- corosync: token 300 ms, consensus 360 ms (runtime)" in header
    assert header.index("- corosync:") < header.index("- probe:")


def _bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "failover.py"
    spec = importlib.util.spec_from_file_location("bench_failover", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


def test_bench_parts_are_the_steps_between_the_figures():
    parts = BENCH.parts(_run())
    assert parts == {"detect": 0.9, "scheduler": 0.3, "fence device": 0.5, "promote": 0.7,
                     "starts": 2.9, "client": 0.8, "smtp down": 6.1, "imap down": 6.3}
    # a step with an end not measured is unknown, not zero; a run that never recovered too
    unfenced = BENCH.parts(_run(fence_s=None, recover_s=None))
    assert unfenced["fence device"] is None and unfenced["promote"] is None
    assert unfenced["starts"] is None and unfenced["client"] is None


@given(st.lists(st.floats(0, 60, allow_nan=False), min_size=6, max_size=6))
def test_bench_parts_add_up_to_the_smtp_downtime(ends):
    ends = sorted(round(x, 2) for x in ends)
    keys = ("detect_s", "fence_requested_s", "fence_s", "promoted_s", "recover_s")
    parts = BENCH.parts(_run(**dict(zip(keys, ends)), downtime_s={"smtp": ends[-1], "imap": 1}))
    steps = [parts[p] for p in ("detect", "scheduler", "fence device", "promote", "starts",
                                "client")]
    assert abs(sum(steps) - ends[-1]) < 0.06 and all(s >= -0.01 for s in steps)

