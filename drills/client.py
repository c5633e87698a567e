"""The parent side of the workload: start it in the client namespace, collect its events.

The child (:mod:`pacemail.drills.workload`) streams timestamped JSON events;
they are kept in arrival order in ``events``. ``stop`` asks it to stop
sending new messages (it still finishes a message it is retrying) and waits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from pacemail.proc import CommandError, run


def _argv(netns: str, mode: str, address: str, run_id: str, extra: list[str]) -> list[str]:
    return (["ip", "netns", "exec", netns, sys.executable, "-m", "pacemail.drills.workload",
             mode, "--address", address, "--run-id", run_id] + extra)


class Workload:
    """SMTP sender + IMAP reader against ``address``, from network namespace ``netns``."""

    def __init__(self, netns: str, address: str, run_id: str, *, messages: int = 2000,
                 duration: float = 300.0, interval: float = 0.1):
        self.events: list[dict] = []
        self._proc = subprocess.Popen(
            _argv(netns, "run", address, run_id,
                  ["--messages", str(messages), "--duration", str(duration),
                   "--interval", str(interval)]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, start_new_session=True)  # Ctrl-C reaches the drill, not the child
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    def accepted(self) -> int:
        return sum(1 for e in list(self.events) if e["ev"] == "smtp" and e["ok"])

    def answered_since(self, service: str, t: float) -> bool:
        return any(e["ev"] == service and e["ok"] and e["t"] > t for e in list(self.events))

    def stop(self, timeout: float = 40.0) -> list[dict]:
        """Stop sending; wait (bounded) for the retries in flight; return every event."""
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write("stop\n")
                self._proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._reader.join(timeout=5)
        return list(self.events)


def mailbox(netns: str, address: str, run_id: str, timeout: float = 20.0) -> list[int]:
    """Message numbers of ``run_id`` in the inbox (read over IMAP from ``netns``)."""
    out = run(_argv(netns, "verify", address, run_id, []), timeout=timeout, check=False).stdout
    for line in out.splitlines():
        event = json.loads(line)
        if event.get("ev") == "mailbox" and event.get("ok"):
            return event["numbers"]
    raise CommandError(["workload verify"], 1, out, "the inbox could not be read")


def settle_mailbox(netns: str, address: str, run_id: str, accepted: set[int],
                   wait_s: float = 30.0) -> list[int]:
    """Read the inbox until every accepted message is in it or ``wait_s`` passed (queues drain)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            numbers = mailbox(netns, address, run_id)
            if accepted <= set(numbers) or time.monotonic() >= deadline:
                return numbers
        except CommandError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(1.0)
