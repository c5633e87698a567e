"""Where a tool call runs: a :class:`Runner` takes the argv and runs it on some cluster node.

The default, :func:`local`, is this machine's cluster; :func:`cib_file` points
cibadmin and crm_mon at a CIB file instead, the lab passes one that runs the
tool inside a lab node, the VM drills one that runs it over ssh. The offline
tools (crm_verify, crm_simulate) read files written here, so they take only a
runner that runs on this machine.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pacemail.proc import CommandError, run


class Runner(Protocol):
    """:func:`pacemail.proc.run`'s shape: the completed process, CommandError on failure with
    ``check``."""

    def __call__(self, argv: Sequence[str], *, timeout: float, check: bool = True,
                 input: str | None = None) -> subprocess.CompletedProcess: ...


local: Runner = run


def cib_file(path: str | Path) -> Runner:
    """A runner whose cibadmin and crm_mon read and write the CIB file ``path`` (``CIB_file``)."""
    return functools.partial(run, env=dict(os.environ, CIB_file=str(path)))


def capped(run: Runner, limit: float) -> Runner:
    """``run`` with no call allowed more than ``limit`` seconds.

    For the controller daemon: pacemakerd kills a CIB manager that has not
    answered its liveness checks for about 30 s, so a cycle that waits as long
    on a hung one learns nothing sooner than the cluster does.
    """
    def run_capped(argv, *, timeout: float, **kwargs):
        return run(argv, timeout=min(timeout, limit), **kwargs)
    return run_capped


def failed(done: subprocess.CompletedProcess) -> CommandError:
    """The error for a call run with ``check=False`` whose exit code is no answer."""
    return CommandError(done.args, done.returncode, done.stdout, done.stderr)


def output(done: subprocess.CompletedProcess) -> bytes:
    """A tool's standard output as the bytes it wrote (undecodable bytes kept)."""
    return done.stdout.encode("utf-8", "surrogateescape")
