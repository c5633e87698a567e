"""The controller daemon's edges: read the cluster, run the actions, loop, serve HTTP.

The decisions are ``daemon.py``'s; this module only does what they need done.
A cycle that cannot read the cluster (CIB manager restarting, DC moving,
pacemaker down) is logged and retried with a doubling pause up to
``MAX_BACKOFF``; the loop never ends on an error. Each cycle first syncs this
node's fence device secrets (local files; no cluster needed). ``/metrics`` serves the
Prometheus text, ``/healthz`` 200 after a good cycle and 503 otherwise, from
a thread of :mod:`http.server`; :func:`unit` is the systemd unit that runs the daemon.

The metrics' sources are read once a cycle, each on its own (:func:`read_sources`):
the cycle's one crm_mon, corosync-quorumtool, DRBD on this node, the fencer's
history and the newest drill report; one that fails is logged once and left
out of that cycle's metrics (:mod:`pacemail.controller.metrics`).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lxml import etree

from pacemail.agents import drbd_status
from pacemail.controller import apply, cibsecrets, daemon, merge, metrics
from pacemail.pacemaker import cib, fencing, nodes, quorum, status
from pacemail.pacemaker.runner import Runner, local
from pacemail.proc import CommandError

MAX_BACKOFF = 60.0
SOURCE_TIMEOUT = 10.0   # a metrics source may hold up a cycle this long, no more
PROC_DRBD = Path("/proc/drbd")
REPORTS = "drill-*.json"   # what `pacemail drill run --report DIR` writes (drills/report.py)
UNIT = Path(__file__).resolve().parent / "pacemail-controller.service"
log = logging.getLogger("pacemail.controller")


def read(state: daemon.State, now: status.Status, at: float, *,
         run: Runner = local) -> daemon.Reading:
    """The cycle's reading around ``now``, its crm_mon read at ``at``."""
    header = cib.header(run=run)
    node_id = nodes.local_id(run=run)
    whole = cib.get(run=run) if daemon.needs_cib(state, header, node_id) else None
    return daemon.Reading(header, node_id, now, whole, at)


def read_drbd(resources: tuple[str, ...], minors: dict[str, list[int]], *,
              run: Runner = local) -> tuple[tuple[str, drbd_status.State], ...]:
    """Each DRBD resource up on this node: DRBD 9 (and the lab's double) from one ``drbdsetup
    status --json``; DRBD 8.4 from /proc/drbd, for ``resources`` (the description's), their
    minors asked of ``drbdadm sh-minor`` once and kept in ``minors``."""
    try:
        proc = PROC_DRBD.read_text()
    except OSError:
        proc = ""
    version = drbd_status.version_from_proc(proc.split("\n", 1)[0])
    if version and version[0] < 9:
        for res in resources:
            if res not in minors:
                done = run(["drbdadm", "sh-minor", res], timeout=SOURCE_TIMEOUT)
                minors[res] = [int(w) for w in done.stdout.split() if w.isdigit()]
        found = ((res, drbd_status.from_proc(proc, minors[res])) for res in resources)
    else:
        document = json.loads(run(["drbdsetup", "status", "--json"], timeout=SOURCE_TIMEOUT).stdout)
        if not isinstance(document, list) or not all(isinstance(r, dict) for r in document):
            raise ValueError("drbdsetup status --json: not a list of resources")
        found = ((r.get("name"), drbd_status.from_json(document, r.get("name"))) for r in document)
    return tuple((res, state) for res, state in found if state is not None)


def newest_report(directory: Path) -> Path | None:
    """The newest drill report's JSON in ``directory`` (OSError when it is no directory)."""
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory}: no such directory")
    return max(directory.glob(REPORTS), default=None)   # drill-YYYYmmddTHHMMSS.json


def execute(action: daemon.Action, config: daemon.Config, *,
            run: Runner = local) -> daemon.Result:
    try:
        if isinstance(action, daemon.Repair):
            outcome = apply.apply(config.description, allow_restart=config.allow_restart, run=run)
            if outcome.pushed:
                return daemon.Result(action, True, f"{len(outcome.plan.changes)} change(s) pushed")
            return daemon.Result(action, False, outcome.refused or "nothing to push")
        return daemon.Result(action, *clear_fence(action, run=run))
    except Exception as exc:  # a failed action is reported, never ends the loop
        return daemon.Result(action, False, f"{type(exc).__name__}: {exc}")


def clear_fence(action: daemon.ClearFence, *, run: Runner = local) -> tuple[bool, str]:
    """Remove the constraint from the CIB it was judged on, only while that is still current."""
    old = etree.fromstring(action.cib)
    new = copy.deepcopy(old)
    element = new.find(f"configuration/constraints/rsc_location[@id='{action.id}']")
    element.getparent().remove(element)
    new.set("epoch", str(merge.version(old)[1] + 1))
    new.set("num_updates", "0")
    if apply.push_at_epoch(action.cib, etree.tostring(new), run=run):
        return True, "removed"
    return False, "the configuration changed since it was judged; judged again next cycle"


