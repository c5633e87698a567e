"""pacemail's own network namespace for Vagrant here: libvirtd and virtlogd run inside it.

Everything libvirt makes for the VMs (bridges, dnsmasq, firewall rules, tap
devices) then exists in this namespace only, and the VMs have no way out:
the management network is 198.18.0.0/25 without NAT (PACEMAIL_ISOLATED=1).
The daemons are started by hand (there is no systemd as PID 1) and stopped
by the PIDs in their pid files, after checking they run in this namespace.

Fencing: the VMs' ``fence_virsh`` logs in over ssh to the host side of the
private network (198.18.1.1) and runs ``virsh destroy``/``start``. So, where
openssh-server is installed, an sshd of our own runs in the namespace too:
its own configuration, host key and authorized key under
:func:`pacemail.vms.paths.state_dir` (the machine's sshd configuration is
never read), key-only root login from the VMs' networks, reachable from
nowhere but this namespace. ``pacemail vagrant run`` hands the private half
of that key to the Vagrantfile (PACEMAIL_FENCE_KEY).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from pacemail import namespaces
from pacemail.proc import CommandError, run
from pacemail.runlock import hold
from pacemail.vms import paths
from pacemail.vms.deadline import Deadline

NETNS = "pmv-vagrant"
LIBVIRTD_PID = Path("/run/libvirtd.pid")
DAEMONS = (("virtlogd", Path("/run/virtlogd.pid")), ("libvirtd", LIBVIRTD_PID))
SOCKET = Path("/run/libvirt/libvirt-sock")
POOL_DIR = "/var/lib/libvirt/images"
STEP_S = 30.0
# `net up` takes a few seconds; libvirtd's first answer (its probe of qemu) can take
# 10 s or more on a loaded machine.
UP_S = 90.0
# `net down` took 5.7 s here; each daemon is given up to 30 s to stop.
DOWN_S = 60.0
SSHD = Path("/usr/sbin/sshd")
SSHD_PID = Path("/run/pacemail-vagrant-sshd.pid")
FENCE_FROM = "198.18.0.0/15"  # the VMs' management and private networks


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


def libvirtd_up() -> bool:
    """Whether our libvirtd runs in the namespace (someone else's libvirtd does not count)."""
    try:
        return pid_in_netns(LIBVIRTD_PID) is not None
    except RuntimeError:
        return False


def virsh(args: list[str], timeout: float = 60.0, check: bool = True):
    """``virsh args`` against the namespace's libvirtd."""
    return run(["ip", "netns", "exec", NETNS, "virsh", "-c", "qemu:///system", *args],
               timeout=timeout, check=check)


def up(say=lambda m: None, wait: float = 0.0) -> None:
    """Create the namespace and start virtlogd, libvirtd and the default pool (idempotent).

    Holds the VM side's run lock (``wait`` seconds for another run); takes at most UP_S.
    """
    with hold(paths.LOCK, wait=wait):
        d = Deadline(UP_S, f"net up (netns {NETNS})")
        if not exists():
            run(["ip", "netns", "add", NETNS], timeout=d.left(STEP_S))
        run(["ip", "-n", NETNS, "link", "set", "lo", "up"], timeout=d.left(STEP_S))
        for name, pid_file in DAEMONS:
            if pid_in_netns(pid_file) is None:
                run(daemon_argv(name), timeout=d.left(STEP_S))
                say(f"started {name} in netns {NETNS}")
        _wait(SOCKET.exists, d.left(30), f"{SOCKET}")
        if virsh(["pool-info", "default"], timeout=d.left(STEP_S), check=False).returncode != 0:
            os.makedirs(POOL_DIR, exist_ok=True)
            virsh(["pool-define-as", "default", "dir", "--target", POOL_DIR],
                  timeout=d.left(STEP_S))
        if "running" not in virsh(["pool-info", "default"], timeout=d.left(STEP_S)).stdout:
            virsh(["pool-start", "default"], timeout=d.left(STEP_S))
        if not SSHD.exists():
            say(f"no {SSHD} (openssh-server): fence_virsh in the VMs cannot log in here, "
                "so no fencing and no failover can complete")
        elif pid_in_netns(SSHD_PID) is None:
            config = sshd_files(paths.state_dir(), d)
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            run(["ip", "netns", "exec", NETNS, str(SSHD), "-f", str(config)],
                timeout=d.left(STEP_S), capture=False)
            _wait(lambda: pid_in_netns(SSHD_PID) is not None, d.left(10), "sshd's pid file")
            say(f"started sshd in netns {NETNS} for fence_virsh (key {fence_key()})")


def daemon_argv(name: str) -> list[str]:
    """How ``name`` (virtlogd, libvirtd) starts in the namespace; libvirtd with /dev/kvm
    hidden in a mount namespace of its own (:mod:`pacemail.vms.nokvm`: without it libvirt
    re-probed qemu's capabilities on nearly every call)."""
    argv = ["ip", "netns", "exec", NETNS]
    if name == "libvirtd":
        argv += ["unshare", "--mount", "--propagation", "private",
                 sys.executable, "-m", "pacemail.vms.nokvm"]
    return argv + [name, "-d"]


def fence_key(state: Path | None = None) -> Path:
    """The private key the VMs' fence_virsh logs in with (made by :func:`sshd_files`)."""
    return (state or paths.state_dir()) / "fence_key"


def sshd_config(state: Path) -> str:
    return "\n".join([
        "# pacemail vagrant net up: sshd in netns pmv-vagrant, for fence_virsh in the VMs",
        "ListenAddress 0.0.0.0",
        "Port 22",
        f"HostKey {state / 'ssh_host_ed25519_key'}",
        f"AuthorizedKeysFile {state / 'authorized_keys'}",
        f"PidFile {SSHD_PID}",
        "PermitRootLogin prohibit-password",
        "AllowUsers root",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "AllowAgentForwarding no",
        "PermitTunnel no",
        "",
    ])


def sshd_files(state: Path, deadline: Deadline | None = None) -> Path:
    """Keys (made once, kept) and the configuration of our sshd; returns the config's path."""
    d = deadline or Deadline(2 * STEP_S, "sshd's keys")
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state, 0o700)
    for key, comment in ((state / "ssh_host_ed25519_key", "pacemail-vagrant-host"),
                         (fence_key(state), "pacemail-vagrant-fence")):
        if not key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                timeout=d.left(STEP_S))
    public = fence_key(state).with_suffix(".pub").read_text().strip()
    # fence_virsh wants a terminal (ssh -t): restrict, then allow just that.
    (state / "authorized_keys").write_text(f'from="{FENCE_FROM}",restrict,pty {public}\n')
    os.chmod(state / "authorized_keys", 0o600)
    config = state / "sshd_config"
    config.write_text(sshd_config(state))
    return config


