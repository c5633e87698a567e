"""Processes that keep a filesystem busy, and ending them in bounded steps (psutil adapter).

A process holds a mount when its cwd, its root, an open file descriptor or
a mapped file lives on that filesystem. The match is on the filesystem's
device number (``st_dev``), not on path text: a process in another mount
namespace, or one whose cwd merely looks similar (/srv/mail-old), is never
taken for a holder. Stat goes through /proc/PID/{cwd,root,fd/N}, so it sees
each file the way its process does; mappings come from /proc/PID/maps,
which carry the device number themselves.
"""

from __future__ import annotations

import os
import time

import psutil


def _on(path: str, dev: int) -> bool:
    try:
        return os.stat(path).st_dev == dev
    except OSError:  # gone, or a link we may not follow
        return False


def _maps_on(pid: int, dev: int) -> bool:
    wanted = f"{os.major(dev):02x}:{os.minor(dev):02x}"
    try:
        with open(f"/proc/{pid}/maps", encoding="ascii", errors="replace") as f:
            return any(line.split(None, 4)[3:4] == [wanted] for line in f)
    except OSError:
        return False


def holds(pid: int, dev: int) -> bool:
    """Whether process ``pid`` uses the filesystem whose st_dev is ``dev``."""
    base = f"/proc/{pid}"
    if _on(f"{base}/cwd", dev) or _on(f"{base}/root", dev):
        return True
    try:
        fds = os.listdir(f"{base}/fd")
    except OSError:
        fds = []
    return any(_on(f"{base}/fd/{fd}", dev) for fd in fds) or _maps_on(pid, dev)


def find(dev: int) -> list[psutil.Process]:
    """Every process (but this one) holding the filesystem ``dev``."""
    me = os.getpid()
    return [p for p in psutil.process_iter(["name"]) if p.pid != me and holds(p.pid, dev)]


def describe(procs) -> str:
    return ", ".join(f"{p.pid} ({p.info.get('name') or '?'})" for p in procs[:10]) + \
        (f" and {len(procs) - 10} more" if len(procs) > 10 else "")


def signal_and_wait(procs, sig: int, wait_s: float) -> list[psutil.Process]:
    """Send ``sig`` to ``procs``, wait up to ``wait_s`` for them to exit; the survivors."""
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    return wait_gone(procs, wait_s)


def wait_gone(procs, wait_s: float, poll_s: float = 0.05) -> list[psutil.Process]:
    """Wait up to ``wait_s`` (negative: not at all) for ``procs`` to end; the survivors.

    Polls /proc instead of psutil.wait_procs, which waits through pidfd_open(2)
    and lets its OSErrors out. A dovecot stop under a Pacemaker move on a
    real-DRBD VM failed with OSError EINVAL (the traceback was lost, so this
    wait is the suspect, not a proven cause), and a failed stop gets the node
    fenced: the stop path should have no such exit. A zombie counts as ended (its parent,
    not us, reaps it); ``is_running`` compares start times, so a reused pid
    is not taken for the process.
    """
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        alive = [p for p in procs if _running(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
