"""The lab's DRBD TEST DOUBLE behaves as the agents expect real DRBD 9 to (formats and rules)."""

from __future__ import annotations

import json

import pytest

from pacemail.lab import cluster, net, power, switchd
from pacemail.lab.nodes import node_run
from pacemail.proc import CommandError

RES = "mail"


def drbd(lab, node, *args, check=True):
    return node_run(lab.name, node, list(args), timeout=20, check=check)


def status(lab, node) -> dict:
    (resource,) = json.loads(drbd(lab, node, "drbdsetup", "status", RES, "--json").stdout)
    return resource


@pytest.fixture
def drbd_up(lab):
    for node in lab.nodes:
        drbd(lab, node.name, "drbdadm", "up", RES)
    yield lab
    for node in lab.nodes:
        drbd(lab, node.name, "drbdadm", "secondary", RES, check=False)
        drbd(lab, node.name, "drbdadm", "down", RES, check=False)


def connected_everywhere(lab):
    for node in lab.nodes:
        conns = status(lab, node.name)["connections"]
        if len(conns) != 2 or any(c["connection-state"] != "Connected" for c in conns):
            return False
    return True


def test_nodes_connect_and_report_in_drbdsetup_json_format(drbd_up):
    lab = drbd_up
    cluster.wait_for(lambda: connected_everywhere(lab), 10, "all DRBD peers connected")
    s = status(lab, "node2")
    assert s["name"] == RES and s["node-id"] == 1 and s["role"] == "Secondary"
    assert s["devices"][0]["disk-state"] == "UpToDate" and s["devices"][0]["quorum"] is True
    peer = {c["name"]: c for c in s["connections"]}["node1"]
    assert peer["peer-node-id"] == 0 and peer["peer-role"] == "Secondary"
    assert peer["peer_devices"][0]["peer-disk-state"] == "UpToDate"
    version = drbd(lab, "node1", "drbdadm", "--version").stdout
    assert "DRBD_KERNEL_VERSION=9." in version


def test_a_second_primary_is_refused_while_connected(drbd_up):
    lab = drbd_up
    cluster.wait_for(lambda: connected_everywhere(lab), 10, "all DRBD peers connected")
    drbd(lab, "node1", "drbdadm", "primary", RES)
    cluster.wait_for(lambda: any(c["peer-role"] == "Primary"
                                 for c in status(lab, "node2")["connections"]), 5,
                     "node2 sees node1 Primary")
    with pytest.raises(CommandError) as refused:
        drbd(lab, "node2", "drbdadm", "primary", RES)
    assert refused.value.returncode == 11
    assert "Multiple primaries" in refused.value.stderr
    assert drbd(lab, "node2", "drbdadm", "role", RES).stdout.strip() == "Secondary"
    # The device is the shared volume, bound per node: node1 can use it.
    drbd(lab, "node1", "blockdev", "--getsize64", "/dev/drbd0")


def test_a_partition_disconnects_the_peers(drbd_up):
    lab = drbd_up
    cluster.wait_for(lambda: connected_everywhere(lab), 10, "all DRBD peers connected")
    before = power.init_pid(lab.name, "node3")
    net.partition(lab, [lab.node("node3")], [lab.node("node1"), lab.node("node2")])
    try:
        def node1_lost_node3():
            conns = {c["name"]: c for c in status(lab, "node1")["connections"]}
            return conns["node3"]["connection-state"] == "Connecting"
        cluster.wait_for(node1_lost_node3, 10, "node1 losing its DRBD link to node3")
        conns = {c["name"]: c for c in status(lab, "node1")["connections"]}
        assert conns["node2"]["connection-state"] == "Connected"
        assert conns["node3"]["peer_devices"][0]["peer-disk-state"] == "DUnknown"
    finally:
        # The majority fences node3 for leaving; that reboot can land after the heal.
        # Wait for it (its init changes) so DRBD is not brought up on a node about to die.
        try:
            cluster.wait_for(lambda: power.init_pid(lab.name, "node3") != before, 45,
                             "node3 fenced by the majority")
        finally:
            net.heal(lab)
        if not switchd.request(str(lab.switch_socket), "status", "node3")["status"] == "on":
            switchd.request(str(lab.switch_socket), "on", "node3")
        cluster.wait_for_quorum(lab.name, ["node1", "node2", "node3"], 120)
        drbd(lab, "node3", "drbdadm", "up", RES)  # a fenced node comes back with DRBD down


def test_promotion_needs_up_to_date_data(drbd_up):
    lab = drbd_up
    cluster.wait_for(lambda: connected_everywhere(lab), 10, "all DRBD peers connected")
    drbd(lab, "node3", "drbdadm", "outdate", RES)
    assert status(lab, "node3")["devices"][0]["disk-state"] == "Outdated"
    with pytest.raises(CommandError) as refused:
        drbd(lab, "node3", "drbdadm", "primary", RES)
    assert "UpToDate data" in refused.value.stderr
    # Reconnecting resyncs node3 from its UpToDate peers: the shared lab is left clean.
    drbd(lab, "node3", "drbdadm", "down", RES)
    drbd(lab, "node3", "drbdadm", "up", RES)
    cluster.wait_for(lambda: status(lab, "node3")["devices"][0]["disk-state"] == "UpToDate",
                     10, "node3 resynced to UpToDate")
