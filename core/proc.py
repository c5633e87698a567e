"""Running external commands: argv lists only, never a shell, always a timeout.

Every subprocess pacemail starts goes through :func:`run`, so the rules hold in
one place: arguments are a list (a parameter can never be parsed by a shell),
the call is bounded in time, and a failure carries the command, its exit code
and the tail of its stderr, ready for an OCF exit reason or a CLI error.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence


class CommandError(Exception):
    """An external command failed, could not be started or ran out of time."""

    def __init__(self, argv: Sequence[str], returncode: int | None,
                 stdout: str = "", stderr: str = "", timeout: float | None = None):
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timeout = timeout
        super().__init__(self._describe())

    def _describe(self) -> str:
        name = self.argv[0] if self.argv else "?"
        if self.timeout is not None:
            return f"{name} timed out after {self.timeout:.1f}s"
        if self.returncode is None:
            return f"{name} could not be started: {self.stderr}"
        tail = (self.stderr or self.stdout).strip().splitlines()
        detail = f": {tail[-1]}" if tail else ""
        return f"{name} exited {self.returncode}{detail}"


def run(argv: Sequence[str], *, timeout: float, input: str | None = None,
        check: bool = True, env: Mapping[str, str] | None = None,
        cwd: str | None = None, capture: bool = True) -> subprocess.CompletedProcess:
    """Run ``argv`` and return the completed process (text, undecodable bytes escaped).

    Raises :class:`CommandError` when the command cannot start, exceeds
    ``timeout`` seconds, or (with ``check``) exits non-zero. ``capture=False``
    sends its output to /dev/null instead: for a command that leaves a daemon
    holding its stdout/stderr, whose end would never come.
    """
    if timeout <= 0:
        raise CommandError(argv, None, timeout=0.0)
    try:
        done = subprocess.run(
            list(argv), input=input, text=True,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
            errors="surrogateescape", timeout=timeout, env=env, cwd=cwd,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandError(argv, None, _text(exc.stdout), _text(exc.stderr),
                           timeout=timeout) from None
    except OSError as exc:
        raise CommandError(argv, None, stderr=str(exc)) from None
    if check and done.returncode != 0:
        raise CommandError(argv, done.returncode, done.stdout, done.stderr)
    return done


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "surrogateescape")
    return data
