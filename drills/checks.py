"""Drill checkers: pure functions from workload events and invariant samples to figures.

Events are the workload's JSON dicts (``t``, ``ev``, ``ok``, ``n``); samples
are :class:`pacemail.drills.sampler.Sample`. All times are unix time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pacemail.drills.reachability import Timeline
from pacemail.drills.sampler import Sample


@dataclass(frozen=True)
class Delivery:
    accepted: int
    delivered: int          # distinct accepted messages found in the mailbox
    lost: tuple[int, ...]   # accepted, never delivered
    duplicates: int         # extra copies of any message


def accepted(events: Iterable[dict]) -> set[int]:
    return {e["n"] for e in events if e["ev"] == "smtp" and e["ok"]}


def delivery(accepted_numbers: Iterable[int], mailbox: Iterable[int]) -> Delivery:
    wanted, copies = set(accepted_numbers), Counter(mailbox)
    return Delivery(len(wanted), len(wanted & set(copies)), tuple(sorted(wanted - set(copies))),
                    sum(c - 1 for c in copies.values()))


def service_timeline(events: Iterable[dict], service: str) -> Timeline:
    """Successes and failures of ``service`` ("smtp" or "imap") as a client timeline."""
    return Timeline(sorted((e["t"], bool(e["ok"])) for e in events if e["ev"] == service))


def downtime(events: Iterable[dict], service: str, fault_at: float) -> float | None:
    """Last success before the outage after ``fault_at`` to the first success after it."""
    last_ok, first_ok = service_timeline(events, service).outage_around(fault_at)
    return None if last_ok is None or first_ok is None else round(first_ok - last_ok, 2)


def split_brain(samples: Sequence[Sample], t0: float) -> list[str]:
    """One violation per stretch of samples in which a kind had more than one holder."""
    out: list[str] = []
    open_runs: dict[str, tuple[float, tuple[str, ...]]] = {}
    for s in list(samples) + [Sample(float("inf"), {})]:
        for kind in set(open_runs) | set(s.holders):
            holders = s.holders.get(kind, ())
            if len(holders) > 1 and kind not in open_runs:
                open_runs[kind] = (s.t, holders)
            elif len(holders) <= 1 and kind in open_runs:
                start, who = open_runs.pop(kind)
                end = "the end" if s.t == float("inf") else f"+{s.t - t0:.2f}s"
                out.append(f"split brain: {kind} held by {', '.join(who)} "
                           f"from +{start - t0:.2f}s to {end}")
    return out


def holder(s: Sample, kinds: Iterable[str]) -> str | None:
    """The one node holding every kind in ``kinds`` in sample ``s``, if there is one."""
    nodes = {s.holders.get(k, ()) for k in kinds}
    if len(nodes) == 1:
        (held,) = nodes
        if len(held) == 1:
            return held[0]
    return None


def recovered_at(samples: Sequence[Sample], kinds: Sequence[str], fault_at: float
                 ) -> tuple[float, str] | None:
    """(time, node) the stack was whole on one node again after being broken by the fault."""
    broken = False
    for s in samples:
        if s.t < fault_at:
            continue
        node = holder(s, kinds)
        if node is None:
            broken = True
        elif broken:
            return s.t, node
    return None


def moves(samples: Sequence[Sample], kinds: Sequence[str]) -> list[tuple[float, str, str]]:
    """(time, from, to) each time the whole stack is found on another node than the last
    node it was whole on (gaps while it is broken or starting do not count)."""
    out, last = [], None
    for s in samples:
        node = holder(s, kinds)
        if node is None:
            continue
        if last is not None and node != last:
            out.append((s.t, last, node))
        last = node
    return out


def unforced_moves(samples: Sequence[Sample], kinds: Sequence[str], fault_at: float | None,
                   back_at: float | None, failback: bool = False) -> list[str]:
    """Every move of the stack the fault does not explain, as a violation: before the fault,
    more than one between the fault and the recovery, and any after it (one back to where it
    was is allowed with ``failback``). Each move is a mail outage nobody chose."""
    found, forced, back_once = [], False, failback
    origin = None
    for t, before, after in moves(samples, kinds):
        if fault_at is not None and t >= fault_at and (back_at is None or t <= back_at) \
                and not forced:
            forced, origin = True, before
            continue
        if back_once and back_at is not None and t > back_at and after == origin:
            back_once = False
            continue
        when = ("before the fault" if fault_at is None or t < fault_at
                else f"{t - fault_at:.1f}s after the fault")
        found.append(f"unforced move: the stack went from {before} to {after} ({when})")
    return found


def held_kinds(s: Sample) -> tuple[str, ...]:
    """The kinds some node holds in ``s`` (what the stack consists of in steady state)."""
    return tuple(k for k, nodes in s.holders.items() if nodes)
