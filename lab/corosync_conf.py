"""corosync.conf for a lab (pure text).

corosync's parser wants one item per line; knet on a switch with no loss
lets a short token (1 s) detect a dead node quickly without flapping.
"""

from __future__ import annotations

from pacemail.lab.topology import Lab

TOKEN_MS = 1000


def render(lab: Lab) -> str:
    lines = [
        "totem {",
        "    version: 2",
        f"    cluster_name: {lab.cluster_name}",
        "    transport: knet",
        f"    token: {TOKEN_MS}",
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
    lines += [
        "}",
        "",
        "quorum {",
        "    provider: corosync_votequorum",
    ]
    if lab.two_node:
        lines.append("    two_node: 1")
    lines += [
        "}",
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
