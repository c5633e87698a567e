"""The steady drill's pure parts: corosync's log and timing, the verdict, the report."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime

from click.testing import CliRunner
from hypothesis import given, strategies as st

from pacemail.drills import checks, events, report, steady
from pacemail.drills.sampler import Sample
from pacemail.pacemaker import totem
from pacemail.proc import CommandError

YEAR = datetime.now().year
START = datetime(YEAR, 12, 7, 0, 41, 10).timestamp()
KINDS = ("vip", "mount", "drbd")
# corosync 3.1 with `timestamp: on` (whole seconds), as the lab's nodes log it
COROSYNC = """\
Dec 07 00:39:51 [19] node1 corosync notice  [TOTEM ] A new membership (1.d) was formed. Members joined: 2 3
Dec 07 00:41:16 [19] node1 corosync notice  [TOTEM ] Token has not been received in 1237 ms
Dec 07 00:41:17 [19] node1 corosync notice  [TOTEM ] A processor failed, forming new configuration: token timed out (1650ms), waiting 1980ms for consensus.
Dec 07 00:41:19 [19] node1 corosync notice  [TOTEM ] A new membership (1.1a) was formed. Members left: 3
Dec 07 00:41:19 [19] node1 corosync notice  [QUORUM] Members[2]: 1 2
"""


def test_membership_changes_since_the_start_from_every_nodes_corosync_log():
    node2 = COROSYNC.replace("node1", "node2").splitlines()[2:4]   # the same change, seen there
    logs = {"node1": COROSYNC.splitlines(), "node2": node2}
    found = events.corosync_events(logs, START)
    assert found == [
        "node1: A processor failed, forming new configuration: token timed out (1650ms), "
        "waiting 1980ms for consensus.",
        "node2: A processor failed, forming new configuration: token timed out (1650ms), "
        "waiting 1980ms for consensus.",
        "node1: A new membership (1.1a) was formed. Members left: 3",
        "node2: A new membership (1.1a) was formed. Members left: 3"]
    assert events.membership_changes(found) == 1           # one membership, logged twice
    assert events.membership_changes(found[:2]) == 1        # failed, none formed yet
    assert events.membership_changes([]) == 0
    assert events.token_late_ms(logs, START) == [1237]
    assert events.corosync_events(logs, START + 10.01) == []   # 00:41:19 is over


def test_a_line_stamped_to_the_second_counts_when_its_second_reaches_the_start():
    line = ("Dec 07 00:41:10 [19] node1 corosync notice  [TOTEM ] A processor failed, forming new "
            "configuration: token timed out (300ms), waiting 360ms for consensus.")
    assert events.first_match([line], events.PROCESSOR_FAILED, START + 0.5) == START
    assert events.first_match([line], events.PROCESSOR_FAILED, START + 1.0) == START
    assert events.first_match([line], events.PROCESSOR_FAILED, START + 1.01) is None


@given(st.integers(0, 86399), st.integers(0, 999), st.booleans())
def test_log_stamps_with_and_without_milliseconds(second, ms, hires):
    day = datetime(YEAR, 6, 9).timestamp()   # no clock change that day
    t = datetime.fromtimestamp(day + second)
    stamp = t.strftime("%b %d %H:%M:%S") + (f".{ms:03d}" if hires else "")
    expected = day + second + (ms / 1000 if hires else 0)
    found = events.first_match([f"{stamp} [19] node1 corosync notice"], "corosync", day)
    assert abs(found - expected) < 1e-6


@given(st.sampled_from([totem.RUNTIME_TOKEN, totem.RUNTIME_CONSENSUS, totem.TOKEN_COEFFICIENT]),
       st.integers(0, 2**32 - 1), st.sampled_from(["u32", "u64", "i32"]))
def test_cmapctl_values(key, number, kind):
    text = f"totem.token_retransmit (u32) = 71\n{key} ({kind}) = {number}\n"
    assert totem.value(text, key) == number
    assert totem.value(text, key + "x") is None


def _cmapctl(values: dict[str, int]):
    calls = []

    def run(argv, *, timeout, check=True, input=None):
        assert argv[:2] == ["corosync-cmapctl", "-g"] and timeout > 0
        calls.append(argv[2])
        key = argv[2]
        if key not in values:
            return subprocess.CompletedProcess(argv, 1, "", f"Can't get key {key}. Error "
                                               "CS_ERR_NOT_EXIST\n")
        return subprocess.CompletedProcess(argv, 0, f"{key} (u32) = {values[key]}\n", "")
    return run, calls


def test_the_timing_in_effect_is_the_runtime_one():
    run, calls = _cmapctl({totem.RUNTIME_TOKEN: 300, totem.RUNTIME_CONSENSUS: 360,
                           totem.TOKEN_COEFFICIENT: 0})
    timing = totem.read(run=run)
    assert (timing.token_ms, timing.consensus_ms, timing.token_coefficient_ms) == (300, 360, 0)
    assert timing.summary() == "token 300 ms, consensus 360 ms (runtime), token_coefficient 0 ms"
    run, _ = _cmapctl({totem.RUNTIME_TOKEN: 1650, totem.RUNTIME_CONSENSUS: 1980})
    assert totem.read(run=run).summary() == "token 1650 ms, consensus 1980 ms (runtime)"


def test_a_corosync_that_does_not_answer_is_said_not_raised():
    run, _ = _cmapctl({})
    assert totem.read(run=run).summary() == ("not read (Can't get key runtime.config.totem.token."
                                             " Error CS_ERR_NOT_EXIST)")

    def hung(argv, *, timeout, check=True, input=None):
        raise CommandError(argv, None, timeout=timeout)
    assert totem.read(run=hung).summary() == "not read (corosync-cmapctl timed out after 5.0s)"


def on(t, node, **others):
    return Sample(START + t, {k: (others.get(k, node),) if others.get(k, node) else ()
                              for k in KINDS})


def observed(samples=(), *, delivery=checks.Delivery(3, 3, (), 0), **seen):
    client = [{"t": START + 1, "ev": "smtp", "ok": True, "n": 1},
              {"t": START + 2, "ev": "imap", "ok": False}]
    return steady.Observed(START, START + 60, samples or [on(t, "node1") for t in range(61)],
                           client, delivery, **{"fenced": {}, "membership": [],
                                                "token_late_ms": [], "failed_ops": [], **seen})


def test_a_quiet_window_passes_with_its_figures():
    v = steady.verdict(observed(token_late_ms=[230, 241]), KINDS)
    assert v["passed"] and v["violations"] == []
    assert (v["accepted"], v["delivered"], v["lost"], v["fences"], v["membership_changes"]) == \
        (3, 3, 0, 0, 0)
    assert v["client_failures"] == {"smtp": 0, "imap": 1}
    assert (v["token_late"], v["token_late_max_ms"]) == (2, 241)   # warnings, not failures
    assert (v["samples"], v["sample_gap_max_s"], v["window_s"]) == (61, 1.0, 60.0)


def test_fencing_membership_and_failed_operations_fail_the_window():
    v = steady.verdict(observed(
        fenced={"node3": START + 12.5},
        membership=["node1: A new membership (1.1a) was formed. Members left: 3"],
        failed_ops=["node2: warning: Cluster node node3 will be fenced: peer is no longer part "
                    "of the cluster"],
        silent=["node2"]), KINDS)
    assert not v["passed"]
    assert v["violations"] == [
        "node3 was fenced at +12.5s",
        "corosync logged no line on node2: its membership changes are unseen",
        "corosync membership changed 1 time(s)",
        "failed operation or fencing decision: node2: warning: Cluster node node3 will be "
        "fenced: peer is no longer part of the cluster"]
    assert v["fences"] == 1 and v["fenced"] == {"node3": 12.5}


def test_a_move_a_break_and_lost_mail_fail_the_window():
    samples = ([on(t, "node1") for t in range(20)] + [on(20, "node1", vip="")]
               + [on(t, "node2") for t in range(21, 61)])
    v = steady.verdict(observed(samples, delivery=checks.Delivery(3, 2, (2,), 0)), KINDS)
    assert v["violations"] == [
        "the stack moved from node1 to node2 at +21.0s",
        "the stack not whole on one node from +20.0s to +21.0s "
        "(vip on no node, mount on node1, drbd on node1)",
        "1 accepted message(s) never delivered"]
    assert v["lost"] == 1 and v["lost_numbers"] == [2] and not v["passed"]


def test_samples_before_the_window_do_not_count():
    early = [on(-30, "node2"), on(-1, "node1", vip="node2")]
    assert steady.verdict(observed(early + [on(t, "node1") for t in range(61)]), KINDS)["passed"]


def test_an_unread_inbox_or_nothing_accepted_fails():
    unread = steady.verdict(observed(delivery=None, problems=["the inbox could not be read: x"]),
                            KINDS)
    assert unread["violations"] == ["the inbox could not be read: x"] and unread["lost"] is None
    silent = steady.verdict(observed(delivery=checks.Delivery(0, 0, (), 0)), KINDS)
    assert silent["violations"] == ["no message was accepted"]


def test_steady_report_says_the_timing_the_load_and_the_verdict(tmp_path):
    result = steady.verdict(observed(token_late_ms=[231]), KINDS)
    result.update(minutes=1.0, active="node1", settle_s=4.2, load_start=(0.5, 0.4, 0.3),
                  load_end=(0.9, 0.5, 0.3),
                  corosync="token 300 ms, consensus 360 ms (runtime), token_coefficient 0 ms")
    data = report.steady(result, {"target": "lab pmtest", "stack": "pacemail"})
    paths = report.write_steady(data, tmp_path)
    assert paths["json"].name.startswith("steady-") and paths["markdown"].suffix == ".md"
    assert json.loads(paths["json"].read_text())["membership_changes"] == 0
    text = paths["markdown"].read_text()
    assert "- corosync: token 300 ms, consensus 360 ms (runtime), token_coefficient 0 ms" in text
    assert "- load (1, 5, 15 min): 0.50 0.40 0.30 at the start, 0.90 0.50 0.30 at the end" in text
    assert "- verdict: PASS" in text
    for row in ("| messages accepted | 3 |", "| lost | 0 |", "| fences | 0 |",
                "| corosync membership changes | 0 |", "| late tokens (max ms) | 1 (231) |",
                "| failed SMTP / IMAP attempts | 0 / 1 |"):
        assert row in text


def test_the_steady_command_needs_a_description():
    from pacemail.cli import main

    done = CliRunner().invoke(main, ["drill", "steady", "--target", "pmnone"])
    assert done.exit_code == 2 and "--description" in done.output
