"""Quorum state from real corosync-quorumtool output, and the take-over rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pacemail.fencing import guard
from pacemail.pacemaker import quorum
from pacemail.fencing.guard import PeerState
from pacemail.pacemaker.quorum import QuorumState

DATA = Path(__file__).parent / "data" / "corosync"


def sample(name: str) -> QuorumState:
    return quorum.parse((DATA / f"quorumtool-s-{name}.txt").read_text())


def test_healthy_three_node_cluster():
    state = sample("3node-quorate")
    assert state.running and state.quorate
    assert (state.node_id, state.expected_votes, state.total_votes, state.quorum) == (1, 3, 3, 2)
    assert not state.two_node and not state.wait_for_all
    assert [(m.id, m.name, m.local) for m in state.members] == [
        (1, "node1", True), (2, "node2", False), (3, "node3", False)]


def test_isolated_node_is_inquorate_and_alone():
    state = sample("3node-isolated")
    assert state.running and not state.quorate
    assert (state.total_votes, state.quorum) == (1, 2)
    assert state.member_names == ("node3",)
    assert "NOT quorate" in state.summary()


def test_majority_keeps_quorum():
    state = sample("3node-majority")
    assert state.quorate and state.member_names == ("node1", "node2")


def test_two_node_flags():
    both = sample("2node-quorate")
    assert both.quorate and both.two_node and both.wait_for_all
    assert (both.expected_votes, both.quorum) == (2, 1)
    alone = sample("2node-alone-waitforall")
    assert alone.two_node and alone.wait_for_all and not alone.quorate
    assert alone.member_names == ("node1",)


def test_garbage_is_not_a_running_corosync():
    state = quorum.parse((DATA / "quorumtool-s-corosync-down.stderr").read_text())
    assert not state.running and not state.quorate and state.error


# --- the take-over rule ---------------------------------------------------------------------

def test_quorate_partition_may_take_over():
    allowed, reason = guard.decide(sample("3node-majority"), {})
    assert allowed and reason.startswith("allowed: quorate")


def test_inquorate_partition_may_not():
    allowed, reason = guard.decide(sample("3node-isolated"), {})
    assert not allowed
    assert "NOT quorate" in reason and "1 of 3" in reason


def test_no_corosync_no_take_over():
    allowed, reason = guard.decide(QuorumState(running=False, error="Cannot initialize CMAP"), {})
    assert not allowed and "Cannot initialize CMAP" in reason


def two_node_alone() -> QuorumState:
    both = sample("2node-quorate")
    return QuorumState(**{**both.__dict__, "members": both.members[:1], "total_votes": 1})


@pytest.mark.parametrize("peer, allowed, words", [
    (None, False, "not confirmed fenced"),                             # Pacemaker knows nothing
    (PeerState(False, False, None), False, "not confirmed fenced"),    # unclean: lost, not fenced
    (PeerState(False, False, "2026-11-22 03:52:36Z"), False, "not confirmed"),  # fenced before
    (PeerState(False, True, "2026-11-22 03:52:36Z"), True, "node2 fenced at 2026-11-22 03:52:36Z"),
    (PeerState(False, True, None), True, "node2 stopped cleanly"),
])
def test_two_node_needs_the_missing_peer_confirmed_down(peer, allowed, words):
    ok, reason = guard.decide(two_node_alone(), {"node2": peer})
    assert ok is allowed
    assert words in reason


def test_two_node_with_both_members_may_take_over():
    assert guard.decide(sample("2node-quorate"), {})[0]


def test_guard_imports_cheaply():
    """The drbd and mount agents import it on every promote/start: no lxml, no click."""
    code = ("import sys, pacemail.fencing.guard; "
            "print([m for m in ('lxml', 'click', 'pacemail.controller') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "[]", out.stderr


def test_cli_without_corosync_says_so_with_its_own_exit_code():
    if quorum.read().running:
        pytest.skip("corosync runs on this machine")
    done = subprocess.run([sys.executable, "-m", "pacemail.cli", "fencing", "quorum", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    state = json.loads(done.stdout)
    assert state["running"] is False and state["quorate"] is False and state["error"]
