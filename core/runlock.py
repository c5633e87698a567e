"""One run at a time per lab (and for the VM namespace): advisory locks that die with their run.

A lock is ``flock(2)`` on ``/run/pacemail/locks/<name>.lock``: the kernel
drops it when the holding process ends, however it ends (a SIGKILLed test run
leaves no stale lock behind). The file also says who holds it (PID, command
line, since when), so a refused run can name the holder.

Nesting: the holder names its locks in its environment (:data:`ENV`), so the
commands it starts run under its hold: the test session that holds its lab
runs ``pacemail drill run`` on it as a child process. A run started from
anywhere else (another shell, CI, cron) lacks that entry and is refused. The
lock's file descriptor is close-on-exec, so the daemons a run starts (the
lab's nodes, libvirtd) never hold the lock; an inherited entry is void as
soon as its holder is gone, since the lock then names nobody.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

LOCK_DIR = Path(os.environ.get("PACEMAIL_LOCK_DIR") or "/run/pacemail/locks")
ENV = "PACEMAIL_HELD_LOCKS"   # "lab-pmtest=1234 vagrant=1234": held by an ancestor run
POLL_S = 0.2


class Busy(Exception):
    """Another live run holds the lock."""

    def __init__(self, name: str, holder: dict, waited: float):
        self.name, self.holder, self.waited = name, holder, waited
        since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0)))
        waited_text = f" (waited {waited:.0f}s)" if waited else ""
        super().__init__(
            f"{name.replace('-', ' ', 1)} is in use by PID {holder.get('pid', '?')} ({holder.get('cmdline') or '?'}) "
            f"since {since}{waited_text}; wait for it with --wait SECONDS, or stop that run")


def path(name: str) -> Path:
    return LOCK_DIR / f"{name}.lock"


def holder(name: str) -> dict | None:
    """Who holds lock ``name`` now ({pid, cmdline, since}), or None when nobody does."""
    try:
        fd = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or {"pid": None, "cmdline": "", "since": 0}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def held_here(name: str, info: dict | None, environ=os.environ) -> bool:
    """True when lock ``name``'s holder (``info``) is this process or the run that started it."""
    pid = (info or {}).get("pid")
    if not isinstance(pid, int):
        return False
    return pid == os.getpid() or f"{name}={pid}" in environ.get(ENV, "").split()


@contextmanager
def hold(name: str, wait: float = 0.0):
    """Hold lock ``name`` for the ``with`` block; raise :class:`Busy` after ``wait`` seconds.

    Inside a run that already holds it (this process or an ancestor), do nothing.
    """
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    fd = os.open(path(name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                info = _read(fd)
                if held_here(name, info):
                    os.close(fd)
                    fd = -1
                    yield info
                    return
                waited = time.monotonic() - started
                if waited >= wait:
                    raise Busy(name, info or {}, waited) from None
                time.sleep(POLL_S)
        me = {"pid": os.getpid(), "cmdline": cmdline(os.getpid()), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        entry = f"{name}={me['pid']}"
        os.environ[ENV] = " ".join([*os.environ.get(ENV, "").split(), entry])
        try:
            yield me
        finally:
            os.environ[ENV] = " ".join(e for e in os.environ.get(ENV, "").split() if e != entry)
            os.ftruncate(fd, 0)
    finally:
        if fd >= 0:
            os.close(fd)


def _read(fd: int) -> dict | None:
    """The holder's record; the holder writes it just after it locks, so retry briefly."""
    for _ in range(10):
        try:
            data = os.pread(fd, 4096, 0)
            if data.strip():
                return json.loads(data)
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    return None


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(" ".join(a.decode(errors="replace").split())
                    for a in raw.split(b"\0") if a)[:300]
