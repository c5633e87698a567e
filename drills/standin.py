"""A stand-in mail stack for drills: the mail daemons under the resource-agents shell agents.

Real postfix and dovecot, run by the resource-agents shell agents
(ocf:heartbeat:postfix, ocf:heartbeat:dovecot), each on top of a group of
the shared mail volume (ocf:pacemail:mount at /srv/mail) and the VIP
(ocf:pacemail:vip), like the template's tree: a failed postfix restarts
alone. Postfix and dovecot run with the configuration ``lab up`` writes
(:mod:`pacemail.drillmail`), like pacemail's own stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacemail.controller.description import NO_FAILBACK_STICKINESS
from pacemail.drillmail import MAIL_ROOT
from pacemail.lab import state
from pacemail.lab.nodes import node_run
from pacemail.lab.topology import Lab

GROUP = "pm-drill-mail"
MONITOR = "interval=2s"
# pacemail's own default (failback: false): without stickiness, Pacemaker is free
# to move the stack back, a second outage, when a fenced node rejoins.
META = ("meta", f"resource-stickiness={NO_FAILBACK_STICKINESS}")


@dataclass(frozen=True)
class Stack:
    """What a drill needs to know about the mail stack it drills."""
    address: str
    resources: tuple[str, ...]   # the stack's resource ids (all run on one node)
    kind: str                    # "stand-in" or "pacemail"


def place(lab: Lab, address: str) -> Stack:
    """Configure and start the stand-in group; returns the stack (not waited for)."""
    device = state.facts(lab.name)["mail_device"]
    ids = (f"{GROUP}-vip", f"{GROUP}-fs", f"{GROUP}-postfix", f"{GROUP}-dovecot")
    pcs = lambda *args: node_run(lab.name, "node1", ["pcs", *args], timeout=60)  # noqa: E731
    specs = (
        (ids[1], "ocf:pacemail:mount", f"device={device}", f"directory={MAIL_ROOT}", "fstype=ext4"),
        (ids[0], "ocf:pacemail:vip", f"ip={address}", "cidr_netmask=24", "nic=eth0"),
        (ids[2], "ocf:heartbeat:postfix", "config_dir=/etc/postfix"),
        (ids[3], "ocf:heartbeat:dovecot", "config_file=/etc/dovecot/dovecot.conf"),
    )
    for rid, agent, *params in specs[:2]:
        pcs("resource", "create", rid, agent, *params, "op", "monitor", MONITOR, *META,
            "--group", GROUP)
    for rid, agent, *params in specs[2:]:  # each on top of the VIP, independent of the other
        pcs("resource", "create", rid, agent, *params, "op", "monitor", MONITOR, *META)
        pcs("constraint", "colocation", "add", rid, "with", GROUP, "INFINITY")
        pcs("constraint", "order", GROUP, "then", rid)
    return Stack(address, ids, "stand-in")


def remove(lab: Lab) -> None:
    for rid in (f"{GROUP}-postfix", f"{GROUP}-dovecot", GROUP):
        node_run(lab.name, "node1", ["pcs", "resource", "delete", rid, "--force"], timeout=120,
                 check=False)
