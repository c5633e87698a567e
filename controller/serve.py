"""The controller daemon's edges: read the cluster, run the actions, loop, serve HTTP.

The decisions are ``daemon.py``'s; this module only does what they need done.
A cycle that cannot read the cluster (CIB manager restarting, DC moving,
pacemaker down) is logged and retried with a doubling pause up to
``MAX_BACKOFF``; the loop never ends on an error. Each cycle first syncs this
node's fence device secrets (local files; no cluster needed). ``/metrics`` serves the
Prometheus text, ``/healthz`` 200 after a good cycle and 503 otherwise, from
a thread of :mod:`http.server`; :func:`unit` is the systemd unit that runs the daemon.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lxml import etree

from pacemail.controller import apply, cibsecrets, daemon, merge
from pacemail.pacemaker import cib, nodes, status
from pacemail.pacemaker.runner import Runner, local

MAX_BACKOFF = 60.0
UNIT = Path(__file__).resolve().parent / "pacemail-controller.service"
log = logging.getLogger("pacemail.controller")


def read(state: daemon.State, *, run: Runner = local) -> daemon.Reading:
    header = cib.header(run=run)
    node_id = nodes.local_id(run=run)
    now = status.read(run=run)
    whole = cib.get(run=run) if daemon.needs_cib(state, header, node_id) else None
    return daemon.Reading(header, node_id, now, whole)


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
                 secrets_dir: Path = cibsecrets.SECRETS_DIR):
        self.config, self.interval, self.run = config, interval, run
        self.secrets_dir = secrets_dir
        self.state = daemon.State()
        self.stopping = threading.Event()

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
        reading = read(self.state, run=self.run)
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
                code, body, kind = 200, daemon.metrics(d.state), "text/plain; version=0.0.4"
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
