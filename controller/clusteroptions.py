"""Pacemaker's cluster options: each name, its kind of value and its choices.

The table is Pacemaker's own, read from the metadata of the daemons that use
the options (``pacemaker-schedulerd``, ``-controld``, ``-based metadata``) by
``python -m pacemail.controller.clusteroptions``, which rewrites the table
below. It is checked in rather than read at run time: ``pacemail render`` is an
admin's first look, often on a machine without Pacemaker, and the same
description must give the same answer there; a test compares the table with
the installed Pacemaker wherever there is one. ``OVERRIDES`` are the checks
Pacemaker's option validators make that its metadata does not show.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

DAEMONS = ("pacemaker-schedulerd", "pacemaker-controld", "pacemaker-based")
LIBEXEC = (Path("/usr/lib/pacemaker"), Path("/usr/libexec/pacemaker"))
# Set by Pacemaker itself (or by pacemail: cluster-name is cluster.name), never by a description.
MAINTAINED = ("cluster-infrastructure", "cluster-name", "dc-version", "have-watchdog")
OVERRIDES = {
    "cluster-ipc-limit": ("positive", ()),
    "stonith-max-attempts": ("positive", ()),
    "stonith-watchdog-timeout": ("signed-time", ()),   # -1: derived from SBD_WATCHDOG_TIMEOUT
    "fence-reaction": ("select", ("stop", "panic")),
}

# Generated from Pacemaker 2.1.5; do not edit by hand.
TABLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "no-quorum-policy": ("select", ("stop", "freeze", "ignore", "demote", "suicide")),
    "symmetric-cluster": ("boolean", ()),
    "maintenance-mode": ("boolean", ()),
    "start-failure-is-fatal": ("boolean", ()),
    "enable-startup-probes": ("boolean", ()),
    "shutdown-lock": ("boolean", ()),
    "shutdown-lock-limit": ("time", ()),
    "stonith-enabled": ("boolean", ()),
    "stonith-action": ("select", ("reboot", "off", "poweroff")),
    "stonith-timeout": ("time", ()),
    "have-watchdog": ("boolean", ()),
    "concurrent-fencing": ("boolean", ()),
    "startup-fencing": ("boolean", ()),
    "priority-fencing-delay": ("time", ()),
    "cluster-delay": ("time", ()),
    "batch-limit": ("integer", ()),
    "migration-limit": ("integer", ()),
    "stop-all-resources": ("boolean", ()),
    "stop-orphan-resources": ("boolean", ()),
    "stop-orphan-actions": ("boolean", ()),
    "remove-after-stop": ("boolean", ()),
    "pe-error-series-max": ("integer", ()),
    "pe-warn-series-max": ("integer", ()),
    "pe-input-series-max": ("integer", ()),
    "node-health-strategy": ("select", ("none", "migrate-on-red", "only-green", "progressive", "custom")),
    "node-health-base": ("integer", ()),
    "node-health-green": ("integer", ()),
    "node-health-yellow": ("integer", ()),
    "node-health-red": ("integer", ()),
    "placement-strategy": ("select", ("default", "utilization", "minimal", "balanced")),
    "dc-version": ("string", ()),
    "cluster-infrastructure": ("string", ()),
    "cluster-name": ("string", ()),
    "dc-deadtime": ("time", ()),
    "cluster-recheck-interval": ("time", ()),
    "load-threshold": ("percentage", ()),
    "node-action-limit": ("integer", ()),
    "fence-reaction": ("select", ("stop", "panic")),
    "election-timeout": ("time", ()),
    "shutdown-escalation": ("time", ()),
    "join-integration-timeout": ("time", ()),
    "join-finalization-timeout": ("time", ()),
    "transition-delay": ("time", ()),
    "stonith-watchdog-timeout": ("signed-time", ()),
    "stonith-max-attempts": ("positive", ()),
    "enable-acl": ("boolean", ()),
    "cluster-ipc-limit": ("positive", ()),
}


def read_installed() -> tuple[str, dict[str, tuple[str, tuple[str, ...]]]]:
    """(Pacemaker version, table) from the installed daemons' metadata, ``OVERRIDES`` applied."""
    version, table = "", {}
    for daemon in DAEMONS:
        program = next(d / daemon for d in LIBEXEC if (d / daemon).is_file())
        root = ET.fromstring(subprocess.run([str(program), "metadata"], capture_output=True,
                                            text=True, timeout=30, check=True).stdout)
        version = root.get("version", version)
        for p in root.iter("parameter"):
            content = p.find("content")
            choices = tuple(o.get("value") for o in content.iter("option"))
            table.setdefault(p.get("name"), (content.get("type"), choices))
    return version, {name: OVERRIDES.get(name, kind) for name, kind in table.items()}


def main() -> None:
    """Rewrite ``TABLE`` in this file from the installed Pacemaker."""
    version, table = read_installed()
    source = Path(__file__).read_text()
    head, _, rest = source.partition("# Generated from Pacemaker ")
    tail = rest[rest.index("\n}\n") + 3:]
    lines = [f"# Generated from Pacemaker {version}; do not edit by hand.",
             "TABLE: dict[str, tuple[str, tuple[str, ...]]] = {"]
    lines += [f"    {name!r}: ({kind!r}, {choices!r})," for name, (kind, choices) in table.items()]
    Path(__file__).write_text(head + "\n".join(lines).replace("'", '"') + "\n}\n" + tail)
    print(f"{len(table)} cluster options of Pacemaker {version}", file=sys.stderr)


if __name__ == "__main__":
    main()
