"""A daemon instance's processes: its master from a pid file, checked in /proc, and its members.

Several instances of one daemon (postfix -c A, postfix -c B) run the same
binaries, so an instance is told apart by where its processes work: the
master named in the instance's own pid file, checked to be that program
with its working directory under the instance's own directory (postfix:
the queue directory; dovecot: base_dir), and its members: the master's
children, and processes of the same program directory working under that
directory (orphans a killed master left). The monitor path reads /proc
only; :func:`members` and :func:`stop` import psutil.
"""

from __future__ import annotations

import os

KILL_WAIT_S = 2.0  # after SIGKILL only the kernel is left to wait for


def read_pid(path: str) -> int | None:
    """The pid in a pid file (first number, surrounding blanks ignored), or None."""
    try:
        with open(path, "rb") as f:
            text = f.read(64).split()
        return int(text[0]) if text and text[0].isdigit() else None
    except (OSError, ValueError):
        return None


def under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def program(pid: int) -> str | None:
    """Basename of the process's argv[0], e.g. master (postfix) or dovecot."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read(4096).split(b"\0", 1)[0]
    except OSError:
        return None
    return os.path.basename(argv0.split(b" ", 1)[0]).decode("utf-8", "surrogateescape") or None


def cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def is_master(pid: int | None, name: str, top: str) -> bool:
    """Whether ``pid`` runs program ``name`` with its working directory under ``top`` (a real path)."""
    if not pid or pid == os.getpid():
        return False
    where = cwd(pid)
    return where is not None and under(where, top) and program(pid) == name


def members(master: int | None, top: str, bindir: str) -> list:
    """psutil Processes of the instance: ``master``, its children, and programs in ``bindir``
    working under ``top`` (orphans of a master that died)."""
    import psutil
    me, found = os.getpid(), []
    for p in psutil.process_iter(["ppid", "exe", "cwd", "name"]):
        info = p.info
        if p.pid == me:
            continue
        if master and (p.pid == master or info["ppid"] == master):
            found.append(p)
        elif info["cwd"] and under(info["cwd"], top) and info["exe"] and \
                os.path.dirname(info["exe"]) == bindir.rstrip("/"):
            found.append(p)
    return found



def stop(ctx, what: str, commands, find, grace: float) -> None:
    """Stop an instance in bounded steps: each argv of ``commands`` in turn while its master
    runs, waiting up to ``grace`` after each, then SIGKILL to what is left.

    ``find()`` returns (master pid or None, member processes). Each wait is
    capped at a third of the time left, so the escalation fits the stop
    timeout. OCFError(1) if anything survives SIGKILL.
    """
    import signal
    from pacemail.agents.holders import describe, signal_and_wait, wait_gone
    from pacemail.agents.ocf import OCF_ERR_GENERIC, OCFError
    from pacemail.proc import CommandError
    for argv in commands:
        master, procs = find()
        if not procs:
            return
        if master is None:
            break  # no master to ask: its orphans get SIGKILL
        ctx.log.info(f"{what}: {os.path.basename(argv[0])} {argv[-1]} ({describe(procs)})")
        try:
            ctx.run(argv, timeout=max(1.0, ctx.remaining() / 3), check=False)
        except CommandError as exc:
            ctx.log.warning(f"{what}: {exc}")
        wait_gone(procs, min(grace, ctx.remaining() / 3))
    procs = find()[1]
    if procs:
        ctx.log.warning(f"sending SIGKILL to what is left of {what}: {describe(procs)}")
        signal_and_wait(procs, signal.SIGKILL, min(KILL_WAIT_S, ctx.remaining()))
    left = find()[1]
    if left:
        raise OCFError(OCF_ERR_GENERIC, f"{what} still runs after SIGKILL: {describe(left)}")
