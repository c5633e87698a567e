"""One node-wide lock for the DRBD handlers' CIB changes.

DRBD runs a handler per volume and per lost connection, often several at once.
Each holds this lock only while it reads and changes its constraint, so two
handlers never interleave a read and a write. ``flock`` locks die with their
process: a killed handler cannot leave the lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_PATH = "/run/pacemail/drbd-handlers.lock"


class LockTimeout(TimeoutError):
    pass


@contextmanager
def held(path: str = DEFAULT_PATH, timeout: float = 60.0) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created with its folder), or LockTimeout."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"lock {path} still held by another handler after "
                                      f"{timeout:.0f}s") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)
