"""Power for lab nodes: boot one, pull its plug, tell whether it is on.

A node is on while its init (PID 1 of its PID namespace) lives. Pulling the
plug is SIGKILL to that init, which takes every process of the node with it,
followed by deleting the node's network namespace, so addresses it held (a
VIP) vanish with it exactly as with real hardware. Booting builds a fresh
network namespace and starts nodeinit in new namespaces.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pacemail import namespaces
from pacemail.hostres import processes
from pacemail.lab import net
from pacemail.lab.topology import Lab, Node

OFF_WAIT_S = 10.0
BOOT_WAIT_S = 10.0
UNSHARE = ["unshare", "--uts", "--mount", "--pid", "--fork", "--mount-proc"]


def boot(lab: Lab, node: Node) -> subprocess.Popen:
    """Power a node on; returns the process that holds its namespaces (reap it)."""
    if init_pid(lab.name, node.name):
        raise RuntimeError(f"{node.name} is already on")
    net.create_node_network(lab, node)
    log = open(lab.dir / f"{node.name}-console.log", "ab")
    argv = (["ip", "netns", "exec", node.netns] + UNSHARE +
            [sys.executable, "-m", "pacemail.lab.nodeinit", lab.name, node.name])
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, cwd="/")
    log.close()
    deadline = time.monotonic() + BOOT_WAIT_S
    while time.monotonic() < deadline:
        if init_pid(lab.name, node.name):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"{node.name} did not boot: see {lab.dir / (node.name + '-console.log')}")


def power_off(lab: Lab, node: Node) -> None:
    """Pull the plug: kill the node's init, wait until it is gone, drop its network."""
    pid = init_pid(lab.name, node.name)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + OFF_WAIT_S
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if alive(pid):
            raise RuntimeError(f"{node.name} (init pid {pid}) did not die within {OFF_WAIT_S}s")
    for stray in namespaces.pids(node.netns):  # e.g. an `ip netns exec` shell of an admin
        _kill(stray)
    namespaces.delete(node.netns)


def is_on(lab: Lab, node: Node) -> bool:
    return init_pid(lab.name, node.name) is not None


def init_pid(lab: str, node: str) -> int | None:
    """Host PID of the node's init, found from /proc so any process can ask."""
    for pid in pids_ending_with(["-m", "pacemail.lab.nodeinit", lab, node]):
        try:
            if _nspid(Path(f"/proc/{pid}")) == 1 and alive(pid):
                return pid
        except OSError:
            continue
    return None


def lab_daemons() -> dict[str, list[int]]:
    """Lab name -> PIDs of its switch daemon and node inits, from every process's command line.

    Finds a lab's processes even when its namespaces are gone (a killed ``up``).
    """
    found: dict[str, list[int]] = {}
    for pid, argv in processes():
        if argv[-3:-1] == ["-m", "pacemail.lab.switchd"]:
            name = argv[-1]
        elif argv[-4:-2] == ["-m", "pacemail.lab.nodeinit"]:
            name = argv[-2]
        else:
            continue
        found.setdefault(name, []).append(pid)
    return found


def pids_ending_with(args: list[str]) -> list[int]:
    """Processes whose command line ends with ``args`` (how the lab finds its own daemons)."""
    return [pid for pid, argv in processes() if argv[-len(args):] == args]


def _nspid(proc: Path) -> int | None:
    for line in (proc / "status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return None


def _state(proc: Path) -> str:
    stat = (proc / "stat").read_text()
    return stat[stat.rindex(")") + 2]


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie is dead (only its parent's wait is missing)."""
    try:
        return _state(Path(f"/proc/{pid}")) != "Z"
    except OSError:
        return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
