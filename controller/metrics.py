"""The cluster as Prometheus metrics: what the controller daemon read -> text format 0.0.4.

Names and labels are ClusterLabs' ha_cluster_exporter's under pacemail's prefix
(``ha_cluster_pacemaker_nodes{node,type,status}`` is
``pacemail_pacemaker_nodes{node,type,status}``, and so on), so a dashboard built
for that exporter ports by renaming. Beyond it: the fencer's history, the last
failover as the daemon saw it (its :class:`Failover`, from crm_mon across
cycles) and the last drill's figures (its report). Each HELP text names the
metric's source.

Pure functions only: the daemon's edges (``serve.py``) run the tools. A source
that could not be read this cycle is None in :class:`Readings`: its metrics
are absent and ``pacemail_scrape_source_up{source}`` is 0, the scrape itself
never fails.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pacemail.agents.drbd_status import State as DrbdState
from pacemail.pacemaker.quorum import QuorumState
from pacemail.pacemaker.status import INFINITY, FenceEvent, Status, fence_time

NODE_STATUSES = ("online", "standby", "standby_onfail", "maintenance", "pending", "unclean",
                 "shutdown", "expected_up", "dc")
RESOURCE_STATUSES = ("active", "orphaned", "blocked", "failed", "failure_ignored")

CRM_MON = "from crm_mon."
QUORUMTOOL = "from corosync-quorumtool -s on this node."
DRBD = "on this node, from drbdsetup status --json (DRBD 9) or /proc/drbd (DRBD 8.4)."
FENCER = "from stonith_admin --history '*'."
SEEN = ("seen by this node's controller daemon in crm_mon across its cycles (resolution: "
        "its interval; since the daemon started).")
DRILL = "from the newest drill report (pacemail drill run --report DIR) in the daemon's --reports."


@dataclass(frozen=True)
class Failover:
    """The mail stack moving whole from one node to another, as the daemon saw it.

    ``stopped``: the last cycle the stack was seen whole on ``from_node``
    (online, clean); ``started``: the first cycle it was seen whole on
    ``to_node``; ``down``: per stack resource, from its last cycle active on
    the old node to its first on the new one.
    """
    from_node: str
    to_node: str
    stopped: float
    started: float
    down: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Drill:
    """The last run of the newest drill report (:func:`drill`)."""
    file: str
    scenario: str
    target: str
    from_node: str
    to_node: str
    when: float | None                         # the fault, else when the report was written
    downtime: tuple[tuple[str, float], ...]    # (service, seconds) the client saw it down
    accepted: int
    lost: int
    duplicates: int
    detect_s: float | None
    fence_s: float | None
    recover_s: float | None
    passed: bool


@dataclass(frozen=True)
class Readings:
    """One cycle's sources; None: not read (failed). ``reports``: None when the daemon has no
    reports directory, else whether it could be read (``drill`` None: no report there yet)."""
    status: Status | None = None
    quorum: QuorumState | None = None
    drbd: tuple[tuple[str, DrbdState], ...] | None = None
    fencing: tuple[FenceEvent, ...] | None = None
    drill: Drill | None = None
    reports: bool | None = None


Sample = tuple[dict[str, str], float]


def render(readings: Readings, failover: Failover | None) -> str:
    """Every metric of one cycle's readings and the last failover seen, as exposition text."""
    out: list[str] = []
    up = [("crm_mon", readings.status is not None),
          ("corosync", readings.quorum is not None and readings.quorum.running),
          ("drbd", readings.drbd is not None), ("fencing", readings.fencing is not None)]
    if readings.reports is not None:
        up.append(("reports", readings.reports))
    out += family("pacemail_scrape_source_up", "gauge",
                  "1 when this cycle read the source (crm_mon, corosync, drbd, fencing, "
                  "reports), 0 when it failed: that source's metrics are absent.",
                  [({"source": name}, ok) for name, ok in up])
    if readings.status is not None:
        out += pacemaker(readings.status)
    if readings.quorum is not None and readings.quorum.running:
        out += corosync(readings.quorum)
    if readings.drbd is not None:
        out += drbd(readings.drbd)
    if readings.fencing is not None:
        out += fencing(readings.fencing)
    if failover is not None:
        out += failed_over(failover)
    if readings.drill is not None:
        out += drill_metrics(readings.drill)
    return "".join(line + "\n" for line in out)


