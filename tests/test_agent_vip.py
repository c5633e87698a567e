"""ocf:pacemail:vip in the lab: clients reach the address, follow it, and duplicates are refused;
without a lab: interface, prefix and broadcast found as IPaddr2 finds them."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

import pytest

from pacemail.agents import addrconf, rtnl
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
    # Malformed on every node: a probe says so too, as IPaddr2's ip_validate does; a
    # prefix too long for the address's family only validate-all finds, which a probe skips.
    probe = OCF_NOT_RUNNING if params.get("cidr_netmask") == "99" else OCF_ERR_CONFIGURED
    assert vip(lab, "node1", "monitor", **params).returncode == probe
    assert not on_node(lab, "node1", V4)


def test_address_without_a_covering_route_fails_here_and_a_missing_nic_is_not_installed(lab):
    done = vip(lab, "node1", "validate-all", ip="192.0.2.10")
    assert done.returncode == OCF_ERR_GENERIC  # IPaddr2's code: another node may have the route
    assert "no connected route covers the address on this node" in exit_reasons(done.stderr)[0]
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


# -- where the address goes, as IPaddr2's findif finds it (pure, no lab) ------------------

def _route(network, prefixlen, ifindex, prefsrc=None):
    from pacemail.agents import rtnl
    packed = socket.inet_aton(prefsrc) if prefsrc else None
    return rtnl.Route(socket.AF_INET, socket.inet_aton(network), prefixlen, ifindex, packed)


BASE_ROUTES = [_route("198.18.144.0", 24, 1, "198.18.144.1")]  # eth0's base address, as ocft sets it
NAMES = {1: "eth0", 2: "eth1"}.get


@pytest.mark.parametrize("address, nic, cidr, expected", [
    ("198.18.144.2", None, None, (1, 24)),     # ocft "normal start"
    ("198.18.144.2", 1, None, (1, 24)),        # "params with nic, no cidr_netmask"
    ("198.18.144.2", None, 24, (1, 24)),       # "params with cidr_netmask"
    ("198.18.144.2", None, 28, (1, 28)),       # "force cidr_netmask (base netmask < assigned)"
    ("198.18.144.2", 2, 16, (2, 16)),          # "force to use the specified nic and cidr_netmask"
    ("198.18.144.2", None, 16, None),          # "force cidr_netmask (base netmask > assigned)"
    ("198.18.144.2", 2, None, None),           # "params with force nic"
    ("198.18.120.1", None, None, None),        # "error params with wrong ip"
])
def test_interface_and_prefix_come_from_the_longest_covering_route(address, nic, cidr, expected):
    from pacemail.agents.ocf import OCFError
    from pacemail.agents.vip import choose
    packed = socket.inet_aton(address)
    if expected is None:
        with pytest.raises(OCFError) as failed:
            choose(BASE_ROUTES, packed, nic, cidr, NAMES)
        assert failed.value.code == OCF_ERR_GENERIC  # this node's routes: another node may do
        return
    assert choose(BASE_ROUTES, packed, nic, cidr, NAMES)[:2] == expected


def test_longest_route_wins_and_a_tie_between_interfaces_is_refused():
    from pacemail.agents.ocf import OCFError
    from pacemail.agents.vip import choose
    packed = socket.inet_aton("198.18.144.2")
    nested = [_route("198.18.0.0", 16, 1), _route("198.18.144.0", 24, 2)]
    assert choose(nested, packed, None, None, NAMES)[:2] == (2, 24)
    assert choose(nested, packed, 1, None, NAMES)[:2] == (1, 16)
    tied = [_route("198.18.144.0", 24, 1), _route("198.18.144.0", 24, 2)]
    with pytest.raises(OCFError) as failed:
        choose(tied, packed, None, None, NAMES)
    assert failed.value.code == OCF_ERR_GENERIC and "eth0, eth1" in failed.value.reason
    assert choose(tied, packed, 2, None, NAMES)[:2] == (2, 24)


def test_empty_broadcast_is_the_base_address_broadcast_else_derived_from_the_prefix():
    from pacemail.agents import rtnl
    from pacemail.agents.vip import broadcast_of, inherited_broadcast
    base = rtnl.Address(socket.AF_INET, socket.inet_aton("198.18.144.1"), 24, 1, 0, "eth0",
                        socket.inet_aton("198.18.144.255"))
    assert inherited_broadcast(BASE_ROUTES[0], [base]) == "198.18.144.255"  # also for a /28
    assert inherited_broadcast(_route("198.18.144.0", 24, 1), [base]) is None
    assert inherited_broadcast(None, [base]) is None
    packed = socket.inet_aton("198.18.144.2")
    assert broadcast_of(packed, 16, None) == "198.18.255.255"
    assert broadcast_of(packed, 24, "-") == "198.18.144.0"
    assert broadcast_of(packed, 31, "+") is None


def test_route_and_address_dumps_carry_prefsrc_and_broadcast():
    import struct

    from pacemail.agents import rtnl

    def attr(kind, value):
        return struct.pack("=HH", 4 + len(value), kind) + value + bytes(-len(value) % 4)
    src, brd = socket.inet_aton("198.18.144.1"), socket.inet_aton("198.18.144.255")
    route = rtnl.parse_route(
        rtnl.RTMSG.pack(socket.AF_INET, 24, 0, 0, rtnl.RT_TABLE_MAIN, 2, 253, rtnl.RTN_UNICAST, 0)
        + attr(rtnl.RTA_DST, socket.inet_aton("198.18.144.0")) + attr(rtnl.RTA_OIF, struct.pack("=i", 3))
        + attr(rtnl.RTA_PREFSRC, src))
    assert (route.prefixlen, route.ifindex, route.prefsrc) == (24, 3, src)
    address = rtnl.parse_address(rtnl.IFADDRMSG.pack(socket.AF_INET, 24, 0, 0, 3)
                                 + attr(rtnl.IFA_LOCAL, src) + attr(rtnl.IFA_BROADCAST, brd))
    assert (address.address, address.broadcast) == (src, brd)


@pytest.mark.parametrize("text, expected", [
    ("24", "24"), ("255.255.255.0", "24"), ("255.255.255.252", "30"), ("255.255.255.255", "32"),
    ("255.0.255.0", None), ("0.0.0.0", None), ("0", None), ("129", None), ("24 dev lo", None),
])
def test_cidr_netmask_takes_a_length_or_a_netmask_as_ipaddr2_does(text, expected):
    from pacemail.agents.vip import AGENT
    values, problems = AGENT.parse_params({"ip": V4, "cidr_netmask": text})
    if expected is None:
        assert problems and problems[0].startswith("parameter cidr_netmask:")
    else:
        assert problems == [] and values["cidr_netmask"] == expected


@pytest.mark.parametrize("values, expected", [
    ({"nic": "eth0:web"}, ("eth0", "web")),
    ({"nic": "eth0:web", "iflabel": "x1"}, ("eth0", "web")),   # nic's label wins, as in IPaddr2
    ({"nic": "eth0", "iflabel": "x1"}, ("eth0", "x1")),
    ({}, (None, None)),
    ({"nic": "eth0:"}, "parameter nic:"),
    ({"nic": "eth0:a:b"}, "parameter nic:"),
])
def test_nic_may_carry_the_label_as_ipaddr2_takes_it(values, expected):
    from types import SimpleNamespace

    from pacemail.agents.vip import AGENT, nic_and_label
    typed, problems = AGENT.parse_params({"ip": V4, **values})
    if isinstance(expected, str):
        assert problems and problems[0].startswith(expected)
    else:
        assert problems == [] and nic_and_label(SimpleNamespace(params=typed)) == expected


@pytest.mark.parametrize("address, prefixlen, options", [
    ("198.18.0.100", 24, {"broadcast": "198.18.0.255", "label": "eth0:mail"}),
    ("198.18.0.101", 32, {}),
    ("fd00::5", 64, {"flags": 0x02 | 0x200, "preferred_lft": 0}),
])
def test_the_add_request_is_what_the_kernel_reports_back(address, prefixlen, options):
    """addrconf's RTM_NEWADDR body parses, with rtnl's reader of the kernel's dumps, into
    the address, prefix, broadcast, label and flags asked for."""
    got = rtnl.parse_address(addrconf.new_address(7, address, prefixlen, **options))
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    assert (got.family, got.address, got.prefixlen, got.ifindex) == (
        family, socket.inet_pton(family, address), prefixlen, 7)
    assert got.label == options.get("label", "")
    assert got.broadcast == (socket.inet_pton(family, options["broadcast"])
                             if "broadcast" in options else None)
    assert got.flags == options.get("flags", 0)
