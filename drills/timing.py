"""When each part of the stack was back after a fault, from the invariant samples (pure).

The client's downtime (SMTP, IMAP) is what a user sees; these are the
cluster's side: the first sample at which a kind (vip, mount, drbd, postfix,
dovecot) is held again by the node the stack ended on, alone, after having
been lost or held elsewhere since the fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pacemail.drills.sampler import Sample


def kind_back(samples: Sequence[Sample], kind: str, fault_at: float,
              node_after: str | None) -> float | None:
    """Seconds from ``fault_at`` to ``kind`` held by ``node_after`` alone again; None when it
    never was, or was never interrupted (nothing to measure)."""
    if node_after is None:
        return None
    broken = False
    for s in samples:
        if s.t < fault_at:
            continue
        held = s.holders.get(kind, ()) == (node_after,)
        if not held:
            broken = True
        elif broken:
            return round(s.t - fault_at, 2)
    return None


def kinds_back(samples: Sequence[Sample], kinds: Iterable[str], fault_at: float,
               node_after: str | None) -> dict[str, float | None]:
    return {k: kind_back(samples, k, fault_at, node_after) for k in kinds}
