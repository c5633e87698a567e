"""pacemail's own network namespace for Vagrant here: libvirtd and virtlogd run inside it.

Everything libvirt makes for the VMs (bridges, dnsmasq, firewall rules, tap
devices) then exists in this namespace only, and the VMs have no way out:
the management network is 198.18.0.0/25 without NAT (PACEMAIL_ISOLATED=1).
The daemons are started by hand (there is no systemd as PID 1) and stopped
by the PIDs in their pid files, after checking they run in this namespace.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from pacemail.proc import CommandError, run

NETNS = "pmv-vagrant"
DAEMONS = (("virtlogd", Path("/run/virtlogd.pid")), ("libvirtd", Path("/run/libvirtd.pid")))
SOCKET = Path("/run/libvirt/libvirt-sock")
POOL_DIR = "/var/lib/libvirt/images"
STEP_S = 30.0


def exists() -> bool:
    return Path(f"/run/netns/{NETNS}").exists()


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def pid_in_netns(pid_file: Path) -> int | None:
    """The live PID in ``pid_file`` if that process runs in our namespace; None if none runs.

    Raises RuntimeError when it runs elsewhere (someone else's libvirtd).
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    net = _inode(f"/proc/{pid}/ns/net")
    if net is None:
        return None
    if net != _inode(f"/run/netns/{NETNS}"):
        raise RuntimeError(f"{pid_file}: PID {pid} runs outside netns {NETNS}; not touching it")
    return pid


def up(say=lambda m: None) -> None:
    """Create the namespace and start virtlogd, libvirtd and the default pool (idempotent)."""
    if not exists():
        run(["ip", "netns", "add", NETNS], timeout=STEP_S)
    run(["ip", "-n", NETNS, "link", "set", "lo", "up"], timeout=STEP_S)
    for name, pid_file in DAEMONS:
        if pid_in_netns(pid_file) is None:
            run(["ip", "netns", "exec", NETNS, name, "-d"], timeout=STEP_S)
            say(f"started {name} in netns {NETNS}")
    _wait(SOCKET.exists, 30, f"{SOCKET}")
    virsh = ["ip", "netns", "exec", NETNS, "virsh", "-c", "qemu:///system"]
    if run([*virsh, "pool-info", "default"], timeout=STEP_S, check=False).returncode != 0:
        os.makedirs(POOL_DIR, exist_ok=True)
        run([*virsh, "pool-define-as", "default", "dir", "--target", POOL_DIR], timeout=STEP_S)
    state = run([*virsh, "pool-info", "default"], timeout=STEP_S).stdout
    if "running" not in state:
        run([*virsh, "pool-start", "default"], timeout=STEP_S)


def down(say=lambda m: None) -> None:
    """Stop our libvirtd and virtlogd (by their PIDs), then delete the namespace."""
    if not exists():
        return
    for name, pid_file in reversed(DAEMONS):
        pid = pid_in_netns(pid_file)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            _wait(lambda: not Path(f"/proc/{pid}").exists(), 30, f"{name} ({pid}) to stop")
            say(f"stopped {name} ({pid})")
    left = run(["ip", "netns", "pids", NETNS], timeout=STEP_S).stdout.split()
    if left:
        raise RuntimeError(f"processes still in netns {NETNS}: {' '.join(left)} "
                           "(VMs? `pacemail vagrant run -- destroy -f` first)")
    run(["ip", "netns", "del", NETNS], timeout=STEP_S)
    say(f"deleted netns {NETNS}")


def _wait(probe, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() >= deadline:
            raise CommandError([what], None, timeout=timeout)
        time.sleep(0.2)
