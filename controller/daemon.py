"""The controller daemon's cycle as plain functions: what a node read -> actions, state, metrics.

Each cycle (the loop is ``serve.py``) reads the ``<cib>`` header (version,
``dc-uuid``, ``have-quorum``), this node's id and crm_mon's status; on the DC
also the whole CIB, but only when :func:`needs_cib` says so (the configuration
epoch moved since the last check, or a DRBD fence constraint is there).
:func:`decide` turns a :class:`Reading` into actions and the next
:class:`State`; :func:`record` adds the actions' results; :func:`metrics`
renders the state in Prometheus' text format (the cluster's own metrics are
:mod:`pacemail.controller.metrics`').

Every node also follows the mail stack across cycles (:func:`whole`): when it
is seen whole on another node than last time, that is a failover, kept as
:class:`~pacemail.controller.metrics.Failover` (the last cycle whole on the old
node, the first whole on the new one, each resource's gap): a real failover
gets its figures without a drill. Whether it is whole, and if not which
resources are missing, is logged when it changes.

Rules: only the DC acts (every node reports health); nothing is pushed
without quorum (crm_mon's ``with_quorum`` and the CIB's ``have-quorum`` both);
drift, pacemail's elements differing from the description, is logged and, with
``repair``, undone by the normal apply (gate, epoch-safe patch, restarts only
with ``allow_restart``). A repair refused or failed at one epoch is tried
again when the epoch moves (or after a failed cycle).

A stale DRBD fence (DRBD's unfence handler failed and left
``drbd-fence-by-handler-<res>-<clone>``) is cleared when every node it keeps
from promotion is online and reports a promotion score of at least
``UP_TO_DATE_SCORE`` for the clone's primitive: the ``master-<primitive>``
transient attribute the DRBD agent sets from its monitor (``crm_attribute
--promotion``). Both ocf:pacemail:drbd (default ``adjust_master_score`` "0 0
1000 10000") and ocf:linbit:drbd give 1000 and up only to an UpToDate disk
(10000 with every peer known, 1000 with a peer unknown; Consistent gets a
lower score or none, Outdated and Inconsistent none). The deletion is an epoch-guarded patch of the CIB judged, so a
handler fencing again in between wins.

Every node also keeps its own fence device secrets in place (the CIB holds
only ``lrm://``; see :mod:`pacemail.controller.cibsecrets`): :func:`record_secrets`
turns what a sync did into log lines, a problem logged once until it changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from lxml import etree

from pacemail.controller import cibxml, merge, stack
from pacemail.controller.metrics import Failover, family
from pacemail.controller.model import Description
from pacemail.controller.plan import make_plan
from pacemail.fencing import constraint as fence
from pacemail.pacemaker.status import Status

UP_TO_DATE_SCORE = 1000
STACK_PROMOTED = cibxml.owned_id(stack.DRBD)    # the mail stack is where DRBD is Promoted,
STACK_STARTED = cibxml.owned_id(stack.MOUNT)    # or, without DRBD, where the mount runs
# crm_mon's roles of a resource that runs with no action under way: Starting, Stopping,
# Promoting, Demoting and Migrating name the action instead.
STEADY_ROLES = ("Started", *fence.PROMOTED_ROLES)


@dataclass(frozen=True)
class Config:
    description: Description
    repair: bool = False
    allow_restart: bool = False
    up_to_date_score: int = UP_TO_DATE_SCORE


@dataclass(frozen=True)
class Reading:
    header: dict[str, str]       # the <cib> element's attributes
    node_id: str                 # this node's id, as dc-uuid names it
    status: Status               # crm_mon
    cib: bytes | None = None     # the whole CIB, when needs_cib() asked for it
    at: float = 0.0              # when crm_mon was read (Unix time)


@dataclass(frozen=True)
class Repair:
    drift: tuple[str, ...]


@dataclass(frozen=True)
class ClearFence:
    id: str
    cib: bytes                   # the CIB it was judged stale on
    reason: str


Action = Repair | ClearFence


@dataclass(frozen=True)
class Result:
    action: Action
    ok: bool
    detail: str


@dataclass(frozen=True)
class State:
    cycles: int = 0
    cycle_errors: int = 0
    last_cycle_ok: bool = False
    is_dc: bool = False
    quorate: bool = False
    checked: tuple[int, int] | None = None   # (admin_epoch, epoch) drift was last checked at
    drift: tuple[str, ...] = ()              # ids of pacemail elements that differ
    fences: tuple[str, ...] = ()             # DRBD fence constraints in the configuration
    failed_actions: int = 0
    stack_node: str | None = None            # where the mail stack was last seen active
    failovers: int = 0
    applies: int = 0
    last_apply_time: float | None = None
    last_apply_ok: bool | None = None
    fences_cleared: int = 0
    secret_problems: tuple[str, ...] = ()    # this node's secrets not installed, and why
    serving: tuple[str, float] | None = None  # (node, last time) the stack was seen whole
    seen: tuple[tuple[str, str, float], ...] = ()  # (resource, node, last time) seen active
    gaps: tuple[tuple[str, float], ...] = ()  # resources moved since the stack was last whole
    running: tuple[tuple[str, str | None], ...] = ()  # each stack resource -> :func:`active`'s node
    last_failover: Failover | None = None


def is_dc(reading: Reading) -> bool:
    return reading.header.get("dc-uuid") == reading.node_id


def needs_cib(state: State, header: dict[str, str], node_id: str) -> bool:
    """Must this cycle read the whole CIB? On the DC, when the epoch moved or a fence is there."""
    if header.get("dc-uuid") != node_id:
        return False
    return bool(state.fences) or merge.version(header)[:2] != state.checked


def decide(state: State, reading: Reading, config: Config) -> tuple[tuple[Action, ...], State, tuple[str, ...]]:
    """The actions for this cycle, the state after it (before the actions ran) and log lines."""
    status = reading.status
    dc = is_dc(reading)
    quorate = status.quorate and reading.header.get("have-quorum") in ("1", "true")
    where = stack_node(status)
    moved = where is not None and state.stack_node not in (None, where)
    log = [f"failover: the mail stack moved from {state.stack_node} to {where}"] if moved else []
    if dc != state.is_dc:
        log.append("this node is the DC: acting" if dc else "this node is not the DC: reporting only")
    new = replace(follow(state, active(status, stack_ids(config.description)), reading.at),
                  cycles=state.cycles + 1, last_cycle_ok=True, is_dc=dc, quorate=quorate,
                  failed_actions=len(status.failures), stack_node=where or state.stack_node,
                  failovers=state.failovers + moved)
    line = wholeness(new.running)
    if line != wholeness(state.running):
        log.append(line)
    if new.last_failover is not state.last_failover:
        f = new.last_failover
        log.append(f"failover: the mail stack whole on {f.to_node} {f.started - f.stopped:.1f}s "
                   f"after its last cycle whole on {f.from_node}")
    if not dc:
        return (), replace(new, checked=None, drift=(), fences=()), tuple(log)
    if reading.cib is None:
        return (), new, tuple(log)
    cib = etree.fromstring(reading.cib)
    plan = make_plan(config.description, reading.cib, check=False)
    drift = tuple(c.id for c in plan.changes)
    if drift != state.drift:
        log += [f"drift: {c.action} {c.id} ({_fields(c)})" for c in plan.changes] or ["drift: none"]
    stale = stale_fences(cib, config.up_to_date_score)
    new = replace(new, checked=merge.version(cib)[:2], drift=drift, fences=fence_ids(cib))
    actions: list[Action] = []
    if drift and config.repair:
        actions.append(Repair(drift))
    actions += [ClearFence(i, reading.cib, why) for i, why in stale]
    if actions and not quorate:
        log.append(f"no quorum: not acting ({', '.join(type(a).__name__ for a in actions)})")
        return (), replace(new, checked=None), tuple(log)
    return tuple(actions), new, tuple(log)


def record(state: State, results: tuple[Result, ...], now: float) -> tuple[State, tuple[str, ...]]:
    """The state after the actions ran; a failed one makes the next cycle look again."""
    log = []
    for r in results:
        log.append(f"{'done' if r.ok else 'FAILED'}: {_describe(r.action)}: {r.detail}")
        if isinstance(r.action, Repair):
            state = replace(state, applies=state.applies + 1, last_apply_time=now, last_apply_ok=r.ok)
        elif r.ok:
            state = replace(state, fences_cleared=state.fences_cleared + 1)
        if not r.ok:
            state = replace(state, checked=None)
    return state, tuple(log)


def record_secrets(state: State, installed: tuple[str, ...], removed: tuple[str, ...],
                   problems: tuple[str, ...]) -> tuple[State, tuple[tuple[int, str], ...]]:
    """(logging level, line) for a secret sync on this node: each change, each new or resolved
    problem (a problem is a warning once, not every cycle)."""
    log = [(logging.INFO, f"secret {what}: installed") for what in installed]
    log += [(logging.INFO, f"secret {what}: removed (no longer in the description)") for what in removed]
    log += [(logging.WARNING, f"secret problem: {p}") for p in problems if p not in state.secret_problems]
    if state.secret_problems and not problems:
        log.append((logging.INFO, "secret problems resolved"))
    return replace(state, secret_problems=problems), tuple(log)


def failed(state: State) -> State:
    """After a cycle that could not read the cluster."""
    return replace(state, cycles=state.cycles + 1, cycle_errors=state.cycle_errors + 1,
                   last_cycle_ok=False, checked=None)


def stack_node(status: Status) -> str | None:
    """The node the mail stack is active on (DRBD Promoted there, else the mount started)."""
    for r in status.resources:
        if r.id == STACK_PROMOTED:
            promoted = [n for n, role in r.placement if role in fence.PROMOTED_ROLES]
            if promoted:
                return promoted[0]
    return next((r.placement[0][0] for r in status.resources
                 if r.id == STACK_STARTED and r.placement), None)


def stack_ids(d: Description) -> frozenset[str]:
    """The ids of the mail stack's resources (and its constraints: never in crm_mon's list)."""
    return frozenset(cibxml.owned_id(name) for name in stack.stack_names(d))


def active(status: Status, ids: frozenset[str]) -> dict[str, str | None]:
    """Each stack resource crm_mon lists -> the one online, clean node it runs on in a steady
    role (DRBD: Promoted), None when there is no such node.

    The role tells an action under way (``Starting``). crm_mon's ``pending`` attribute does
    not: it marks a recurring monitor whose result the CIB has not recorded, and Pacemaker
    2.1 records a degraded result (DRBD's 191, Promoted with a peer gone) only as a failure:
    the Promoted instance shows ``Monitoring`` until the result changes, through a whole
    failover and until the dead node's replica is back.
    """
    healthy = {n.name for n in status.nodes if n.online and not n.unclean}
    out: dict[str, str | None] = {}
    for r in status.resources:
        if r.id == STACK_PROMOTED:
            places = [(n, role) for n, role in r.placement if role in fence.PROMOTED_ROLES]
        elif r.id in ids and r.clone is None:
            places = list(r.placement)
        else:
            continue
        ok = len(places) == 1 and places[0][0] in healthy and places[0][1] in STEADY_ROLES
        out[r.id] = places[0][0] if ok else None
    return out


def whole(where: dict[str, str | None]) -> str | None:
    """The node every stack resource is active on, if there is one."""
    nodes = set(where.values())
    return nodes.pop() if len(nodes) == 1 and None not in nodes else None


def wholeness(running: tuple[tuple[str, str | None], ...]) -> str:
    """The log line of :func:`active`'s answer: the node the stack is whole on, or what
    keeps it from being whole."""
    where = dict(running)
    node = whole(where)
    if node is not None:
        return f"the mail stack is whole on {node}"
    if not where:
        return "the mail stack is not whole: crm_mon lists none of its resources"
    missing = [rid for rid, n in running if n is None]
    if missing:
        return ("the mail stack is not whole: not running steadily on one online, clean node: "
                + ", ".join(missing))
    return "the mail stack is not whole: split, " + ", ".join(f"{r} on {n}" for r, n in running)


def follow(state: State, where: dict[str, str | None], now: float) -> State:
    """The stack followed one more cycle, ``where`` (:func:`active`) it runs now: where each
    resource was last active, and a :class:`Failover` when the stack is whole on another
    node than it was last."""
    seen = {rid: (node, t) for rid, node, t in state.seen}
    gaps = dict(state.gaps)
    for rid, node in where.items():
        if node is not None:
            old = seen.get(rid)
            if old and old[0] != node and rid not in gaps:
                gaps[rid] = round(now - old[1], 3)
            seen[rid] = (node, now)
    node, failover, serving = whole(where), state.last_failover, state.serving
    if node is not None:
        if serving and serving[0] != node:
            failover = Failover(serving[0], node, serving[1], now, tuple(sorted(gaps.items())))
        gaps, serving = {}, (node, now)
    return replace(state, serving=serving, last_failover=failover, gaps=tuple(sorted(gaps.items())),
                   seen=tuple((rid, n, t) for rid, (n, t) in sorted(seen.items())),
                   running=tuple(sorted(where.items())))


# -- DRBD fence constraints ---------------------------------------------------------

def fence_ids(cib: etree._Element) -> tuple[str, ...]:
    return tuple(e.get("id") for e in cib.iterfind("configuration/constraints/rsc_location")
                 if e.get("id", "").startswith(fence.ID_PREFIX + "-"))


def stale_fences(cib: etree._Element, min_score: int) -> list[tuple[str, str]]:
    """(id, why) of each fence constraint whose excluded nodes are all back UpToDate."""
    out = []
    nodes = [n.get("uname") for n in cib.iterfind("configuration/nodes/node")]
    for cid in fence_ids(cib):
        element = cib.find(f"configuration/constraints/rsc_location[@id='{cid}']")
        clone = element.get("rsc", "")
        resource = cid[len(fence.ID_PREFIX) + 1:-(len(clone) + 1)] if cid.endswith("-" + clone) else ""
        parsed = fence.parse(resource, etree.tostring(element, encoding="unicode"))
        primitive = cib.find(f"configuration/resources/clone[@id='{clone}']/primitive")
        if parsed is None or primitive is None:
            continue
        excluded = [n for n in nodes if parsed.rejects(n)]
        scores = {n: promotion_score(cib, n, primitive.get("id")) for n in excluded}
        if excluded and all(s is not None and s >= min_score for s in scores.values()):
            out.append((cid, "promotion score of " + ", ".join(f"{n} {s}" for n, s in scores.items())
                        + f" (>= {min_score}: UpToDate)"))
    return out


def promotion_score(cib: etree._Element, node: str, primitive: str) -> int | None:
    """``master-<primitive>`` of an online node, None when it is offline or has none."""
    state = cib.find(f"status/node_state[@uname='{node}']")
    if state is None or state.get("crmd") != "online" or state.get("in_ccm") != "true":
        return None
    value = next((p.get("value") for p in state.iterfind("transient_attributes/instance_attributes/nvpair")
                  if p.get("name") == f"master-{primitive}"), None)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# -- metrics ----------------------------------------------------------------------

def metrics(state: State) -> str:
    """Prometheus text exposition format 0.0.4."""
    rows = [
        ("cycles_total", "counter", "Cycles run.", state.cycles),
        ("cycle_errors_total", "counter", "Cycles that could not read the cluster.", state.cycle_errors),
        ("last_cycle_success", "gauge", "1 when the last cycle read the cluster.", int(state.last_cycle_ok)),
        ("is_dc", "gauge", "1 when this node is the DC (the one that acts).", int(state.is_dc)),
        ("quorate", "gauge", "1 when the cluster has quorum.", int(state.quorate)),
        ("drift", "gauge", "1 when pacemail's CIB elements differ from the description (DC).",
         int(bool(state.drift))),
        ("drift_elements", "gauge", "Number of pacemail elements that differ (DC).", len(state.drift)),
        ("failovers_total", "counter", "Moves of the mail stack to another node seen.", state.failovers),
        ("stack_whole", "gauge", "1 when the last cycle that read the cluster saw every mail "
         "stack resource running steadily on one online, clean node (DRBD Promoted there).",
         int(whole(dict(state.running)) is not None)),
        ("failed_actions", "gauge", "Failed resource actions crm_mon shows.", state.failed_actions),
        ("applies_total", "counter", "Repairs (applies) run.", state.applies),
        ("last_apply_timestamp_seconds", "gauge", "When the last repair ran (0: never).",
         state.last_apply_time or 0),
        ("last_apply_success", "gauge", "1 when the last repair pushed its change.",
         int(bool(state.last_apply_ok))),
        ("fence_constraints", "gauge", "DRBD fence constraints in the CIB (DC).", len(state.fences)),
        ("fence_constraints_cleared_total", "counter", "Stale DRBD fence constraints removed.",
         state.fences_cleared),
        ("secret_problems", "gauge", "Fence device secrets this node could not install.",
         len(state.secret_problems)),
    ]
    out = [line for name, kind, text, value in rows
           for line in family(f"pacemail_controller_{name}", kind, text, [({}, value)])]
    return "\n".join(out) + "\n"


def _fields(change) -> str:
    shown = [f"{k}: {old!r} -> {new!r}" for k, old, new in change.fields[:3]]
    return "; ".join(shown) + ("; ..." if len(change.fields) > 3 else "") or change.what


def _describe(action: Action) -> str:
    if isinstance(action, Repair):
        return f"repair of {len(action.drift)} element(s)"
    return f"clear {action.id} ({action.reason})"
