"""The cluster at a glance, as data: nodes, quorum, where each resource runs, failures, fencing.

:func:`parse` reads ``crm_mon --output-as=xml`` (from ``live.mon``); pacemail's
resources (``pm-`` ids) are listed as the mail stack under their description
names, everything else as other resources.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from pacemail.controller import cibxml, live
from pacemail.proc import run as local_run


@dataclass(frozen=True)
class NodeState:
    name: str
    online: bool
    standby: bool
    unclean: bool
    dc: bool


@dataclass(frozen=True)
class ResourceState:
    id: str
    agent: str
    placement: tuple[tuple[str, str], ...]   # (node, role) where it is active
    failed: bool
    managed: bool
    clone: str | None                         # the clone it is an instance of

    @property
    def pacemail(self) -> bool:
        return self.id.startswith(cibxml.PREFIX)


@dataclass(frozen=True)
class FailedAction:
    resource: str
    operation: str
    node: str
    result: str          # exit status text, e.g. "not running"
    reason: str
    when: str


@dataclass(frozen=True)
class FenceEvent:
    target: str
    action: str
    status: str
    by: str
    when: str


@dataclass(frozen=True)
class Status:
    quorate: bool
    dc: str | None
    nodes: tuple[NodeState, ...]
    resources: tuple[ResourceState, ...]
    failures: tuple[FailedAction, ...]
    fencing: tuple[FenceEvent, ...]


def read(*, run: live.Runner = local_run) -> Status:
    return parse(live.mon(run=run))


def parse(xml: bytes) -> Status:
    root = etree.fromstring(xml)
    dc = root.find("summary/current_dc")
    present = dc is not None and dc.get("present") == "true"
    nodes = tuple(NodeState(n.get("name"), _yes(n, "online"), _yes(n, "standby"),
                            _yes(n, "unclean"), _yes(n, "is_dc"))
                  for n in root.iterfind("nodes/node"))
    failures = tuple(FailedAction(f.get("op_key", "").rsplit("_", 2)[0], f.get("task", ""),
                                  f.get("node", ""), f.get("exitstatus", ""),
                                  f.get("exitreason", ""), f.get("last-rc-change", ""))
                     for f in root.iterfind("failures/failure"))
    fencing = tuple(FenceEvent(e.get("target", ""), e.get("action", ""), e.get("status", ""),
                               e.get("delegate", ""), e.get("completed", ""))
                    for e in root.iterfind("fence_history/fence_event"))
    return Status(present and dc.get("with_quorum") == "true", dc.get("name") if present else None,
                  nodes, _resources(root.find("resources")), failures, fencing)


def _resources(section: etree._Element | None) -> tuple[ResourceState, ...]:
    """Primitives in crm_mon's order, clone instances merged into one entry."""
    out: dict[str, ResourceState] = {}
    for r in () if section is None else section.iter("resource"):
        clone = next((a.get("id") for a in r.iterancestors("clone")), None)
        places = tuple((n.get("name"), r.get("role")) for n in r.iterfind("node"))
        old = out.get(r.get("id"))
        if old:
            out[old.id] = ResourceState(old.id, old.agent, tuple(sorted(old.placement + places)),
                                        old.failed or _yes(r, "failed"), old.managed, clone)
        else:
            out[r.get("id")] = ResourceState(r.get("id"), r.get("resource_agent", ""), places,
                                             _yes(r, "failed"), _yes(r, "managed"), clone)
    return tuple(out.values())


def _yes(element: etree._Element, attribute: str) -> bool:
    return element.get(attribute) == "true"
