"""Whether this machine can boot the Vagrant cluster, and whether a test run has time to.

Shared by the VM tests: each skips with the first reason found, never silently.
PACEMAIL_VAGRANT_DRILL=0 keeps the VMs off; =1 boots them whatever the budget.
"""

from __future__ import annotations

import os
import shutil

from pacemail.proc import CommandError, run
from pacemail.vms import build, paths

TOOLS = ("vagrant", "virsh", "libvirtd", "virtlogd", "qemu-system-x86_64", "qemu-img", "ip")
SWITCH = "PACEMAIL_VAGRANT_DRILL"
# CI stops at 30 min; on a machine with the box cached (so bootstrap.sh installs
# nothing) bootstrap took 13-14 s here; the rest is the test run's.
CI_BUDGET_S = 28 * 60
# Boot in parallel, one power-off drill, destroy: 6.7-7.6 min in four CI runs on two
# cores; 10 min leaves a margin.
DRILL_WORST_S = 10 * 60


def unavailable(environ=os.environ) -> str | None:
    """Why the VM cluster cannot (or must not) boot here, or None."""
    if environ.get(SWITCH) == "0":
        return f"{SWITCH}=0"
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
    if not os.path.exists("/usr/sbin/sshd"):
        return ("needs /usr/sbin/sshd (openssh-server): fence_virsh in the VMs logs in to "
                "the namespace's sshd, and without fencing no failover completes")
    return None


def over_budget(elapsed_s: float, environ=os.environ) -> str | None:
    """Why a drill starting ``elapsed_s`` into a test run would take CI past its budget."""
    if environ.get(SWITCH) == "1" or elapsed_s + DRILL_WORST_S <= CI_BUDGET_S:
        return None
    return (f"the run is {elapsed_s / 60:.1f} min in; a VM drill (up to "
            f"{DRILL_WORST_S // 60} min) would take it past {CI_BUDGET_S // 60} min "
            f"({SWITCH}=1 runs it anyway)")
