"""``pacemail doctor``: everything pacemail holds on this machine, and its clean-up.

pacemail is a guest on its users' machines: labs (namespaces, processes, loop
devices, state directories), the Vagrant side (VMs, libvirt domains and pool
volumes, the namespace and its daemons, the box cache and the mounts a build
makes in it), the OCF launchers and the lab fence agent it installs. The
census reads them all; :func:`clean` removes whatever no live run holds, in
an order that never strands anything: labs and VMs first (each through its
own lock, so a run in progress is skipped and named), VMs before libvirtd,
mounts before the directories under them, and launchers only when the
checkout they run has gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pacemail import hostres
from pacemail.agents import NAMES
from pacemail.agents.install import agent_path, alert_path, default_root, launcher_target
from pacemail.lab import inventory, lifecycle
from pacemail.lab.topology import STATE_ROOT, lock_name
from pacemail.runlock import Busy, holder
from pacemail.vms import inventory as vm_inventory


@dataclass
class Census:
    labs: list[inventory.LabRecord]
    vms: dict
    launchers: list[dict]
    caches: dict[str, int]
    free_disk: int
    mem_available: int
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"labs": [r.as_dict() for r in self.labs], "vms": self.vms,
                "launchers": self.launchers, "caches": self.caches,
                "free_disk": self.free_disk, "mem_available": self.mem_available,
                "notes": self.notes}


def census() -> Census:
    labs = inventory.find()
    vms = vm_inventory.census()
    caches = {str(STATE_ROOT): sum(r.disk_bytes for r in labs), **vms.get("disk", {})}
    return Census(labs=labs, vms=vms, launchers=launchers(), caches=caches,
                  free_disk=hostres.free_bytes("/"), mem_available=hostres.mem_available())


def launchers() -> list[dict]:
    """Each installed pacemail executable and the checkout it runs (gone: a stale launcher)."""
    found = []
    paths = [agent_path(default_root(), n) for n in NAMES] + [alert_path(default_root()),
                                                              lifecycle.FENCE_AGENT_PATH]
    for path in paths:
        if not path.exists():
            continue
        target = launcher_target(path)
        found.append({"path": str(path), "runs": target,
                      "stale": target is None or not Path(target).is_file()})
    return found


def clean(labs: list[str] | None = None, vms: bool | None = None,
          say=lambda m: None) -> list[str]:
    """Remove what no live run holds; returns what is still held (one line each, the holder
    named). With ``labs`` (names) or ``vms``, just those: how a test run cleans its own."""
    everything = labs is None and not vms
    held = []
    for record in inventory.find() if everything or labs else []:
        if labs and record.name not in labs:
            continue
        who = holder(lock_name(record.name))
        if who is not None:   # even this run's own: the doctor never takes a lab from a run
            held.append(f"lab {record.name}: in use by PID {who.get('pid')} "
                        f"({who.get('cmdline', '')})")
            continue
        try:
            for item in lifecycle.down(record.name):
                say(f"lab {record.name}: removed {item}")
        except Busy as exc:
            held.append(str(exc))
    if everything or vms:
        try:
            vm_inventory.clean(say=say)
        except Busy as exc:
            held.append(str(exc))
    if everything:
        for launcher in launchers():
            if launcher["stale"]:
                Path(launcher["path"]).unlink(missing_ok=True)
                say(f"removed {launcher['path']} (its checkout {launcher['runs']} is gone)")
    return held


def render(found: Census) -> list[str]:
    """One screen of text, most important first: what runs, what is left over, what it costs."""
    h = hostres.human
    lines = [f"free disk {h(found.free_disk)} on /, MemAvailable {h(found.mem_available)}"]
    lines.append(f"labs ({len(found.labs)}):" if found.labs else "labs: none")
    for r in found.labs:
        state = "up" if r.alive and r.recorded else "leftovers" if not r.alive else "half-made"
        who = ("free" if r.holder is None
               else f"in use by PID {r.holder.get('pid')} ({r.holder.get('cmdline', '')[:50]})")
        lines.append(f"  {r.name:12} {state:9} {r.processes} processes, "
                     f"namespaces {' '.join(r.namespaces) or '-'}, loops {' '.join(r.loops) or '-'},"
                     f" {h(r.disk_bytes)}; {who}")
    lines += vm_inventory.describe(found.vms)
    lines.append("launchers:" if found.launchers else "launchers: none installed")
    for item in found.launchers:
        runs = str(Path(item["runs"]).parent) if item["runs"] else "?"
        lines.append(f"  {item['path']} runs pacemail from {runs}"
                     f"{'  STALE (checkout gone)' if item['stale'] else ''}")
    lines.append("disk used: " + ", ".join(f"{path} {h(n)}" for path, n in found.caches.items()))
    lines += found.notes
    return lines
