"""What a lab looks like right now: power, membership, quorum, who mounts the mail volume."""

from __future__ import annotations

import os
from pathlib import Path

from pacemail.lab import cluster, net, power, state
from pacemail.lab.topology import Lab


def lab_status(lab: Lab) -> dict:
    facts = state.facts(lab.name)
    nodes = []
    for node in lab.nodes:
        on = power.is_on(lab, node)
        view = cluster.crm_view(lab.name, node.name) if on else None
        nodes.append({
            "name": node.name, "address": node.address, "power": "on" if on else "off",
            "quorate": bool(view and view.quorate), "dc": view.dc if view else None,
            "online": view.online if view else [],
        })
    return {
        "name": lab.name, "size": lab.size, "two_node": lab.two_node,
        "mail_device": facts.get("mail_device"),
        "nodes": nodes,
        "mail_mounted_on": mounted_on(lab, facts.get("mail_device", "")),
        "partitions": [f"{a}->{b}" for a, b in net.partitions(lab)],
    }


def mounted_on(lab: Lab, device: str) -> list[str]:
    """Nodes whose mount namespace has ``device`` mounted, read from /proc (no subprocess).

    Cheap enough to sample every few milliseconds: this is the split-brain
    signal, since a double mount does not corrupt anything in one kernel.
    """
    try:
        rdev = os.stat(device).st_rdev
    except OSError:
        return []
    wanted = f"{os.major(rdev)}:{os.minor(rdev)}"
    holders = []
    for node in lab.nodes:
        pid = power.init_pid(lab.name, node.name)
        if pid is None:
            continue
        try:
            mountinfo = Path(f"/proc/{pid}/mountinfo").read_text()
        except OSError:
            continue
        if any(line.split()[2] == wanted for line in mountinfo.splitlines()):
            holders.append(node.name)
    return holders
