"""The client-side outage measurement: what a drill reports as downtime."""

from hypothesis import given, strategies as st

from pacemail.drills.reachability import Timeline

TICK = 0.1


def timeline(pattern: str, start: float = 1000.0) -> Timeline:
    """'+' answered, '-' missed, one probe per tick."""
    return Timeline([(start + i * TICK, c == "+") for i, c in enumerate(pattern)])


def test_replies_in_flight_at_the_fault_do_not_end_the_outage():
    t = timeline("+++++" + "++" + "-" * 40 + "+++")
    fault = 1000.0 + 5 * TICK  # two more replies arrive after the plug is pulled
    last_ok, first_ok = t.outage_around(fault)
    assert round(first_ok - last_ok, 2) == round(41 * TICK, 2)


def test_without_a_missed_probe_the_outage_is_the_longest_silence_after_the_fault():
    last_ok, first_ok = timeline("+" * 20).outage_around(1000.45)
    assert round(first_ok - last_ok, 2) == TICK                  # nothing happened: one interval
    # a probe hung through a failover that came 2 s after the fault, then succeeded
    hung = Timeline([(1000.0, True), (1000.1, True), (1000.2, True), (1002.1, True),
                     (1005.6, True), (1005.7, True)])
    assert hung.outage_around(1000.15) == (1002.1, 1005.6)
    assert timeline("+++").outage_around(1000.25) == (1000.2, None)   # nothing after the fault


def test_unrecovered_service_has_no_end():
    assert timeline("+++" + "-" * 10).outage_around(1000.2)[1] is None


@given(before=st.integers(1, 30), in_flight=st.integers(0, 5), down=st.integers(1, 100),
       tail=st.integers(1, 30))
def test_downtime_is_the_gap_between_answers(before, in_flight, down, tail):
    t = timeline("+" * (before + in_flight) + "-" * down + "+" * tail)
    last_ok, first_ok = t.outage_around(1000.0 + before * TICK)
    assert abs((first_ok - last_ok) - (down + 1) * TICK) < 1e-6
