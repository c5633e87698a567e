"""One time bound shared by the steps of an operation (net up, net down, adding a box).

Each step keeps its own cap and gets no more than what is left of the whole,
``run(argv, timeout=d.left(STEP_S))``, so the operation as a whole is bounded
by one named figure that the test run's time budget can add up.
"""

from __future__ import annotations

import time

from pacemail.proc import CommandError


class Deadline:
    def __init__(self, seconds: float, what: str):
        self.seconds, self.what = seconds, what
        self.end = time.monotonic() + seconds

    def left(self, cap: float = float("inf")) -> float:
        """Seconds the next step may take: ``cap``, or less near the end; CommandError after it."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise CommandError([self.what], None, timeout=self.seconds)
        return min(cap, remaining)