def pacemaker(s: Status) -> list[str]:
    nodes = [({"node": n.name, "type": n.type, "status": k}, n.dc if k == "dc" else getattr(n, k))
             for n in s.nodes for k in NODE_STATUSES]
    resources = [({"node": r.node, "resource": r.id, "role": r.role.lower(),
                   "managed": str(r.managed).lower(), "status": k, "agent": r.agent,
                   "group": r.group, "clone": r.clone}, getattr(r, k))
                 for r in s.instances for k in RESOURCE_STATUSES]
    fails = [({"node": h.node, "resource": h.resource},
              math.inf if h.fail_count >= INFINITY else h.fail_count) for h in s.history]
    return (family("pacemail_pacemaker_nodes", "gauge",
                   "1 when the node is in that status (online, standby, unclean, dc, ...), "
                   "else 0; " + CRM_MON, nodes)
            + family("pacemail_pacemaker_resources", "gauge",
                     "1 when the resource instance on that node is in that status (active, "
                     "orphaned, blocked, failed, failure_ignored), else 0; role as crm_mon "
                     "shows it, lower case; " + CRM_MON, resources)
            + family("pacemail_pacemaker_fail_count", "gauge",
                     "Fail count of the resource on the node (+Inf: INFINITY); " + CRM_MON, fails)
            + family("pacemail_pacemaker_migration_threshold", "gauge",
                     "Failures of the resource on the node before it moves away; " + CRM_MON,
                     [({"node": h.node, "resource": h.resource}, h.migration_threshold)
                      for h in s.history])
            + family("pacemail_pacemaker_stonith_enabled", "gauge",
                     "1 when STONITH is enabled; " + CRM_MON, [({}, s.stonith_enabled)])
            + family("pacemail_pacemaker_maintenance_mode_enabled", "gauge",
                     "1 when the cluster is in maintenance mode; " + CRM_MON,
                     [({}, s.maintenance_mode)]))


def corosync(q: QuorumState) -> list[str]:
    votes = (("expected_votes", q.expected_votes), ("highest_expected", q.highest_expected),
             ("total_votes", q.total_votes), ("quorum", q.quorum))
    return (family("pacemail_corosync_quorate", "gauge", "1 when this node's partition is "
                   "quorate; " + QUORUMTOOL, [({}, q.quorate)])
            + family("pacemail_corosync_quorum_votes", "gauge",
                     "Quorum votes by type (expected_votes, highest_expected, total_votes, "
                     "quorum: the votes needed); " + QUORUMTOOL,
                     [({"type": t}, v) for t, v in votes if v is not None])
            + family("pacemail_corosync_member_votes", "gauge",
                     "Votes each member contributes; " + QUORUMTOOL,
                     [({"node_id": str(m.id), "node": m.name, "local": str(m.local).lower()},
                       m.votes) for m in q.members]))


def drbd(resources: Iterable[tuple[str, DrbdState]]) -> list[str]:
    """Volumes are numbered in the order DRBD lists them (0, 1, ... as configured)."""
    own, peers, quorum = [], [], []
    for name, s in resources:
        for volume, disk in enumerate(s.disks):
            own.append(({"resource": name, "role": s.role, "volume": str(volume),
                         "disk_state": disk.lower()}, 1))
            if s.quorum is not None:
                quorum.append(({"resource": name, "volume": str(volume)}, s.quorum))
        for p in s.peers:
            for volume, disk in enumerate(p.disks):
                peers.append(({"resource": name, "peer_node_id": _text(p.node_id),
                               "peer_role": p.role, "volume": str(volume),
                               "peer_disk_state": disk.lower()}, 1))
    return (family("pacemail_drbd_resources", "gauge",
                   "1 for each volume of each DRBD resource, labelled with its role and disk "
                   "state; " + DRBD, own)
            + family("pacemail_drbd_connections", "gauge",
                     "1 for each peer volume, labelled with the peer's role and disk state "
                     "(peer_node_id empty on DRBD 8.4); " + DRBD, peers)
            + family("pacemail_drbd_quorum", "gauge",
                     "1 when the DRBD 9 resource has quorum; " + DRBD, quorum))


def fencing(events: Iterable[FenceEvent]) -> list[str]:
    counts: dict[tuple[str, str, str], int] = {}
    last: dict[tuple[str, str, str], float] = {}
    for e in events:
        key = (e.target, e.action, e.status)
        counts[key] = counts.get(key, 0) + 1
        when = fence_time(e.when)
        if when is not None:
            last[key] = max(when, last.get(key, when))
    labels = lambda k: {"target": k[0], "action": k[1], "status": k[2]}  # noqa: E731
    return (family("pacemail_pacemaker_fence_events", "gauge",
                   "Fencing actions in the fencer's history by target, action and status "
                   "(success, failed, pending); " + FENCER,
                   [(labels(k), n) for k, n in sorted(counts.items())])
            + family("pacemail_pacemaker_fence_last_timestamp_seconds", "gauge",
                     "When the latest such fencing action completed; " + FENCER,
                     [(labels(k), t) for k, t in sorted(last.items())]))


