"""Running a function in a detached grandchild, so an agent action can return before it ends.

The grandchild leaves the agent's session and closes stdin/stdout/stderr
(Pacemaker's executor, and any caller capturing output, waits for those
pipes), and SIGALRM bounds its life whatever the function does.
"""

from __future__ import annotations

import os
import signal


def detach(fn, limit_s: float) -> None:
    """Run ``fn()`` in a detached grandchild killed after ``limit_s`` seconds; returns at once."""
    child = os.fork()
    if child:
        os.waitpid(child, 0)  # the middle child exits right after forking
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(max(1, int(limit_s + 0.999)))
        fn()
    finally:
        os._exit(0)
