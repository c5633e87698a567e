"""The cluster at a glance, as data: ``crm_mon --output-as=xml`` read into a :class:`Status`.

Nodes, quorum, where each resource runs, failures and the fencing history;
each resource instance and each node's fail counts and migration thresholds
as crm_mon lists them (what the controller daemon's metrics label by);
:func:`failures_text` is crm_mon's own text of failed actions and fail counts,
what an admin reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from pacemail.pacemaker.runner import Runner, local, output

TIMEOUT = 30.0
INFINITY = 1000000   # Pacemaker's score and count for "infinite"
# A fence event's completion time: crm_mon writes "2026-12-06 21:49:51 +00:00",
# stonith_admin "2026-12-07 01:25:24Z".
FENCE_TIMES = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S%z")


@dataclass(frozen=True)
class NodeState:
    name: str
    online: bool
    standby: bool
    unclean: bool
    dc: bool
    type: str = "member"                      # member, remote or ping
    standby_onfail: bool = False
    maintenance: bool = False
    pending: bool = False
    shutdown: bool = False
    expected_up: bool = False


@dataclass(frozen=True)
class ResourceState:
    id: str
    agent: str
    placement: tuple[tuple[str, str], ...]   # (node, role) where it is active
    failed: bool
    managed: bool
    clone: str | None                         # the clone it is an instance of
    pending: tuple[str, ...] = ()             # nodes where an operation on it still runs


@dataclass(frozen=True)
class ResourceInstance:
    """One ``<resource>`` element of crm_mon on one node: a clone instance is one each."""
    id: str
    agent: str
    node: str            # "" where it runs nowhere
    role: str            # Started, Stopped, Promoted, Unpromoted, Starting, ...
    managed: bool
    active: bool
    orphaned: bool
    blocked: bool
    failed: bool
    failure_ignored: bool
    group: str = ""
    clone: str = ""


@dataclass(frozen=True)
class ResourceHistory:
    """A resource's ``resource_history`` on a node: its fail count and migration threshold."""
    node: str
    resource: str
    fail_count: int       # INFINITY is 1000000
    migration_threshold: int


@dataclass(frozen=True)
class FailedAction:
    resource: str
    operation: str
    node: str
    result: str          # exit status text, e.g. "not running"
    reason: str
    when: str
    interval: str = "0"  # of a recurring operation, in ms; "0" for a probe or one-off


@dataclass(frozen=True)
class FenceEvent:
    target: str
    action: str
    status: str          # success, failed or pending
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
    stonith_enabled: bool = False
    maintenance_mode: bool = False
    instances: tuple[ResourceInstance, ...] = ()
    history: tuple[ResourceHistory, ...] = ()


def read(*, run: Runner = local, timeout: float = TIMEOUT) -> Status:
    """``crm_mon --one-shot --output-as=xml`` with the full fencing history, parsed."""
    return parse(output(run(["crm_mon", "--one-shot", "--output-as=xml", "--fence-history=3"],
                            timeout=timeout)))


def failures_text(*, run: Runner = local, timeout: float = TIMEOUT) -> list[str]:
    """crm_mon's text of failed actions and fail counts, one line each."""
    done = run(["crm_mon", "-1", "--include=failcounts,failures",
                "--exclude=summary,nodes,resources"], timeout=timeout)
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def parse(xml: bytes) -> Status:
    """crm_mon's XML -> :class:`Status` (an XML syntax error raises SyntaxError)."""
    root = etree.fromstring(xml)
    dc = root.find("summary/current_dc")
    present = dc is not None and dc.get("present") == "true"
    options = root.find("summary/cluster_options")
    nodes = tuple(NodeState(n.get("name"), _yes(n, "online"), _yes(n, "standby"),
                            _yes(n, "unclean"), _yes(n, "is_dc"), n.get("type", "member"),
                            _yes(n, "standby_onfail"), _yes(n, "maintenance"), _yes(n, "pending"),
                            _yes(n, "shutdown"), _yes(n, "expected_up"))
                  for n in root.iterfind("nodes/node"))
    failures = tuple(FailedAction(f.get("op_key", "").rsplit("_", 2)[0], f.get("task", ""),
                                  f.get("node", ""), f.get("exitstatus", ""),
                                  f.get("exitreason", ""), f.get("last-rc-change", ""),
                                  f.get("op_key", "").rsplit("_", 1)[-1])
                     for f in root.iterfind("failures/failure"))
    return Status(present and dc.get("with_quorum") == "true", dc.get("name") if present else None,
                  nodes, _resources(root.find("resources")), failures, fence_events(root),
                  options is not None and _yes(options, "stonith-enabled"),
                  options is not None and _yes(options, "maintenance-mode"),
                  _instances(root.find("resources")), _history(root))


