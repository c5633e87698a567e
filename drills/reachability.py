"""Is an address answering? A timeline from the lab's client namespace, 10 probes a second.

One long-running ``ping -D -O -i 0.1`` in the client namespace: every probe is
a timestamped line, answered or "no answer yet", so an outage is measured to
0.1 s from the client's side without a process per probe. Traffic stays on
the lab switch.
"""

from __future__ import annotations

import re
import subprocess
import threading
from dataclasses import dataclass, field

INTERVAL_S = 0.1
_LINE = re.compile(r"^\[(?P<ts>\d+\.\d+)\] (?P<rest>.*)$")


@dataclass
class Timeline:
    samples: list[tuple[float, bool]] = field(default_factory=list)  # (unix time, answered)

    def outage_around(self, fault_at: float) -> tuple[float | None, float | None]:
        """(last answer before the outage, first answer after it) for the outage after ``fault_at``.

        The outage starts at the first missed probe after the fault: replies
        still in flight when the fault was injected do not end it. With no
        missed probe it is the longest silence from the last answer before the
        fault on: a probe that hung through a failover and then succeeded
        misses nothing, yet nobody was answered meanwhile (about one probe
        interval when nothing happened).
        """
        first_miss = next((t for t, ok in self.samples if t >= fault_at and not ok), None)
        if first_miss is None:
            before = [t for t, ok in self.samples if ok and t < fault_at]
            answers = before[-1:] + [t for t, ok in self.samples if ok and t >= fault_at]
            if len(answers) < 2:
                return (answers[0] if answers else None, None)
            return max(zip(answers, answers[1:]), key=lambda gap: gap[1] - gap[0])
        before = [t for t, ok in self.samples if ok and t < first_miss]
        after = [t for t, ok in self.samples if ok and t > first_miss]
        return (before[-1] if before else None, after[0] if after else None)

    def answered_since(self, t: float) -> bool:
        return any(ok for ts, ok in self.samples if ts > t)


class Pinger:
    """Samples ``address`` from network namespace ``netns`` until stopped."""

    def __init__(self, netns: str, address: str):
        self.timeline = Timeline()
        self._proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, "ping", "-D", "-O", "-n", "-i", str(INTERVAL_S),
             "-W", "1", address],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            match = _LINE.match(line.strip())
            if match:
                rest = match["rest"]
                if "bytes from" in rest or "no answer yet" in rest:
                    self.timeline.samples.append((float(match["ts"]), "bytes from" in rest))

    def stop(self) -> Timeline:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._reader.join(timeout=5)
        return self.timeline
