"""Whether this machine can boot the Vagrant cluster, and whether a test run has time to.

Shared by the VM tests: each skips with the first reason found, never silently.
PACEMAIL_VAGRANT_DRILL=0 keeps the VMs off; =1 boots them whatever the budget.
A boot also needs the room: memory for each VM not running yet and disk in
libvirt's pool (:func:`room_to_boot`; ``pacemail vagrant run -- up`` asks too).
The VM drill's time is the sum of its phases' bounds, each named here or in
the module that enforces it, and used by ``tests/test_vagrant_drill.py``.
"""

from __future__ import annotations

import os
import shutil

from pacemail.hostres import GIB, free_bytes, human, mem_available
from pacemail.proc import CommandError, run
from pacemail.vms import build, inventory, netns, paths, vagrantcmd

TOOLS = ("vagrant", "virsh", "libvirtd", "virtlogd", "qemu-system-x86_64", "qemu-img", "ip")
SWITCH = "PACEMAIL_VAGRANT_DRILL"
NODES = ("node1", "node2", "node3")   # the Vagrantfile's VMs the drill boots
# CI's target for a whole test run, which the VM work's usual time must fit, and the
# line its worst case must stay under (CI kills a run at 90 min).
CI_BUDGET_S = 45 * 60
CI_LIMIT_S = 80 * 60
# Three VMs booted in parallel and provisioned: 3.5-4.1 min measured (four CI runs).
VAGRANT_UP_S = 600
# Connect, the box check and one power-off-active drill: 3-3.5 min in the CI runs
# (with the destroy: 195-216 s), 4-7 min standalone (the slowest before cluster.sh
# fixed DRBD's resync rate).
DRILL_S = 540
# `vagrant destroy -f` of the three: 10.7 s measured (Vagrant's own start included).
DESTROY_S = 180
DRILL_WORST_S = (netns.UP_S + vagrantcmd.worst_s(VAGRANT_UP_S) + DRILL_S
                 + vagrantcmd.worst_s(DESTROY_S) + netns.DOWN_S)
# What it usually takes: up 3.5-4.1 min, drill and destroy 3.3-3.6 min, nets 0.5 min.
DRILL_USUAL_S = 11 * 60
# The killed-boot test: `vagrant up` SIGKILLed at a random point up to KILL_BY_S (VMs
# defined, booting or provisioning), then `pacemail doctor --clean --vms`, bounded by CLEAN_S
# (it destroys and undefines three domains, deletes their disks, stops the daemons: 20-30 s).
KILL_BY_S = 150
CLEAN_S = 240
KILLED_BOOT_WORST_S = netns.UP_S + KILL_BY_S + CLEAN_S
KILLED_BOOT_USUAL_S = 4 * 60   # net up, a kill 5-150 s in (77 s on average), the clean 20-30 s
# Each VM's qemu used 830-890 MB of memory (512 MiB guest, 256 MiB TCG cache, qemu).
VM_MEMORY_B = int(0.9 * GIB)
# vagrant's Ruby during `up`, libvirtd, sshd and the drill's workload next to the VMs.
HOST_MARGIN_B = GIB // 2
# The box's volume (1.24 GB) and the VMs' disks: three root overlays that grow with
# what each VM writes, two DRBD disks of 512 MiB.
POOL_FREE_B = 4 * GIB


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
    return room_to_boot()


def boot_shortfall(vms: int, available: int, pool_free: int) -> str | None:
    """Why booting ``vms`` VMs with ``available`` bytes of memory and ``pool_free`` bytes
    free in libvirt's pool would overload this machine, or None."""
    if vms == 0:
        return None
    memory = vms * VM_MEMORY_B + HOST_MARGIN_B
    if available < memory:
        return (f"booting {vms} VM{'s' if vms > 1 else ''} needs {human(memory)} of memory "
                f"({human(VM_MEMORY_B)} each, {human(HOST_MARGIN_B)} for vagrant and "
                f"libvirtd); MemAvailable is {human(available)}")
    if pool_free < POOL_FREE_B:
        return (f"booting the VMs needs {human(POOL_FREE_B)} free under {netns.POOL_DIR} "
                f"(the box's volume and the VMs' disks); {human(pool_free)} free")
    return None


def room_to_boot(nodes: tuple[str, ...] | list[str] = NODES) -> str | None:
    """Why booting those of ``nodes`` not running yet would overload this machine, or None."""
    running = set(inventory.qemu_guests(inventory.processes()).values())
    to_boot = [n for n in nodes if paths.DOMAIN_PREFIX + n not in running]
    if not to_boot:
        return None
    return boot_shortfall(len(to_boot), mem_available(), free_bytes(netns.POOL_DIR))


def box_add_due() -> bool:
    """Whether a boot adds the cached box to Vagrant first (it is not the box added)."""
    found = build.cached_box()
    return found is not None and vagrantcmd.added_key() != build.current_key()


def over_budget(elapsed_s: float, environ=os.environ, adding_box: bool = False,
                killed_boot_first: bool = False) -> str | None:
    """Why a VM drill starting ``elapsed_s`` into a test run (adding the box to Vagrant
    first, when ``adding_box``; after the killed-boot test, with ``killed_boot_first``)
    would take CI past its budget (usual times) or near its limit (worst cases)."""
    add = vagrantcmd.BOX_ADD_S if adding_box else 0
    usual = DRILL_USUAL_S + add + (KILLED_BOOT_USUAL_S if killed_boot_first else 0)
    worst = DRILL_WORST_S + add + (KILLED_BOOT_WORST_S if killed_boot_first else 0)
    if environ.get(SWITCH) == "1":
        return None
    what = (f"{', a box add included' if adding_box else ''}"
            f"{', the killed-boot test before it' if killed_boot_first else ''}")
    if elapsed_s + usual > CI_BUDGET_S:
        return (f"the run is {elapsed_s / 60:.1f} min in; a VM drill (usually {usual / 60:.0f} "
                f"min{what}) would take it past {CI_BUDGET_S // 60} min "
                f"({SWITCH}=1 runs it anyway)")
    if elapsed_s + worst > CI_LIMIT_S:
        return (f"the run is {elapsed_s / 60:.1f} min in; a VM drill (up to {worst / 60:.0f} "
                f"min{what}) could take it past {CI_LIMIT_S // 60} min, near CI's limit "
                f"({SWITCH}=1 runs it anyway)")
    return None