def down(say=lambda m: None, wait: float = 0.0) -> None:
    """Stop our sshd, libvirtd and virtlogd, then delete the namespace; refused while other
    processes (VMs) run in it (:func:`pacemail.vms.inventory.clean` removes those too).

    Holds the VM side's run lock (``wait`` seconds for another run); takes at most DOWN_S.
    """
    with hold(paths.LOCK, wait=wait):
        if not exists():
            return
        d = Deadline(DOWN_S, f"net down (netns {NETNS})")
        stop_daemons(say, d)
        left = pids(d.left(STEP_S))
        if left:
            raise RuntimeError(f"processes still in netns {NETNS}: {' '.join(map(str, left))} "
                               "(VMs? `pacemail vagrant run -- destroy -f` first)")
        delete(d.left(STEP_S))
        say(f"deleted netns {NETNS}")


def stop_daemons(say, deadline: Deadline) -> list[str]:
    """SIGTERM to our sshd, libvirtd and virtlogd (by their pid files, only where they run in
    this namespace), each waited for; what was stopped."""
    stopped = []
    for name, pid_file in (("sshd", SSHD_PID), *reversed(DAEMONS)):
        pid = pid_in_netns(pid_file)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            _wait(lambda: not Path(f"/proc/{pid}").exists(), deadline.left(30),
                  f"{name} ({pid}) to stop")
            stopped.append(f"stopped {name} ({pid})")
            say(stopped[-1])
    return stopped


def pids(timeout: float = STEP_S) -> list[int]:
    """The processes in the namespace (none when it does not exist)."""
    return namespaces.pids(NETNS, timeout, check=True) if exists() else []


def delete(timeout: float = STEP_S) -> None:
    namespaces.delete(NETNS, timeout, check=True)


def _wait(probe, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() >= deadline:
            raise CommandError([what], None, timeout=timeout)
        time.sleep(0.2)
