"""Names, addresses and paths of a lab: pure data derived from its name and size.

Everything the lab creates is named from here, so ``lab down`` can find all of
it again from the name alone, even when the state file is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pacemail.lab.paths import LAB_NAME_FILE, STATE_DIR  # noqa: F401 - LAB_NAME_FILE re-exported

STATE_ROOT = Path(STATE_DIR)  # every lab's files: STATE_ROOT / <name>
SUBNET = "198.18.0"          # RFC 2544 benchmarking range: never a real network
PREFIX = 24
CLIENT_ADDRESS = f"{SUBNET}.200"
QNETD_ADDRESS = f"{SUBNET}.210"   # the quorum device's arbiter (``lab up --qdevice``)
NODE_IFACE = "eth0"
BRIDGE = "br0"
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
MAX_NODES = 9


@dataclass(frozen=True)
class Node:
    lab: str
    index: int

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def address(self) -> str:
        return f"{SUBNET}.{10 + self.index}"

    @property
    def netns(self) -> str:
        return f"pml-{self.lab}-n{self.index}"

    @property
    def port(self) -> str:
        """The node's veth end on the switch (bridge port name)."""
        return f"n{self.index}"

    @property
    def root(self) -> Path:
        return STATE_ROOT / self.lab / "nodes" / self.name


@dataclass(frozen=True)
class Lab:
    name: str
    size: int
    two_node: bool = False
    qdevice: bool = False        # corosync-qdevice on the nodes, qnetd on a host of its own

    def __post_init__(self):
        check_name(self.name)
        if not 2 <= self.size <= MAX_NODES:
            raise ValueError(f"a lab has 2 to {MAX_NODES} nodes, not {self.size}")
        if self.two_node and self.size != 2:
            raise ValueError("--two-node needs exactly 2 nodes")
        if self.two_node and self.qdevice:
            raise ValueError("a quorum device replaces votequorum's two_node: not both")

    @property
    def nodes(self) -> list[Node]:
        return [Node(self.name, i) for i in range(1, self.size + 1)]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise KeyError(f"no node {name!r} in lab {self.name!r} (nodes: {known})")

    @property
    def dir(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def switch_netns(self) -> str:
        return switch_netns(self.name)

    @property
    def client_netns(self) -> str:
        return f"pml-{self.name}-cl"

    @property
    def qnetd_netns(self) -> str:
        return f"pml-{self.name}-qn"

    @property
    def qnetd_root(self) -> Path:
        """The qnetd host's own directories (its /etc/corosync under it)."""
        return self.dir / "qnetd"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def switch_socket(self) -> Path:
        return self.dir / "switch.sock"

    @property
    def mail_image(self) -> Path:
        return self.dir / "disks" / "mail.img"

    @property
    def sbd_image(self) -> Path:
        return self.dir / "disks" / "sbd.img"

    @property
    def cluster_name(self) -> str:
        return f"pacemail-{self.name}"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(
            f"lab name {name!r}: use 1-12 lowercase letters and digits, starting with a letter")
    return name


def lock_name(name: str) -> str:
    """The run lock (:mod:`pacemail.runlock`) of lab ``name``."""
    return f"lab-{check_name(name)}"


def lab_of_netns(netns: str) -> str | None:
    """The lab a network namespace belongs to (``pml-NAME-n1`` -> NAME), or None."""
    if not netns.startswith("pml-"):
        return None
    name, dash, _ = netns[4:].rpartition("-")
    return name if dash and NAME_RE.match(name) else None


def switch_netns(name: str) -> str:
    return f"pml-{name}-sw"


def netns_prefix(name: str) -> str:
    """Every network namespace of lab ``name`` starts with this."""
    return f"pml-{name}-"
