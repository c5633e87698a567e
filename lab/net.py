"""The lab's network: namespaces, the switch bridge, veth links and partitions.

Adapter over iproute2 and nftables. The switch is a bridge in a namespace of
its own, so nothing touches the root namespace's addresses or routes, and no
namespace has a default route: no packet can leave the machine.
"""

from __future__ import annotations

from pacemail.lab.topology import BRIDGE, CLIENT_ADDRESS, NODE_IFACE, PREFIX, Lab, Node
from pacemail import namespaces
from pacemail.proc import run

TIMEOUT = 10.0
PARTITION_TABLE = "pmlab"


def ip(*args: str, netns: str | None = None, check: bool = True):
    argv = ["ip"] + (["-n", netns] if netns else []) + list(args)
    return run(argv, timeout=TIMEOUT, check=check)


def add_netns(name: str) -> None:
    if name in namespaces.names():
        namespaces.delete(name)
    run(["ip", "netns", "add", name], timeout=TIMEOUT)
    ip("link", "set", "lo", "up", netns=name)


def create_switch(lab: Lab) -> None:
    ns = lab.switch_netns
    add_netns(ns)
    ip("link", "add", BRIDGE, "type", "bridge", "forward_delay", "0", "stp_state", "0", netns=ns)
    ip("link", "set", BRIDGE, "up", netns=ns)
    _nft(ns, _partition_table())


def plug(netns: str, port: str, address: str, switch_netns: str) -> None:
    """Connect ``netns`` to the switch with a veth pair: eth0 inside, ``port`` on the bridge."""
    ip("link", "add", NODE_IFACE, "netns", netns, "type", "veth",
       "peer", "name", port, "netns", switch_netns)
    ip("link", "set", port, "master", BRIDGE, "up", netns=switch_netns)
    ip("addr", "add", f"{address}/{PREFIX}", "dev", NODE_IFACE, netns=netns)
    ip("link", "set", NODE_IFACE, "up", netns=netns)


def create_node_network(lab: Lab, node: Node) -> None:
    """A fresh network stack for a node, as after a real boot: no leftover addresses."""
    add_netns(node.netns)
    plug(node.netns, node.port, node.address, lab.switch_netns)


def create_client(lab: Lab) -> None:
    add_netns(lab.client_netns)
    plug(lab.client_netns, "cl", CLIENT_ADDRESS, lab.switch_netns)


def partition(lab: Lab, isolated: list[Node], others: list[Node]) -> None:
    """Drop every frame between the two groups at the switch, both ways."""
    rules = []
    for a in isolated:
        for b in others:
            for src, dst in ((a.port, b.port), (b.port, a.port)):
                rules.append(
                    f"add rule bridge {PARTITION_TABLE} forward "
                    f'iifname "{src}" oifname "{dst}" drop\n')
    _nft(lab.switch_netns, "".join(rules))


def heal(lab: Lab) -> None:
    _nft(lab.switch_netns, f"flush chain bridge {PARTITION_TABLE} forward\n")


def partitions(lab: Lab) -> list[tuple[str, str]]:
    """The (from port, to port) pairs currently dropped at the switch."""
    out = run(["ip", "netns", "exec", lab.switch_netns, "nft", "list", "chain", "bridge",
               PARTITION_TABLE, "forward"], timeout=TIMEOUT, check=False).stdout
    pairs = []
    for line in out.splitlines():
        words = line.split()
        if "iifname" in words and "oifname" in words and "drop" in words:
            pairs.append((words[words.index("iifname") + 1].strip('"'),
                          words[words.index("oifname") + 1].strip('"')))
    return pairs


def _partition_table() -> str:
    return (f"add table bridge {PARTITION_TABLE}\n"
            f"add chain bridge {PARTITION_TABLE} forward "
            "{ type filter hook forward priority 0; policy accept; }\n")


def _nft(netns: str, script: str) -> None:
    run(["ip", "netns", "exec", netns, "nft", "-f", "-"], timeout=TIMEOUT, input=script)
