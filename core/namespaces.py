"""Network namespaces by name (``ip netns``): the labs' and the VM side's, one adapter.

Both find what a run left from the namespace alone: its processes (``ip netns
pids``, what a clean-up kills) and the namespace itself (what it deletes last).
"""

from __future__ import annotations

from pacemail.proc import run

TIMEOUT = 10.0


def names(timeout: float = TIMEOUT) -> list[str]:
    """Every named network namespace on the machine."""
    out = run(["ip", "netns", "list"], timeout=timeout).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def pids(name: str, timeout: float = TIMEOUT, check: bool = False) -> list[int]:
    """The processes in namespace ``name``."""
    out = run(["ip", "netns", "pids", name], timeout=timeout, check=check).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def delete(name: str, timeout: float = TIMEOUT, check: bool = False) -> None:
    run(["ip", "netns", "delete", name], timeout=timeout, check=check)