def failed_over(f: Failover) -> list[str]:
    return (family("pacemail_failover_last_duration_seconds", "gauge",
                   "The last failover: from the last cycle the mail stack was whole on the old "
                   "node to the first it was whole on the new one; " + SEEN,
                   [({}, round(f.started - f.stopped, 3))])
            + family("pacemail_failover_last_timestamp_seconds", "gauge",
                     "When the last failover began: the last cycle the stack was whole on the "
                     "old node; " + SEEN, [({}, f.stopped)])
            + family("pacemail_failover_last_info", "gauge",
                     "1, labelled with the nodes the last failover went from and to; " + SEEN,
                     [({"from_node": f.from_node, "to_node": f.to_node}, 1)])
            + family("pacemail_failover_last_resource_down_seconds", "gauge",
                     "Per stack resource, from its last cycle active on the old node to its "
                     "first on the new one, in the last failover; " + SEEN,
                     [({"resource": r}, s) for r, s in f.down]))


def drill_metrics(d: Drill) -> list[str]:
    figures = (("detect", d.detect_s, "to the cluster's first log line of the failure"),
               ("fence", d.fence_s, "to the first completed fencing"),
               ("recover", d.recover_s, "to the whole stack running on one node again"))
    out = (family("pacemail_drill_last_downtime_seconds", "gauge",
                  "Per service, from the client's last success before the fault to its first "
                  "after, in the last drill run; " + DRILL,
                  [({"service": s}, v) for s, v in d.downtime])
           + family("pacemail_drill_last_lost_messages", "gauge",
                    "Messages accepted but never in the inbox in the last drill run; " + DRILL,
                    [({}, d.lost)])
           + family("pacemail_drill_last_accepted_messages", "gauge",
                    "Messages the server accepted in the last drill run; " + DRILL,
                    [({}, d.accepted)])
           + family("pacemail_drill_last_duplicate_messages", "gauge",
                    "Messages delivered twice in the last drill run; " + DRILL,
                    [({}, d.duplicates)]))
    for name, value, what in figures:
        if value is not None:
            out += family(f"pacemail_drill_last_{name}_seconds", "gauge",
                          f"Seconds from the fault {what} in the last drill run; " + DRILL,
                          [({}, value)])
    if d.when is not None:
        out += family("pacemail_drill_last_timestamp_seconds", "gauge",
                      "When the last drill run's fault struck (reports without it: when the "
                      "report was written); " + DRILL, [({}, d.when)])
    return out + (family("pacemail_drill_last_success", "gauge",
                         "1 when the last drill run passed; " + DRILL, [({}, d.passed)])
                  + family("pacemail_drill_last_info", "gauge",
                           "1, labelled with the last drill run's scenario, target, nodes and "
                           "report file; " + DRILL,
                           [({"scenario": d.scenario, "target": d.target,
                              "from_node": d.from_node, "to_node": d.to_node, "file": d.file},
                             1)]))


def drill(data: dict, file: str) -> Drill | None:
    """The last run of a drill report's JSON (``drills/report.py``); None when it has no run.
    ValueError when it is not a drill report."""
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise ValueError(f"{file}: not a drill report (no runs)")
    if not data["runs"]:
        return None
    run = data["runs"][-1]
    if not isinstance(run, dict):
        raise ValueError(f"{file}: a run is not a mapping")
    down = run.get("downtime_s") if isinstance(run.get("downtime_s"), dict) else {}
    when = _number(run.get("fault_time"))
    if when is None:
        when = _report_time(data.get("generated"))
    return Drill(file, _text(run.get("scenario")), _text(run.get("target") or data.get("target")),
                 _text(run.get("active_before")), _text(run.get("active_after")), when,
                 tuple((s, v) for s, seconds in sorted(down.items())
                       if (v := _number(seconds)) is not None),
                 int(_number(run.get("accepted")) or 0), int(_number(run.get("lost")) or 0),
                 int(_number(run.get("duplicates")) or 0), _number(run.get("detect_s")),
                 _number(run.get("fence_s")), _number(run.get("recover_s")),
                 run.get("passed") is True)


# -- text format 0.0.4 ----------------------------------------------------------------

def family(name: str, kind: str, text: str, samples: Iterable[Sample]) -> list[str]:
    """``# HELP``, ``# TYPE`` and one line per distinct label set (the first value kept: a
    series is never listed twice); nothing when there are no samples."""
    seen: dict[str, str] = {}
    for labels, value in samples:
        key = ",".join(f'{k}="{escape(_text(v))}"' for k, v in labels.items())
        series = f"{name}{{{key}}}" if key else name
        seen.setdefault(key, f"{series} {_value(value)}")
    if not seen:
        return []
    help_text = _utf8(text).replace("\\", "\\\\").replace("\n", "\\n")
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *seen.values()]


def escape(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and line feed
    escaped."""
    return _utf8(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _utf8(text: str) -> str:
    """``text`` with what cannot be UTF-8 (a lone surrogate: a tool's undecodable byte) as '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _value(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return repr(value)


def _number(value) -> float | None:
    """A report's figure; None for anything but a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _text(value) -> str:
    return "" if value is None else str(value)


def _report_time(text) -> float | None:
    """A report's ``generated`` (ISO 8601) as a Unix time."""
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None