def fence_events(root: etree._Element) -> tuple[FenceEvent, ...]:
    """The ``fence_event`` elements under ``root`` (crm_mon's and stonith_admin's alike)."""
    return tuple(FenceEvent(e.get("target", ""), e.get("action", ""), e.get("status", ""),
                            e.get("delegate", ""), e.get("completed", ""))
                 for e in root.iter("fence_event"))


def fence_time(text: str) -> float | None:
    """A fence event's ``completed`` (crm_mon's or stonith_admin's form) as a Unix time;
    None when it has none (pending) or another form."""
    for form in FENCE_TIMES:
        try:
            return datetime.strptime(text, form).timestamp()
        except ValueError:
            continue
    return None


def _resources(section: etree._Element | None) -> tuple[ResourceState, ...]:
    """Primitives in crm_mon's order, clone instances merged into one entry."""
    out: dict[str, ResourceState] = {}
    for r in () if section is None else section.iter("resource"):
        clone = next((a.get("id") for a in r.iterancestors("clone")), None)
        places = tuple((n.get("name"), r.get("role")) for n in r.iterfind("node"))
        # Pacemaker 2.1 lists a resource still starting as active, with a pending attribute.
        pending = tuple(node for node, _ in places) if r.get("pending") else ()
        old = out.get(r.get("id"))
        if old:
            out[old.id] = ResourceState(old.id, old.agent, tuple(sorted(old.placement + places)),
                                        old.failed or _yes(r, "failed"), old.managed, clone,
                                        tuple(sorted(old.pending + pending)))
        else:
            out[r.get("id")] = ResourceState(r.get("id"), r.get("resource_agent", ""), places,
                                             _yes(r, "failed"), _yes(r, "managed"), clone, pending)
    return tuple(out.values())


def _instances(section: etree._Element | None) -> tuple[ResourceInstance, ...]:
    """Each ``<resource>`` on each node it runs on (once, node "", where it runs nowhere)."""
    out = []
    for r in () if section is None else section.iter("resource"):
        group = next((a.get("id") for a in r.iterancestors("group")), "")
        clone = next((a.get("id") for a in r.iterancestors("clone")), "")
        flags = [_yes(r, a) for a in ("managed", "active", "orphaned", "blocked", "failed",
                                      "failure_ignored")]
        for node in [n.get("name") for n in r.iterfind("node")] or [""]:
            out.append(ResourceInstance(r.get("id"), r.get("resource_agent", ""), node,
                                        r.get("role", ""), *flags, group, clone))
    return tuple(out)


def _history(root: etree._Element) -> tuple[ResourceHistory, ...]:
    return tuple(ResourceHistory(n.get("name"), h.get("id"), _int(h.get("fail-count")),
                                 _int(h.get("migration-threshold")))
                 for n in root.iterfind("node_history/node")
                 for h in n.iterfind("resource_history"))


def _int(text: str | None) -> int:
    """A count crm_mon prints (infinite as :data:`INFINITY`); 0 when absent."""
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _yes(element: etree._Element, attribute: str) -> bool:
    return element.get(attribute) == "true"
