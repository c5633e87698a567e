"""Commands in the Vagrant VMs and on their hypervisor, from this machine, bounded in time.

``vagrant ssh`` costs seconds of Ruby per call; instead ``vagrant ssh-config``
is read once (per run of vagrant, kept under the state directory) and plain
``ssh -F`` runs in pacemail's network namespace, where the VMs' management
network is. The command line a guest runs is quoted with :func:`shlex.join`
(ssh hands the remote side one string, which its shell splits again).
Power is ``virsh`` against the namespace's libvirtd: ``destroy`` is a hard
power-off (qemu killed), what the drills and fence_virsh do.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pacemail.proc import CommandError, run
from pacemail.vms import netns, paths, vagrantcmd
from pacemail.vms.netns import virsh

SSH_CONFIG_S = 180.0
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
               "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")


def ssh_config_file(state: Path | None = None) -> Path:
    return (state or paths.state_dir()) / "ssh_config"


def refresh_ssh_config(names: list[str] | None = None, state: Path | None = None) -> Path:
    """Write ``vagrant ssh-config`` of the running VMs (all, or ``names``) and return its path."""
    argv, env = vagrantcmd.isolated(["ssh-config", *(names or [])], int(SSH_CONFIG_S))
    done = run(argv, timeout=vagrantcmd.worst_s(SSH_CONFIG_S), env=env)
    target = ssh_config_file(state)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(done.stdout)
    return target


def ssh_argv(node: str, argv: list[str], config: Path | None = None) -> list[str]:
    """argv running ``argv`` as root on VM ``node`` over ssh, from inside the namespace."""
    config = config or ssh_config_file()
    return ["ip", "netns", "exec", netns.NETNS, "ssh", "-F", str(config), *SSH_OPTIONS,
            node, "--", shlex.join(argv)]


def guest(node: str, argv: list[str], timeout: float, check: bool = True,
          config: Path | None = None, input: str | None = None):
    """Run ``argv`` on ``node``; the completed process (CommandError on failure with check)."""
    return run(ssh_argv(node, argv, config), timeout=timeout, check=check, input=input)


def domain(node: str) -> str:
    return paths.DOMAIN_PREFIX + node


def power_state(node: str) -> str:
    """'running', 'shut off', ... as virsh domstate says it; 'absent' for no such domain."""
    try:
        return virsh(["domstate", domain(node)], timeout=30).stdout.strip()
    except CommandError:
        return "absent"


def destroy(node: str) -> None:
    """Hard power-off: libvirt kills the VM's qemu (no shutdown, no flush)."""
    virsh(["destroy", domain(node)], timeout=60)


def start(node: str) -> None:
    virsh(["start", domain(node)], timeout=120)


def proc_drbd(text: str, minor: int = 0) -> dict[str, str]:
    """cs/ro/ds of one minor in DRBD 8.4's /proc/drbd: {'cs': 'Connected', 'role': 'Primary',
    'peer_role': 'Secondary', 'disk': 'UpToDate', 'peer_disk': 'UpToDate'}; {} when absent."""
    for line in text.splitlines():
        head, _, rest = line.strip().partition(": ")
        if head != str(minor):
            continue
        fields = dict(f.split(":", 1) for f in rest.split() if ":" in f)
        role, _, peer_role = fields.get("ro", "").partition("/")
        disk, _, peer_disk = fields.get("ds", "").partition("/")
        return {"cs": fields.get("cs", ""), "role": role, "peer_role": peer_role,
                "disk": disk, "peer_disk": peer_disk}
    return {}
