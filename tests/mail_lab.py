"""Mail test setup in the lab: the mail volume, configs on it, per-node files restored afterwards.

The postfix and dovecot tests keep their instances' configuration, queues and
mailboxes on the shared mail volume (mounted at /srv/mail), the way a
replicated setup runs them. Helpers here run fixed test scripts in a node;
agent parameters only ever go through :func:`ocf_node.run_action`.
"""

from __future__ import annotations

import subprocess

from pacemail.lab import state
from pacemail.lab.nodes import node_run

MOUNT_POINT = "/srv/mail"
CLIENT_ADDRESS = "198.18.0.200"


def device(lab) -> str:
    return state.facts(lab.name)["mail_device"]


def sh(lab, node: str, script: str, timeout: float = 30, check: bool = True):
    """Run a fixed test script (no agent parameter in it) with sh inside ``node``."""
    return node_run(lab.name, node, ["sh", "-ec", script], timeout=timeout, check=check)


def mount(lab, node: str) -> None:
    sh(lab, node, f"mkdir -p {MOUNT_POINT}; mountpoint -q {MOUNT_POINT} || "
                  f"mount {device(lab)} {MOUNT_POINT}")


def umount(lab, node: str) -> None:
    sh(lab, node, f"! mountpoint -q {MOUNT_POINT} || umount {MOUNT_POINT}")


def write(lab, node: str, path: str, text: str) -> None:
    node_run(lab.name, node, ["sh", "-ec", 'mkdir -p "$(dirname "$1")"; cat > "$1"', "-", path],
             timeout=10, input=text)


def read(lab, node: str, path: str) -> str:
    return node_run(lab.name, node, ["cat", path], timeout=10).stdout


def pids(lab, node: str, pattern: str) -> list[int]:
    """Pids (in the node) whose full command line matches ``pattern`` (pgrep -f)."""
    out = node_run(lab.name, node, ["pgrep", "-f", "--", pattern], timeout=5, check=False).stdout
    return [int(p) for p in out.split()]


def in_client(lab, argv: list[str], **kwargs):
    return subprocess.run(["ip", "netns", "exec", lab.client_netns, *argv], **kwargs)

