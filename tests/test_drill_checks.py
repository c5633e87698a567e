"""Drill checkers and summary statistics: pure functions on events and samples."""

import statistics

from hypothesis import given, strategies as st

from pacemail.drills import checks, stats
from pacemail.drills.sampler import Sample, local_addresses

T0 = 1000.0


def smtp(t, ok, n):
    return {"t": t, "ev": "smtp", "ok": ok, "n": n}


def test_accepted_counts_only_250_after_data():
    events = [smtp(1, False, 1), smtp(2, True, 1), smtp(3, False, 2), {"t": 4, "ev": "imap", "ok": True}]
    assert checks.accepted(events) == {1}


@given(accepted=st.sets(st.integers(1, 500)), extra=st.lists(st.integers(1, 500)))
def test_lost_is_accepted_minus_delivered(accepted, extra):
    mailbox = sorted(accepted)[: len(accepted) // 2] + extra
    d = checks.delivery(accepted, mailbox)
    assert set(d.lost) == accepted - set(mailbox)
    assert d.accepted - d.delivered == len(d.lost)
    assert d.duplicates == len(mailbox) - len(set(mailbox))


def test_nothing_lost_duplicates_counted():
    d = checks.delivery({1, 2, 3}, [1, 2, 2, 3, 3, 3])
    assert (d.lost, d.duplicates, d.delivered) == ((), 3, 3)


def test_downtime_from_retries_of_one_message():
    events = [smtp(T0 + i * 0.1, True, i) for i in range(10)]
    events += [smtp(T0 + 1.1 + i * 0.2, False, 10) for i in range(20)]
    events += [smtp(T0 + 6.0, True, 10)]
    assert checks.downtime(events, "smtp", T0 + 1.0) == round(6.0 - 0.9, 2)
    assert checks.downtime(events, "imap", T0 + 1.0) is None


def sample(t, **holders):
    return Sample(T0 + t, {k: tuple(v.split(",")) if v else () for k, v in holders.items()})


def test_split_brain_is_reported_once_per_stretch():
    samples = [sample(0, vip="node1", mount="node1"), sample(0.1, vip="node1,node2", mount="node1"),
               sample(0.2, vip="node1,node2", mount="node1,node2"), sample(0.3, vip="node2", mount="node2"),
               sample(0.4, vip="node2", mount="node2,node3")]
    assert sorted(checks.split_brain(samples, T0)) == [
        "split brain: mount held by node1, node2 from +0.20s to +0.30s",
        "split brain: mount held by node2, node3 from +0.40s to the end",
        "split brain: vip held by node1, node2 from +0.10s to +0.30s"]


@given(st.lists(st.lists(st.sampled_from(["node1", "node2", "node3"]), max_size=1, unique=True),
                max_size=50))
def test_no_split_brain_when_never_two_holders(holders):
    samples = [Sample(T0 + i, {"vip": tuple(h)}) for i, h in enumerate(holders)]
    assert checks.split_brain(samples, T0) == []


def test_recovery_needs_a_break_then_the_whole_stack_on_one_node():
    kinds = ("vip", "mount")
    samples = [sample(0, vip="node1", mount="node1"), sample(1, vip="node1", mount="node1"),
               sample(2, vip="", mount=""), sample(3, vip="", mount="node2"),
               sample(4, vip="node2", mount="node2")]
    assert checks.recovered_at(samples, kinds, T0 + 0.5) == (T0 + 4, "node2")
    assert checks.recovered_at(samples[:2], kinds, T0 + 0.5) is None


def test_local_addresses_from_fib_trie():
    text = """Local:
  +-- 0.0.0.0/0 2 0 2
     +-- 198.18.0.0/24 2 0 2
        |-- 198.18.0.0
           /24 link UNICAST
        |-- 198.18.0.11
           /32 host LOCAL
        |-- 198.18.0.100
           /32 host LOCAL
        |-- 198.18.0.255
           /32 link BROADCAST
"""
    assert local_addresses(text) == {"198.18.0.11", "198.18.0.100"}


@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=200))
def test_summary_statistics(values):
    d = stats.describe(values)
    assert d["median"] == round(statistics.median(values), 3)
    assert d["max"] == max(values)
    assert d["p95"] in values and d["median"] - 1e-3 <= d["p95"] + 1e-9 <= d["max"] + 1e-9
    assert sum(1 for v in values if v <= d["p95"]) >= 0.95 * len(values)


