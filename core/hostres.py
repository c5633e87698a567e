"""What this machine has left and what pacemail takes: free disk, available memory, disk used, processes.

Read before heavy work (a box build, a VM boot), printed by the test run at
its start and end, and shown by ``pacemail doctor``. No subprocess: statvfs,
/proc and lstat only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

GIB = 1024 ** 3


def free_bytes(path: str | Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding ``path``
    (or its nearest existing parent, for a directory not made yet)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def mem_available(meminfo: str | None = None) -> int:
    """MemAvailable in bytes, from /proc/meminfo's text (read now when not given)."""
    if meminfo is None:
        meminfo = Path("/proc/meminfo").read_text()
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        if key == "MemAvailable":
            value, _, unit = rest.strip().partition(" ")
            return int(value) * (1024 if unit.strip() == "kB" else 1)
    raise ValueError("no MemAvailable line in /proc/meminfo")


def disk_usage(path: str | Path) -> int:
    """Bytes allocated to a file or under a directory (a sparse file counts what it uses, a
    symlink itself), following no symlink and not crossing into another file system (a
    bind mount left in a work dir); 0 for nothing there."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_blocks * 512
    total = 0
    for root, dirs, files in os.walk(path):
        try:
            if os.lstat(root).st_dev != st.st_dev:
                dirs[:] = []
                continue
        except OSError:
            continue
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of every process on the machine that can be read (how pacemail finds
    its own daemons and VMs, even when the run that started them is gone)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            yield int(entry), [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def human(n: int) -> str:
    """1.2 GB, 340 MB, 12 kB: decimal units, as df -H and du --si print them."""
    for unit, size in (("GB", 10 ** 9), ("MB", 10 ** 6), ("kB", 10 ** 3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def summary(path: str | Path = "/") -> str:
    """One line: free disk on ``path`` and available memory."""
    return f"free disk {human(free_bytes(path))} on {path}, MemAvailable {human(mem_available())}"
