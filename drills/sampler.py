"""The invariant sampler: who holds what, on every node, ten times a second, from /proc.

No subprocess per sample. Through the host PID of each node's init:
``/proc/<pid>/net/fib_trie`` lists the node's local addresses (the VIP),
``/proc/<pid>/mountinfo`` its mounts (:func:`pacemail.lab.status.mount_holders`),
``/proc/<pid>/root/run/drbd-double/<res>.json`` its DRBD role (the lab's
double), and the ``comm`` of the init's children finds the postfix
(``master``) and dovecot masters.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from pacemail.drills.vmprobe import MASTERS, local_addresses
from pacemail.lab import power
from pacemail.lab.status import mount_holders
from pacemail.lab.topology import Lab

INTERVAL_S = 0.1
KINDS = ("vip", "mount", "drbd", "postfix", "dovecot")


@dataclass(frozen=True)
class Sample:
    t: float
    holders: dict[str, tuple[str, ...]]  # kind -> nodes holding it at t


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def drbd_primary(pid: int, resource: str) -> bool:
    text = _read(f"/proc/{pid}/root/run/drbd-double/{resource}.json")
    try:
        return bool(text) and json.loads(text).get("role") == "Primary"
    except ValueError:
        return False


def masters(init_pid: int) -> set[str]:
    """Kinds whose master is a child of a node's init (daemons detach and are re-parented there).

    Only direct children count: an agent's probe running ``dovecot --version``
    is not a master.
    """
    found = set()
    for child in (_read(f"/proc/{init_pid}/task/{init_pid}/children") or "").split():
        kind = MASTERS.get((_read(f"/proc/{child}/comm") or "").strip())
        if kind:
            found.add(kind)
    return found


class InitPids:
    """Node -> init PID, rescanning /proc only for a node whose init is gone (at most 1/s)."""

    def __init__(self, lab: Lab):
        self.lab, self.pids, self._scanned = lab, {}, {}

    def current(self) -> dict[str, int]:
        now = time.monotonic()
        for node in self.lab.nodes:
            pid = self.pids.get(node.name)
            if pid and power.alive(pid):
                continue
            self.pids.pop(node.name, None)
            if now - self._scanned.get(node.name, 0) >= 1.0:
                self._scanned[node.name] = now
                found = power.init_pid(self.lab.name, node.name)
                if found:
                    self.pids[node.name] = found
        return dict(self.pids)


def sample(pids: dict[str, int], device: str, address: str, drbd_resource: str) -> Sample:
    t = time.time()
    holders: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for node, pid in sorted(pids.items()):
        if address in local_addresses(_read(f"/proc/{pid}/net/fib_trie") or ""):
            holders["vip"].append(node)
        if drbd_primary(pid, drbd_resource):
            holders["drbd"].append(node)
        for kind in masters(pid):
            holders[kind].append(node)
    holders["mount"] = mount_holders(pids, device)
    return Sample(t, {k: tuple(sorted(holders[k])) for k in KINDS})


class Sampler:
    """Samples in a thread until stopped; ``samples`` grows as it goes."""

    def __init__(self, lab: Lab, device: str, address: str, drbd_resource: str = "mail"):
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._pids = InitPids(lab)
        self._args = (device, address, drbd_resource)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.samples.append(sample(self._pids.current(), *self._args))
            self._stop.wait(max(0.0, INTERVAL_S - (time.monotonic() - started)))

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(timeout=5)
        return list(self.samples)