def test_summary_of_runs_skips_unmeasured_figures():
    runs = [{"downtime_s": {"smtp": 2.0, "imap": 1.0}, "fence_s": None, "passed": True, "lost": 0},
            {"downtime_s": {"smtp": 4.0, "imap": None}, "fence_s": 3.0, "passed": False, "lost": 1}]
    s = stats.summary(runs)
    assert s["downtime_smtp"] == {"n": 2, "median": 3.0, "p95": 4.0, "max": 4.0}
    assert s["downtime_imap"]["n"] == 1 and s["fence_s"]["max"] == 3.0
    assert (s["runs"], s["passed"], s["lost"]) == (2, 1, 1)


def test_detection_and_fencing_times_from_pacemaker_log_lines():
    from datetime import datetime

    from pacemail.drills import events

    lines = [
        "Nov 22 04:24:40.000 node1 pacemaker-controld  [35] (x) notice: Node node3 state is now lost",
        "Nov 22 04:24:51.259 node1 pacemaker-fenced    [31] (update_peer_state_iter) \tnotice: "
        "Node node2 state is now lost | nodeid=2",
        "Nov 22 04:24:51.751 node1 pacemaker-fenced    [31] (finalize_op) \tnotice: Operation "
        "'reboot' targeting node2 by node1 for pacemaker-controld.35@node3: OK (complete)",
    ]
    fault = datetime(2026, 11, 22, 4, 24, 48).timestamp()
    assert events.first_match(lines, events.MEMBERSHIP_LOST, fault) == fault + 3.259
    fenced = events.fenced_in(lines, fault)
    assert list(fenced) == ["node2"] and round(fenced["node2"] - fault, 3) == 3.751


KINDS = ("vip", "mount")


def on(t, node):
    return sample(t, vip=node, mount=node)


def test_the_failover_is_the_one_move_a_fault_explains():
    samples = [on(0, "node1"), on(5, "node1"), sample(10, vip="", mount=""), on(14, "node2"),
               on(40, "node2")]
    assert checks.moves(samples, KINDS) == [(T0 + 14, "node1", "node2")]
    assert checks.unforced_moves(samples, KINDS, T0 + 8, T0 + 14) == []


def test_moves_before_the_fault_and_after_the_recovery_are_unforced():
    samples = [on(0, "node1"), sample(2, vip="", mount="node1"), on(4, "node3"),   # after apply
               on(9, "node3"), sample(10, vip="", mount=""), on(13, "node2"),      # the failover
               on(30, "node2"), on(31, "node1")]                                  # old active back
    found = checks.unforced_moves(samples, KINDS, T0 + 9.5, T0 + 13)
    assert found == ["unforced move: the stack went from node1 to node3 (before the fault)",
                     "unforced move: the stack went from node2 to node1 (21.5s after the fault)"]
    # failback: true allows exactly one move back to where the stack was before the fault
    samples[-1] = on(31, "node3")
    assert checks.unforced_moves(samples, KINDS, T0 + 9.5, T0 + 13, failback=True) == \
        ["unforced move: the stack went from node1 to node3 (before the fault)"]
    samples.append(on(35, "node2"))
    assert len(checks.unforced_moves(samples, KINDS, T0 + 9.5, T0 + 13, failback=True)) == 2


@given(st.lists(st.sampled_from(["node1", "node2", "node3", ""]), max_size=40))
def test_moves_count_each_change_of_the_whole_stack_node(nodes):
    samples = [on(i, n) if n else sample(i, vip="", mount="") for i, n in enumerate(nodes)]
    whole = [n for n in nodes if n]
    changes = sum(a != b for a, b in zip(whole, whole[1:]))
    assert len(checks.moves(samples, KINDS)) == changes
    assert len(checks.unforced_moves(samples, KINDS, None, None)) == changes
