"""ocf:pacemail:vip in the lab: clients reach the address, follow it, and duplicates are refused."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_NOT_RUNNING, OCF_SUCCESS,
)
from pacemail.lab import cluster, power, switchd
from pacemail.lab.nodes import node_run
from pacemail.proc import run

from ocf_node import exit_reasons, run_action

V4 = "198.18.0.160"
V6_NET = "fd00:198:18::"
RECURRING = 10000


def client(lab, *argv, check=True):
    return run(["ip", "netns", "exec", lab.client_netns, *argv], timeout=15, check=check)


def answers(lab, address: str) -> bool:
    return client(lab, "ping", "-c1", "-W2", address, check=False).returncode == 0


def client_neighbour_mac(lab, address: str) -> str | None:
    out = client(lab, "ip", "neigh", "show", address).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def node_mac(lab, node: str) -> str:
    return node_run(lab.name, node, ["cat", "/sys/class/net/eth0/address"], timeout=5).stdout.strip()


def on_node(lab, node: str, address: str) -> bool:
    out = node_run(lab.name, node, ["ip", "-o", "addr", "show", "dev", "eth0"], timeout=5).stdout
    return f" {address}/" in out


def vip(lab, node, action, interval_ms=None, **params):
    return run_action(lab, node, "vip", action, params, interval_ms=interval_ms)


def test_ocf_tester_sequence_and_clients_reach_the_address(lab):
    node = "node1"
    meta = vip(lab, node, "meta-data")
    assert meta.returncode == OCF_SUCCESS
    assert ET.fromstring(meta.stdout).get("name") == "vip"
    try:
        assert vip(lab, node, "validate-all", ip=V4).returncode == OCF_SUCCESS
        assert vip(lab, node, "monitor", ip=V4).returncode == OCF_NOT_RUNNING
        assert vip(lab, node, "start", ip=V4).returncode == OCF_SUCCESS
        assert vip(lab, node, "start", ip=V4).returncode == OCF_SUCCESS
        assert vip(lab, node, "monitor", RECURRING, ip=V4).returncode == OCF_SUCCESS
        assert vip(lab, node, "monitor", ip=V4).returncode == OCF_SUCCESS
        assert on_node(lab, node, V4)
        assert answers(lab, V4)
        # The interface and prefix came from the connected route of 198.18.0.0/24.
        brd = node_run(lab.name, node, ["ip", "-o", "addr", "show", "to", V4], timeout=5).stdout
        assert f"{V4}/24 brd 198.18.0.255" in brd and "eth0" in brd
        assert vip(lab, node, "stop", ip=V4).returncode == OCF_SUCCESS
        assert vip(lab, node, "stop", ip=V4).returncode == OCF_SUCCESS
        assert vip(lab, node, "monitor", RECURRING, ip=V4).returncode == OCF_NOT_RUNNING
        assert not on_node(lab, node, V4)
        assert not answers(lab, V4)
    finally:
        vip(lab, node, "stop", ip=V4)


def test_monitor_fails_when_the_interface_goes_down(lab):
    node = "node3"
    try:
        assert vip(lab, node, "start", ip=V4, nic="eth0", cidr_netmask="24").returncode == 0
        node_run(lab.name, node, ["ip", "link", "set", "eth0", "down"], timeout=5)
        done = vip(lab, node, "monitor", RECURRING, ip=V4, nic="eth0")
        assert done.returncode == OCF_ERR_GENERIC
        assert exit_reasons(done.stderr) == [f"{V4} is on eth0, but interface eth0 is down"]
    finally:
        node_run(lab.name, node, ["ip", "link", "set", "eth0", "up"], timeout=5)
        vip(lab, node, "stop", ip=V4)
    cluster.wait_for_quorum(lab.name, ["node1", "node2", "node3"], 90)


@pytest.mark.parametrize("params, name", [
    ({"ip": "not-an-ip"}, "ip"),
    ({"ip": "198.18.0.160;reboot"}, "ip"),
    ({"ip": "198.18.0.160\nnic=eth1"}, "ip"),
    ({"ip": "$(reboot)"}, "ip"),
    ({"ip": "224.0.0.1"}, "ip"),
    ({"ip": V4, "cidr_netmask": "99"}, "cidr_netmask"),
    ({"ip": V4, "cidr_netmask": "24 dev lo"}, "cidr_netmask"),
    ({"ip": V4, "nic": "eth0;id"}, "nic"),
    ({"ip": V4, "nic": "eth0\nlo"}, "nic"),
    ({"ip": V4, "broadcast": "`id`"}, "broadcast"),
    ({"ip": V4, "iflabel": "a|b"}, "iflabel"),
    ({"ip": V4, "arp_count": "0"}, "arp_count"),
    ({"ip": V4, "lvs_support": "true"}, "lvs_support"),
])
def test_bad_parameters_are_configuration_errors_naming_the_parameter(lab, params, name):
    for action in ("validate-all", "start"):
        done = vip(lab, "node1", action, **params)
        assert done.returncode == OCF_ERR_CONFIGURED, done.stderr
        reasons = exit_reasons(done.stderr)
        assert len(reasons) == 1 and f"parameter {name}" in reasons[0], done.stderr
        assert "\n" not in reasons[0]
    assert vip(lab, "node1", "monitor", **params).returncode == OCF_NOT_RUNNING  # a probe
    assert not on_node(lab, "node1", V4)


def test_address_without_a_single_covering_route_needs_nic(lab):
    done = vip(lab, "node1", "validate-all", ip="192.0.2.10")
    assert done.returncode == OCF_ERR_CONFIGURED
    assert "no interface has a connected route covering the address" in exit_reasons(done.stderr)[0]
    missing = vip(lab, "node1", "start", ip=V4, nic="eth9")
    assert missing.returncode == 5  # OCF_ERR_INSTALLED: this node lacks it, others may not
    assert "interface eth9 (parameter nic) does not exist" in exit_reasons(missing.stderr)[0]


@pytest.fixture
def ipv6(lab):
    """fd00:198:18::/64 on every node's and the client's eth0 (removed afterwards)."""
    hosts = [(n.name, f"{V6_NET}{i}") for i, n in enumerate(lab.nodes, start=11)]
    for node, address in hosts:
        node_run(lab.name, node, ["ip", "addr", "add", f"{address}/64", "dev", "eth0", "nodad"],
                 timeout=5)
    client(lab, "ip", "addr", "add", f"{V6_NET}200/64", "dev", "eth0", "nodad")
    yield
    for node, address in hosts:
        node_run(lab.name, node, ["ip", "addr", "del", f"{address}/64", "dev", "eth0"],
                 timeout=5, check=False)
    client(lab, "ip", "addr", "del", f"{V6_NET}200/64", "dev", "eth0", check=False)


def test_ipv6_address_answers_and_clients_follow_it(lab, ipv6):
    address, first, second = f"{V6_NET}160", "node2", "node3"
    try:
        start = vip(lab, first, "start", ip=address)
        assert start.returncode == OCF_SUCCESS, start.stderr
        assert vip(lab, first, "monitor", RECURRING, ip=address).returncode == OCF_SUCCESS
        flags = node_run(lab.name, first, ["ip", "-o", "addr", "show", "to", address],
                         timeout=5).stdout
        assert f"{address}/64" in flags and "tentative" not in flags
        assert answers(lab, address)
        assert client_neighbour_mac(lab, address) == node_mac(lab, first)

        assert vip(lab, first, "stop", ip=address).returncode == OCF_SUCCESS
        assert vip(lab, first, "monitor", RECURRING, ip=address).returncode == OCF_NOT_RUNNING
        assert vip(lab, second, "start", ip=address).returncode == OCF_SUCCESS
        # Before any new traffic: the unsolicited NA repointed the client's entry.
        assert client_neighbour_mac(lab, address) == node_mac(lab, second)
        assert answers(lab, address)
    finally:
        for node in (first, second):
            vip(lab, node, "stop", ip=address)


@pytest.mark.parametrize("address", ["198.18.0.161", f"{V6_NET}161"])
def test_address_another_host_uses_is_refused(lab, ipv6, address):
    prefix = 24 if "." in address else 64
    client(lab, "ip", "addr", "add", f"{address}/{prefix}", "dev", "eth0", "nodad")
    try:
        done = vip(lab, "node1", "start", ip=address)
        assert done.returncode == OCF_ERR_GENERIC
        reason = exit_reasons(done.stderr)[0]
        assert address in reason and "another host" in reason
        assert not on_node(lab, "node1", address)
        assert vip(lab, "node1", "monitor", RECURRING, ip=address).returncode == OCF_NOT_RUNNING
    finally:
        client(lab, "ip", "addr", "del", f"{address}/{prefix}", "dev", "eth0", check=False)
        vip(lab, "node1", "stop", ip=address)


def _running_on(lab, rsc, exclude=None, via="node1"):
    def probe():
        where = cluster.crm_view(lab.name, via).resources.get(rsc)
        return where[0] if where and len(where) == 1 and where[0] != exclude else None
    return probe


def test_under_pacemaker_clients_follow_a_move_and_a_power_loss(lab):
    address, rsc = "198.18.0.165", "pmvip"
    pcs = lambda *args, node="node1": node_run(lab.name, node, ["pcs", *args], timeout=60)  # noqa: E731
    pcs("resource", "create", rsc, "ocf:pacemail:vip", f"ip={address}", "cidr_netmask=24",
        "meta", "resource-stickiness=100", "op", "monitor", "interval=2s")
    first = second = None
    try:
        first = cluster.wait_for(_running_on(lab, rsc), 60, f"{rsc} started")
        assert answers(lab, address)
        assert client_neighbour_mac(lab, address) == node_mac(lab, first)

        target = next(n.name for n in lab.nodes if n.name != first)
        pcs("resource", "move", rsc, target)
        second = cluster.wait_for(_running_on(lab, rsc, exclude=first), 60, f"{rsc} moved")
        assert second == target
        # Before any new traffic: the gratuitous ARP already repointed the client's entry.
        assert client_neighbour_mac(lab, address) == node_mac(lab, second)
        assert answers(lab, address)
        assert not on_node(lab, first, address)

        switchd.request(str(lab.switch_socket), "off", second)
        survivor = next(n.name for n in lab.nodes if n.name != second)
        third = cluster.wait_for(_running_on(lab, rsc, exclude=second, via=survivor), 90,
                                 f"{rsc} recovered on a survivor")
        # crm_mon may list the start while it still runs: give it the start's few ms.
        assert cluster.wait_for(lambda: client_neighbour_mac(lab, address) == node_mac(lab, third),
                                5, "client's neighbour entry repointed to the survivor")
        assert answers(lab, address)
    finally:
        for node in lab.nodes:
            if not power.is_on(lab, node):
                switchd.request(str(lab.switch_socket), "on", node.name)
        cluster.wait_for_quorum(lab.name, ["node1", "node2", "node3"], 120)
        pcs("resource", "delete", rsc, "--force")
        cluster.wait_for(lambda: not any(on_node(lab, n.name, address) for n in lab.nodes), 30,
                         f"{address} removed from every node once {rsc} is deleted")
