"""The invariant sampler on VMs: one long-lived ssh per node streaming a line a second.

Each node runs :mod:`pacemail.drills.vmprobe` (shipped as source, stdlib only)
for the whole drill; its lines say what the node holds (VIP, mount, DRBD
role, postfix and dovecot masters). A combiner turns the latest line of every
node into a :class:`pacemail.drills.sampler.Sample` twice a second, stamped
with the host's clock (the workload's clock).

A node whose stream went quiet (its VM destroyed, fenced, rebooting) is the
hard case for an invariant checker: forgetting what it held could hide a
double holder, keeping it forever would invent one. So a quiet node keeps its
last holdings until the hypervisor says its VM is gone or was restarted since
that line (its libvirt domain id changed): a VM that was reset holds nothing
until its probe says otherwise.

The parsing and combining are pure functions (tested without VMs); the
threads, ssh and virsh are the thin edge.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pacemail.drills import vmprobe
from pacemail.drills.sampler import KINDS, Sample

INTERVAL_S = 0.5          # combined samples
PROBE_PERIOD_S = 1.0      # lines from each guest
STALE_S = 3.5             # a stream quiet this long: ask the hypervisor about the VM
POWER_CHECK_S = 2.0       # at most this often per quiet node
RECONNECT_S = 3.0         # ssh logins to a TCG guest cost seconds of its CPU: one per 3 s at most
PROBE_LINES = 7200        # each probe ends by itself after this many lines (bounded)
STREAM_SSH = ("-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3")


@dataclass(frozen=True)
class Line:
    """One probe line as the host received it."""
    received: float                 # host time
    guest_t: float                  # the guest's clock when it sampled
    held: frozenset[str]            # kinds this node holds
    drbd: Mapping[str, str] = field(default_factory=dict)


def parse_line(text: str, received: float) -> Line | None:
    """A probe's JSON line -> :class:`Line`; None for anything else (ssh banners, garbage)."""
    try:
        data = json.loads(text)
        guest_t = float(data["t"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    drbd = data.get("drbd") or {}
    held = set(data.get("masters") or ())
    if data.get("vip"):
        held.add("vip")
    if data.get("mount"):
        held.add("mount")
    if drbd.get("role") == "Primary":
        held.add("drbd")
    return Line(received, guest_t, frozenset(held & set(KINDS)), dict(drbd))


@dataclass
class NodeView:
    """What the sampler knows of one node."""
    last: Line | None = None
    domain_id: str | None = None    # libvirt's id of the VM when ``last`` arrived
    void: bool = False              # the VM was reset or is off since ``last``: holds nothing
    checked: float = 0.0            # host time of the last hypervisor check
    offsets: list[float] = field(default_factory=list)   # received - guest_t, recent lines


def quiet(view: NodeView, now: float, stale_s: float = STALE_S) -> bool:
    return view.last is None or now - view.last.received > stale_s


def holdings(view: NodeView) -> frozenset[str]:
    """What a node counts as holding: its last line's kinds, unless its VM was reset since."""
    if view.last is None or view.void:
        return frozenset()
    return view.last.held


def combine(views: Mapping[str, NodeView], now: float) -> Sample:
    holders: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for node in sorted(views):
        for kind in holdings(views[node]):
            holders[kind].append(node)
    return Sample(now, {k: tuple(v) for k, v in holders.items()})


def clock_offset(offsets: list[float]) -> float | None:
    """Host minus guest clock: the smallest ``received - guest_t`` seen (the least delayed)."""
    return min(offsets) if offsets else None


def void_after_check(view: NodeView, state: str, domain_id: str | None) -> bool:
    """Whether a quiet node's holdings are void, given its VM's power state and domain id now."""
    if state != "running":
        return True
    return view.domain_id is not None and domain_id is not None and domain_id != view.domain_id


class VMSampler:
    """Streams from every node until stopped; ``samples`` grows as it goes.

    ``ssh_argv(node, argv)`` builds the ssh command line for a node; ``power(node)``
    returns (state, domain id) from the hypervisor.
    """

    def __init__(self, nodes: list[str], address: str, mount_point: str,
                 ssh_argv: Callable[[str, list[str]], list[str]],
                 power: Callable[[str], tuple[str, str | None]]):
        self.samples: list[Sample] = []
        self.views = {n: NodeView() for n in nodes}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._procs: dict[str, subprocess.Popen] = {}
        self._ssh_argv, self._power = ssh_argv, power
        self._probe = ["python3", "-u", "-c", Path(vmprobe.__file__).read_text(),
                       address, mount_point, str(PROBE_PERIOD_S), str(PROBE_LINES)]
        self._threads = [threading.Thread(target=self._stream, args=(n,), daemon=True)
                         for n in nodes]
        self._threads.append(threading.Thread(target=self._combine, daemon=True))
        for t in self._threads:
            t.start()

    def _stream(self, node: str) -> None:
        while not self._stop.is_set():
            try:
                state, domain_id = self._power(node)
            except Exception:  # noqa: BLE001 - the hypervisor may be slow; try again
                state, domain_id = "unknown", None
            if state != "running":
                self._stop.wait(RECONNECT_S)
                continue
            try:
                proc = subprocess.Popen(self._ssh_argv(node, self._probe),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True,
                                        start_new_session=True)
            except OSError:
                self._stop.wait(RECONNECT_S)
                continue
            self._procs[node] = proc
            for text in proc.stdout:
                line = parse_line(text, time.time())
                if line is None:
                    continue
                with self._lock:
                    view = self.views[node]
                    view.last, view.domain_id, view.void = line, domain_id, False
                    view.offsets = (view.offsets + [line.received - line.guest_t])[-60:]
                if self._stop.is_set():
                    break
            _end(proc)
            self._stop.wait(RECONNECT_S)

    def _combine(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            now = time.time()
            for node, view in self.views.items():
                if quiet(view, now) and view.last is not None and not view.void \
                        and now - view.checked >= POWER_CHECK_S:
                    view.checked = now
                    try:
                        state, domain_id = self._power(node)
                    except Exception:  # noqa: BLE001 - unknown: keep what it held
                        continue
                    with self._lock:
                        view.void = void_after_check(view, state, domain_id)
            with self._lock:
                self.samples.append(combine(self.views, time.time()))
            self._stop.wait(max(0.0, INTERVAL_S - (time.monotonic() - started)))

    def latest(self, node: str) -> Line | None:
        view = self.views[node]
        return None if view.void else view.last

    def fresh(self, node: str, within: float = STALE_S) -> bool:
        view = self.views[node]
        return not view.void and not quiet(view, time.time(), within)

    def offset(self, node: str) -> float:
        return clock_offset(self.views[node].offsets) or 0.0

    def stop(self) -> list[Sample]:
        self._stop.set()
        for proc in list(self._procs.values()):
            _end(proc)
        for t in self._threads:
            t.join(timeout=10)
        return list(self.samples)


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
