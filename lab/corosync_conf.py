"""corosync.conf for a lab (pure text).

corosync's parser wants one item per line.

Totem timing: a lost node is noticed after the token timeout plus the
consensus timeout (1.2 times the token by default), so the token is most of
a failover's detection. The lab's nodes share one kernel and a virtual
switch: a token goes round three nodes in well under a millisecond, and
corosync runs SCHED_RR at priority 99 with its memory locked, so ordinary
load (the mail workload, a test suite on the other core) cannot hold it
back for 300 ms. ``token_coefficient: 0`` keeps the token at TOKEN_MS for
any node count (the default adds 650 ms per node above two). knet's own
link check stays off the token's scale (a ping every 500 ms, a link down
after 2 s): its default, half the token, declared every link down every ~8 s
on an idle lab and took the token with it. With one link per node, knet's
verdict only matters for switching links; the token decides membership. That a merely
busy node is not fenced at this token is measured, not assumed: `pacemail
drill steady` runs the drill workload for ten minutes and fails on any
fence or membership change.
"""

from __future__ import annotations

from pacemail.controller.model import QuorumDevice
from pacemail.controller.quorumdevice import quorum_section
from pacemail.lab.topology import QNETD_ADDRESS, Lab

TOKEN_MS = 300
TOKEN_COEFFICIENT_MS = 0
KNET_PING_INTERVAL_MS, KNET_PING_TIMEOUT_MS = 500, 2000


def render(lab: Lab) -> str:
    lines = [
        "totem {",
        "    version: 2",
        f"    cluster_name: {lab.cluster_name}",
        "    transport: knet",
        f"    token: {TOKEN_MS}",
        f"    token_coefficient: {TOKEN_COEFFICIENT_MS}",
        "    interface {",
        "        linknumber: 0",
        f"        knet_ping_interval: {KNET_PING_INTERVAL_MS}",
        f"        knet_ping_timeout: {KNET_PING_TIMEOUT_MS}",
        "    }",
        "    crypto_cipher: aes256",
        "    crypto_hash: sha256",
        "}",
        "",
        "nodelist {",
    ]
    for node in lab.nodes:
        lines += [
            "    node {",
            f"        ring0_addr: {node.address}",
            f"        name: {node.name}",
            f"        nodeid: {node.index}",
            "    }",
        ]
    lines += ["}", ""]
    lines += quorum_section(lab.two_node, quorum_device(lab)).splitlines()
    lines += [
        "",
        "logging {",
        "    to_logfile: yes",
        "    logfile: /var/log/corosync/corosync.log",
        "    to_stderr: no",
        "    to_syslog: no",
        "    timestamp: on",
        "}",
        "",
    ]
    return "\n".join(lines)


def quorum_device(lab: Lab) -> QuorumDevice | None:
    """The lab's qnetd (``lab up --qdevice``): ffsplit for an even node count, lms otherwise."""
    if not lab.qdevice:
        return None
    return QuorumDevice(QNETD_ADDRESS, "ffsplit" if lab.size % 2 == 0 else "lms")
