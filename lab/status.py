"""What a lab looks like right now: power, membership, quorum, who mounts the mail volume."""

from __future__ import annotations

import os
from pathlib import Path

from pacemail.lab import cluster, net, power, state
from pacemail.lab.topology import QNETD_ADDRESS, Lab


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
        "qnetd": QNETD_ADDRESS if lab.qdevice else None,
        "mail_device": facts.get("mail_device"),
        "sbd_device": facts.get("sbd_device"),
        "nodes": nodes,
        "mail_mounted_on": mounted_on(lab, facts.get("mail_device", "")),
        "partitions": [f"{a}->{b}" for a, b in net.partitions(lab)],
    }


def mounted_on(lab: Lab, device: str) -> list[str]:
    """Nodes whose mount namespace has ``device`` mounted, read from /proc (no subprocess).

    Cheap enough to sample every few milliseconds: this is the split-brain
    signal, since a double mount does not corrupt anything in one kernel.
    """
    pids = {n.name: power.init_pid(lab.name, n.name) for n in lab.nodes}
    return mount_holders({n: p for n, p in pids.items() if p is not None}, device)


def mount_holders(init_pids: dict[str, int], device: str) -> list[str]:
    """Of ``init_pids`` (node -> host PID of its init), the nodes that mount ``device``."""
    try:
        rdev = os.stat(device).st_rdev
    except OSError:
        return []
    wanted = f"{os.major(rdev)}:{os.minor(rdev)}"
    holders = []
    for node, pid in init_pids.items():
        try:
            mountinfo = Path(f"/proc/{pid}/mountinfo").read_text()
        except OSError:
            continue
        if any(line.split()[2] == wanted for line in mountinfo.splitlines()):
            holders.append(node)
    return holders
