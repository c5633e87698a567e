"""Whether this machine can boot the Vagrant cluster (and may: PACEMAIL_VAGRANT_DRILL=1).

Shared by the VM tests: each skips with the first reason found, never silently.
"""

from __future__ import annotations

import os
import shutil

from pacemail.proc import CommandError, run
from pacemail.vms import build, paths

TOOLS = ("vagrant", "virsh", "libvirtd", "virtlogd", "qemu-system-x86_64", "qemu-img", "ip")
OPT_IN = "PACEMAIL_VAGRANT_DRILL"


def unavailable(environ=os.environ) -> str | None:
    """Why the VM cluster cannot (or must not) boot here, or None."""
    if os.geteuid() != 0:
        return "needs root (a network namespace with libvirtd in it)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} (./bootstrap.sh installs them)"
    try:
        plugins = run(["vagrant", "plugin", "list"], timeout=120, check=False).stdout
        probe = run(["qemu-system-x86_64", "-version"], timeout=60, check=False)
    except CommandError as exc:
        return f"vagrant or qemu does not answer: {exc}"
    if "vagrant-libvirt" not in plugins:
        return "needs the vagrant-libvirt plugin (Debian package vagrant-libvirt)"
    if probe.returncode != 0:
        return f"qemu-system-x86_64 is not usable: {probe.stderr.strip()[-200:]}"
    if build.cached_box() is None:
        return ("no box cached for the current inputs under "
                f"{paths.cache_dir()}: run `pacemail vagrant box build` first")
    if environ.get(OPT_IN) != "1":
        return (f"set {OPT_IN}=1 to boot three TCG VMs for the drill (9-11 min of both "
                "cores end to end; with the default suite's ~15 min that leaves CI's 30 min "
                "no margin, so not by default)")
    if not os.path.exists("/usr/sbin/sshd"):
        return ("needs /usr/sbin/sshd (openssh-server): fence_virsh in the VMs logs in to "
                "the namespace's sshd, and without fencing no failover completes")
    return None