class Daemon:
    """The loop; ``state`` is replaced (never mutated) so the HTTP thread reads a whole one."""

    def __init__(self, config: daemon.Config, interval: float, run: Runner = local,
                 secrets_dir: Path = cibsecrets.SECRETS_DIR, reports: Path | None = None):
        self.config, self.interval, self.run = config, interval, run
        self.secrets_dir, self.reports = secrets_dir, reports
        self.state = daemon.State()
        self.readings = metrics.Readings()
        self.stopping = threading.Event()
        self.drbd_minors: dict[str, list[int]] = {}
        self.report: tuple[Path, float, metrics.Drill | None] | None = None   # parsed, by mtime
        self.source_errors: dict[str, str | None] = {}

    def read_sources(self, now: status.Status | None) -> metrics.Readings:
        """The metrics' sources besides crm_mon (``now``, None when it failed), each on its
        own: one that fails is None, its error logged when it first appears."""
        drbd_resources = (self.config.description.storage.drbd_resource,)
        reports, drill = None, None
        if self.reports is not None:
            reports, drill = self.attempt("reports", self.read_report)
        corosync = quorum.read(run=self.run, timeout=SOURCE_TIMEOUT)   # never raises
        self.note("corosync", None if corosync.running else corosync.error)
        return metrics.Readings(
            status=now, quorum=corosync,
            drbd=self.attempt("drbd", lambda: read_drbd(drbd_resources, self.drbd_minors,
                                                        run=self.run))[1],
            fencing=self.attempt("fencing", lambda: fencing.history(
                "*", run=self.run, timeout=SOURCE_TIMEOUT))[1],
            drill=drill, reports=reports)

    def attempt(self, source: str, read):
        """(True, what ``read`` returned), or (False, None) when the tool failed or said
        something unreadable."""
        try:
            value = read()
        except (CommandError, OSError, ValueError, SyntaxError) as exc:
            self.note(source, f"{type(exc).__name__}: {exc}")
            return False, None
        self.note(source, None)
        return True, value

    def note(self, source: str, problem: str | None) -> None:
        """Log a source's problem when it appears or changes, and when it is gone."""
        if problem is not None and self.source_errors.get(source) != problem:
            log.warning("metrics source %s not read: %s", source, problem)
        if problem is None and self.source_errors.get(source):
            log.info("metrics source %s read again", source)
        self.source_errors[source] = problem

    def read_report(self) -> metrics.Drill | None:
        """The newest report's last run (parsed again only when the file changed)."""
        path = newest_report(self.reports)
        if path is None:
            return None
        mtime = path.stat().st_mtime
        if self.report is None or self.report[:2] != (path, mtime):
            self.report = (path, mtime, metrics.drill(json.loads(path.read_text()), path.name))
        return self.report[2]

    def sync_secrets(self) -> None:
        synced = cibsecrets.sync(self.config.description, self.secrets_dir)
        self.state, lines = daemon.record_secrets(
            self.state,
            tuple(f"{i.secret.param} of {i.secret.resource}" for i in synced.installed if i.changed),
            tuple(f"{s.param} of {s.resource}" for s in synced.removed),
            tuple(p.message for p in synced.problems))
        for level, line in lines:
            log.log(level, line)

    def cycle(self) -> None:
        self.sync_secrets()
        now = None
        try:
            now = status.read(run=self.run)     # the cycle's one crm_mon
            at = time.time()
        finally:
            self.readings = self.read_sources(now)
        reading = read(self.state, now, at, run=self.run)
        actions, state, lines = daemon.decide(self.state, reading, self.config)
        results = tuple(execute(a, self.config, run=self.run) for a in actions)
        state, more = daemon.record(state, results, time.time())
        self.state = state
        for line in lines + more:
            log.info(line)

    def loop(self) -> None:
        errors = 0
        while not self.stopping.is_set():
            try:
                self.cycle()
                errors = 0
            except Exception as exc:   # the one broad catch: log, back off, go on
                errors += 1
                self.state = daemon.failed(self.state)
                log.warning("cycle failed (%s: %s); retrying", type(exc).__name__, exc)
            pause = min(self.interval * 2 ** errors, MAX_BACKOFF) if errors else self.interval
            self.stopping.wait(pause)


def serve_http(d: Daemon, host: str, port: int) -> ThreadingHTTPServer:
    """Start the metrics and health endpoints in a daemon thread."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/metrics":
                state = d.state
                body = daemon.metrics(state) + metrics.render(d.readings, state.last_failover)
                code, kind = 200, "text/plain; version=0.0.4; charset=utf-8"
            elif self.path == "/healthz":
                ok = d.state.last_cycle_ok
                code, body, kind = (200 if ok else 503), ("ok\n" if ok else "failing\n"), "text/plain"
            else:
                code, body, kind = 404, "not found\n", "text/plain"
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):   # no access log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="pacemail-http", daemon=True).start()
    return server


def unit(executable: Path, description: Path) -> str:
    """The systemd unit that runs ``EXECUTABLE controller run --description DESCRIPTION``."""
    return UNIT.read_text().replace("@PACEMAIL@", str(executable)).replace(
        "@DESCRIPTION@", str(description))
