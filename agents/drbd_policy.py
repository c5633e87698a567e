"""Decisions of the drbd agent from a :class:`~pacemail.agents.drbd_status.State`: pure functions.

Promotion score (``adjust_master_score``, LINBIT's four values, ours by default
``0 0 1000 10000``; a score of 0 or less means "no score": the attribute is
deleted):

=============================================================  ===================
this node                                                      score
=============================================================  ===================
not running, or DRBD 9 without quorum                          none
a volume Failed, Outdated or DUnknown                          none
a volume in a transitional state (Attaching, Negotiating...)   unchanged (KEEP)
all volumes UpToDate, Primary                                  4th (10000)
all volumes UpToDate, Secondary, every peer connected          4th (10000)
all volumes UpToDate, Secondary, a peer's disk unknown         3rd (1000)
volumes UpToDate or Consistent (e.g. after a cluster crash)    1st (0: none)
Inconsistent/diskless client, a connected peer all UpToDate    2nd (0: none)
Inconsistent, Diskless otherwise                               none
=============================================================  ===================

LINBIT's default for the 2nd value is 10: a SyncTarget may be promoted, reading
through its peer. Ours is 0: a mail store promoted on a sync target loses its
data when the sync source fails. Set it to get LINBIT's behaviour.

Monitor exit codes: 7 not running; 8 Primary, 191 Primary but degraded, 9 Primary
without access to UpToDate data; 0 Secondary, 190 Secondary but degraded.
Degraded: a volume not UpToDate, a peer not connected or not UpToDate, no DRBD
quorum, or I/O suspended.
"""

from __future__ import annotations

from pacemail.agents.ocf import (
    OCF_DEGRADED, OCF_DEGRADED_PROMOTED, OCF_FAILED_PROMOTED, OCF_NOT_RUNNING,
    OCF_RUNNING_PROMOTED, OCF_SUCCESS,
)

KEEP = "keep"  # score_for: leave the current score as it is
DEFAULT_SCORES = "0 0 1000 10000"
TRANSITIONAL = frozenset({"Attaching", "Detaching", "Negotiating"})
GOOD = frozenset({"UpToDate", "Consistent"})
UNUSABLE = frozenset({"Failed", "Outdated", "DUnknown"})


def parse_scores(text: str) -> tuple[int, int, int, int]:
    """``adjust_master_score``: four non-decreasing integers; ValueError saying why not."""
    words = text.split()
    if len(words) != 4 or not all(w.lstrip("-").isascii() and w.lstrip("-").isdigit()
                                  for w in words):
        raise ValueError("is not four integers separated by spaces")
    values = tuple(int(w) for w in words)
    if list(values) != sorted(values):
        raise ValueError("must not decrease from one value to the next")
    return values


def score_for(state, scores) -> int | None | str:
    """The promotion score this node should have: a positive int, None (no score), or KEEP."""
    if state is None or state.quorum is False:
        return None
    consistent, remote, local_ok, best = scores
    disks = set(state.disks)
    if disks == {"UpToDate"}:
        if state.primary or all(p.connected and "DUnknown" not in p.disks for p in state.peers):
            return _positive(best)
        return _positive(local_ok)
    if disks & UNUSABLE:
        return None
    if disks & TRANSITIONAL:
        return KEEP
    if disks <= GOOD:
        return _positive(consistent)
    reads_remote = all(d in ("UpToDate", "Inconsistent") or (d == "Diskless" and client)
                       for d, client in zip(state.disks, _clients(state)))
    if reads_remote and any(_all_up_to_date(p) for p in state.peers):
        return _positive(remote)
    return None


def _positive(score: int) -> int | None:
    return score if score > 0 else None


def _clients(state) -> tuple[bool, ...]:
    return state.clients or (False,) * len(state.disks)


def _all_up_to_date(peer) -> bool:
    return peer.connected and bool(peer.disks) and set(peer.disks) == {"UpToDate"}


def has_data(state) -> bool:
    """Can this node read UpToDate data (locally, or through a connected peer)?"""
    return set(state.disks) == {"UpToDate"} or any(_all_up_to_date(p) for p in state.peers)


def degradations(state) -> list[str]:
    """What keeps a running resource from being fully redundant, for the log."""
    found = [f"volume {n} is {d}" for n, d in enumerate(state.disks) if d != "UpToDate"]
    if state.quorum is False:
        found.append("no DRBD quorum")
    if state.suspended:
        found.append("I/O suspended")
    for p in state.peers:
        if not p.connected:
            found.append(f"peer {p.name} {p.connection}")
        elif set(p.disks) != {"UpToDate"}:
            found.append(f"peer {p.name} disk {'/'.join(p.disks) or 'none'}")
    return found


def monitor_code(state) -> tuple[int, str]:
    """The monitor's exit code and what it is about (empty when all is well)."""
    if state is None:
        return OCF_NOT_RUNNING, "not running"
    problems = "; ".join(degradations(state))
    if state.primary:
        if not has_data(state):
            return OCF_FAILED_PROMOTED, f"Primary without access to UpToDate data ({problems})"
        return (OCF_DEGRADED_PROMOTED if problems else OCF_RUNNING_PROMOTED), problems
    return (OCF_DEGRADED if problems else OCF_SUCCESS), problems


def promotion_refusal(state) -> str | None:
    """Why DRBD's own state forbids promoting now, or None."""
    if state is None:
        return "cannot promote: the resource is not started here"
    if state.quorum is False:
        return "refusing to promote: the DRBD resource has no quorum here"
    if not has_data(state):
        return f"refusing to promote: no access to UpToDate data (disk {'/'.join(state.disks)})"
    return None
