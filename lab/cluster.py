"""Reading the cluster from inside a lab node: membership, quorum, where resources run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pacemail.lab.nodes import NodeDown, node_runner
from pacemail.pacemaker import quorum, resources, status
from pacemail.proc import CommandError

T = TypeVar("T")


@dataclass
class ClusterView:
    """What one node's crm_mon says."""
    node: str
    quorate: bool = False
    dc: str | None = None
    online: list[str] = field(default_factory=list)
    resources: dict[str, list[str]] = field(default_factory=dict)  # id -> nodes running it (no pending op)


def crm_view(lab: str, node: str, timeout: float = 10.0) -> ClusterView:
    """``node``'s view; an empty one when it does not answer (off, no cluster, unreadable)."""
    try:
        now = status.read(run=node_runner(lab, node), timeout=timeout)
    except (CommandError, NodeDown, SyntaxError):
        return ClusterView(node)
    running = {r.id: sorted(n for n, _ in r.placement if n not in r.pending) for r in now.resources}
    return ClusterView(node, now.quorate, now.dc, sorted(n.name for n in now.nodes if n.online),
                       {rid: where for rid, where in running.items() if where})


def corosync_quorate(lab: str, node: str, timeout: float = 5.0) -> bool | None:
    """votequorum's own answer on ``node`` (None when corosync does not answer)."""
    try:
        state = quorum.read(run=node_runner(lab, node), timeout=timeout)
    except NodeDown:
        return None
    return state.quorate if state.running else None


def wait_for(probe: Callable[[], T | None], timeout: float, what: str,
             interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something truthy; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


def settle(lab: str, node: str, timeout: float) -> None:
    """Until the cluster has no transition pending or running (``crm_resource --wait``).

    A view read right after a cleanup or a meta change may show a resource where
    the next transition is about to move or re-probe it.
    """
    resources.wait(timeout, run=node_runner(lab, node))


def wait_for_quorum(lab: str, members: list[str], timeout: float) -> ClusterView:
    """Until ``members`` are all online in one quorate partition with a DC, seen from the first."""
    def probe():
        view = crm_view(lab, members[0])
        return view if view.quorate and view.dc and set(members) <= set(view.online) else None
    return wait_for(probe, timeout, f"a quorate cluster of {', '.join(members)} with a DC")
