"""Reading the cluster from inside a lab node: membership, quorum, where resources run."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pacemail.lab.nodes import NodeDown, node_run
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
    view = ClusterView(node)
    try:
        out = node_run(lab, node, ["crm_mon", "-1", "--output-as=xml"], timeout=timeout).stdout
        root = ET.fromstring(out)
    except (CommandError, NodeDown, ET.ParseError):
        return view
    dc = root.find("summary/current_dc")
    if dc is not None and dc.get("present") == "true":
        view.dc = dc.get("name")
        view.quorate = dc.get("with_quorum") == "true"
    view.online = sorted(n.get("name") for n in root.iter("node")
                         if n.get("online") == "true" and n.get("name"))
    for rsc in root.iter("resource"):
        # Pacemaker 2.1 records pending operations: a resource still starting shows as
        # active with a pending attribute; it does not run there yet.
        if rsc.get("active") == "true" and not rsc.get("pending"):
            view.resources[rsc.get("id")] = sorted(n.get("name") for n in rsc.iter("node"))
    return view


def corosync_quorate(lab: str, node: str, timeout: float = 5.0) -> bool | None:
    """votequorum's own answer on ``node`` (None when corosync does not answer)."""
    try:
        out = node_run(lab, node, ["corosync-quorumtool", "-s"], timeout=timeout,
                       check=False).stdout
    except (CommandError, NodeDown):
        return None
    for line in out.splitlines():
        if line.strip().startswith("Quorate:"):
            return line.split(":", 1)[1].strip() == "Yes"
    return None


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
    node_run(lab, node, ["crm_resource", "--wait", "--timeout", f"{timeout:.0f}s"],
             timeout=timeout + 10)


def wait_for_quorum(lab: str, members: list[str], timeout: float) -> ClusterView:
    """Until ``members`` are all online in one quorate partition with a DC, seen from the first."""
    def probe():
        view = crm_view(lab, members[0])
        return view if view.quorate and view.dc and set(members) <= set(view.online) else None
    return wait_for(probe, timeout, f"a quorate cluster of {', '.join(members)} with a DC")
