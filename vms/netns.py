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

from pacemail.proc import CommandError, run
from pacemail.vms import paths

NETNS = "pmv-vagrant"
DAEMONS = (("virtlogd", Path("/run/virtlogd.pid")), ("libvirtd", Path("/run/libvirtd.pid")))
SOCKET = Path("/run/libvirt/libvirt-sock")
POOL_DIR = "/var/lib/libvirt/images"
STEP_S = 30.0
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


def up(say=lambda m: None) -> None:
    """Create the namespace and start virtlogd, libvirtd and the default pool (idempotent)."""
    if not exists():
        run(["ip", "netns", "add", NETNS], timeout=STEP_S)
    run(["ip", "-n", NETNS, "link", "set", "lo", "up"], timeout=STEP_S)
    for name, pid_file in DAEMONS:
        if pid_in_netns(pid_file) is None:
            run(daemon_argv(name), timeout=STEP_S)
            say(f"started {name} in netns {NETNS}")
    _wait(SOCKET.exists, 30, f"{SOCKET}")
    virsh = ["ip", "netns", "exec", NETNS, "virsh", "-c", "qemu:///system"]
    if run([*virsh, "pool-info", "default"], timeout=STEP_S, check=False).returncode != 0:
        os.makedirs(POOL_DIR, exist_ok=True)
        run([*virsh, "pool-define-as", "default", "dir", "--target", POOL_DIR], timeout=STEP_S)
    state = run([*virsh, "pool-info", "default"], timeout=STEP_S).stdout
    if "running" not in state:
        run([*virsh, "pool-start", "default"], timeout=STEP_S)
    if not SSHD.exists():
        say(f"no {SSHD} (openssh-server): fence_virsh in the VMs cannot log in here, "
            "so no fencing and no failover can complete")
    elif pid_in_netns(SSHD_PID) is None:
        config = sshd_files(paths.state_dir())
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        run(["ip", "netns", "exec", NETNS, str(SSHD), "-f", str(config)], timeout=STEP_S,
            capture=False)
        _wait(lambda: pid_in_netns(SSHD_PID) is not None, 10, "sshd's pid file")
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


def sshd_files(state: Path) -> Path:
    """Keys (made once, kept) and the configuration of our sshd; returns the config's path."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state, 0o700)
    for key, comment in ((state / "ssh_host_ed25519_key", "pacemail-vagrant-host"),
                         (fence_key(state), "pacemail-vagrant-fence")):
        if not key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                timeout=STEP_S)
    public = fence_key(state).with_suffix(".pub").read_text().strip()
    # fence_virsh wants a terminal (ssh -t): restrict, then allow just that.
    (state / "authorized_keys").write_text(f'from="{FENCE_FROM}",restrict,pty {public}\n')
    os.chmod(state / "authorized_keys", 0o600)
    config = state / "sshd_config"
    config.write_text(sshd_config(state))
    return config


def down(say=lambda m: None) -> None:
    """Stop our libvirtd and virtlogd (by their PIDs), then delete the namespace."""
    if not exists():
        return
    for name, pid_file in (("sshd", SSHD_PID), *reversed(DAEMONS)):
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
