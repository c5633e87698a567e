"""Every lab on this machine, found from what exists rather than from what was recorded.

A run killed half-way through ``lab up`` may leave namespaces, processes or
loop devices without a state file, or a state directory without processes;
so a lab is any name seen in one of: a state directory, a network namespace
``pml-NAME-*``, a switch daemon, a loop device backed by a file of its
directory. ``lab list`` and ``doctor`` show these; ``lab down --all`` and
``doctor --clean`` remove those no live run holds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from pacemail import namespaces
from pacemail.lab import power, provision
from pacemail.lab.topology import STATE_ROOT, lab_of_netns, lock_name
from pacemail.hostres import disk_usage
from pacemail.runlock import holder


@dataclass
class LabRecord:
    name: str
    recorded: bool                 # state.json exists: `lab up` got as far as saving it
    size: int | None
    namespaces: list[str] = field(default_factory=list)
    processes: int = 0             # in its namespaces, plus the switch daemon
    loops: list[str] = field(default_factory=list)
    disk_bytes: int = 0
    holder: dict | None = None     # the live run holding its lock, if any

    @property
    def alive(self) -> bool:
        return self.processes > 0

    def as_dict(self) -> dict:
        return {**asdict(self), "alive": self.alive}


def find() -> list[LabRecord]:
    """Every lab on this machine, by name."""
    spaces = namespaces.names()
    loops = provision.loops_under(STATE_ROOT)
    names = set(_state_dirs()) | {n for n in map(lab_of_netns, spaces) if n}
    daemons = power.lab_daemons()
    names |= set(daemons)
    names |= {_lab_of_path(back) for back in loops.values()} - {None}
    return [_record(name, spaces, loops, daemons) for name in sorted(names)]


def _record(name: str, spaces: list[str], loops: dict[str, str],
            daemons: dict[str, list[int]]) -> LabRecord:
    lab_dir = STATE_ROOT / name
    try:
        size = json.loads((lab_dir / "state.json").read_text()).get("size")
        recorded = True
    except (OSError, ValueError):
        size, recorded = None, False
    mine = [ns for ns in spaces if lab_of_netns(ns) == name]
    pids = {p for ns in mine for p in namespaces.pids(ns)} | set(daemons.get(name, []))
    return LabRecord(
        name=name, recorded=recorded, size=size, namespaces=mine, processes=len(pids),
        loops=sorted(dev for dev, back in loops.items() if _lab_of_path(back) == name),
        disk_bytes=disk_usage(lab_dir), holder=holder(lock_name(name)))


def _state_dirs() -> list[str]:
    if not STATE_ROOT.is_dir():
        return []
    return [p.name for p in STATE_ROOT.iterdir() if p.is_dir()]


def _lab_of_path(path: str) -> str | None:
    root = str(STATE_ROOT) + "/"
    return path[len(root):].split("/", 1)[0] if path.startswith(root) else None
