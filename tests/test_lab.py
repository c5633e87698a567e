"""The namespace lab is a real cluster: quorum, CIB access, failover, fencing, partitions, cleanup."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pacemail import namespaces, runlock
from pacemail.lab import cluster, lifecycle, net, power, switchd
from pacemail.lab.nodes import node_run, node_runner
from pacemail.lab.status import mounted_on
from pacemail.lab.topology import STATE_ROOT
from pacemail.pacemaker import cib, fencing
from pacemail.proc import run

from conftest import DOWN_LAB

PACEMAIL = str(Path(sys.executable).parent / "pacemail")

VIP = "198.18.0.150"


def test_quorum_forms_with_all_nodes_and_a_dc(lab):
    view = cluster.crm_view(lab.name, "node1")
    assert view.quorate
    assert view.dc in ("node1", "node2", "node3")
    assert view.online == ["node1", "node2", "node3"]
    for node in lab.nodes:
        assert cluster.corosync_quorate(lab.name, node.name) is True


def test_every_node_reads_the_same_cib(lab):
    epochs = set()
    for node in lab.nodes:
        header = cib.header(run=node_runner(lab.name, node.name), timeout=20)
        epochs.add((header["admin_epoch"], header["epoch"]))
    assert len(epochs) == 1


def test_nodes_are_isolated_from_each_other_and_the_host(lab):
    hostnames = {node_run(lab.name, n.name, ["hostname"], timeout=5).stdout.strip()
                 for n in lab.nodes}
    assert hostnames == {"node1", "node2", "node3"}
    routes = node_run(lab.name, "node1", ["ip", "route"], timeout=5).stdout
    assert "default" not in routes
    ping = run(["ip", "netns", "exec", lab.client_netns, "ping", "-c1", "-W2", "198.18.0.12"],
               timeout=10, check=False)
    assert ping.returncode == 0, ping.stdout


def test_fencing_through_fence_pacemail_lab_powers_a_node_off(lab):
    fencing.fence("node3", action="off", timeout=60, run=node_runner(lab.name, "node1"))
    try:
        assert not power.is_on(lab, lab.node("node3"))
        # The order reached the lab's power switch (stonith_admin's history can drop
        # events across reboots, so the switch's own log is the record).
        switch_log = (lab.dir / "switchd.log").read_text().splitlines()
        assert any(line.endswith("off node3 -> off") for line in switch_log)
    finally:
        switchd.request(str(lab.switch_socket), "on", "node3")
        cluster.wait_for_quorum(lab.name, ["node1", "node2", "node3"], 90)


def test_vip_and_service_move_when_their_node_loses_power(lab):
    node1 = lambda *args: node_run(lab.name, "node1", list(args), timeout=30)  # noqa: E731
    node1("pcs", "resource", "create", "labvip", "ocf:heartbeat:IPaddr2", f"ip={VIP}",
        "cidr_netmask=24", "nic=eth0", "op", "monitor", "interval=2s")
    node1("pcs", "resource", "create", "labsvc", "ocf:pacemaker:Dummy", "op", "monitor",
        "interval=2s")
    node1("pcs", "constraint", "colocation", "add", "labsvc", "with", "labvip", "INFINITY")
    node1("pcs", "constraint", "order", "labvip", "then", "labsvc")
    try:
        def placed():
            view = cluster.crm_view(lab.name, "node1")
            where = view.resources.get("labvip")
            return where if where and where == view.resources.get("labsvc") else None
        before = cluster.wait_for(placed, 60, "labvip and labsvc running together")[0]
        assert _ping_vip(lab)

        survivors = [n.name for n in lab.nodes if n.name != before]
        switchd.request(str(lab.switch_socket), "off", before)

        def moved():
            view = cluster.crm_view(lab.name, survivors[0])
            where = view.resources.get("labvip")
            if where and where[0] != before and view.resources.get("labsvc") == where:
                return where[0]
            return None
        after = cluster.wait_for(moved, 90, "labvip and labsvc running on a survivor")
        assert after in survivors
        assert _ping_vip(lab)
        # The cluster fenced the lost node through the lab switch (reboot: it is on again).
        switch_log = (lab.dir / "switchd.log").read_text().splitlines()
        assert any(line.endswith(f"reboot {before} -> on") for line in switch_log)
    finally:
        if not power.is_on(lab, lab.node(before)):
            switchd.request(str(lab.switch_socket), "on", before)
        for rsc in ("labsvc", "labvip"):
            node1("pcs", "resource", "delete", rsc, "--force")
        cluster.wait_for_quorum(lab.name, ["node1", "node2", "node3"], 90)


def test_partition_gives_the_pair_quorum_and_the_single_node_none(lab):
    single, pair = lab.node("node3"), [lab.node("node1"), lab.node("node2")]
    net.partition(lab, [single], pair)
    try:
        cluster.wait_for(lambda: cluster.corosync_quorate(lab.name, "node3") is False
                         or not power.is_on(lab, single), 30, "node3 losing quorum or being fenced")
        view = cluster.wait_for(
            lambda: (v := cluster.crm_view(lab.name, "node1")).quorate and
            "node3" not in v.online and v, 30, "node1 and node2 quorate without node3")
        assert set(view.online) == {"node1", "node2"}
        if power.is_on(lab, single):  # fenced and rebooted, or still up: alone it has no quorum
            assert cluster.wait_for(
                lambda: cluster.corosync_quorate(lab.name, "node3") is False, 30,
                "node3 inquorate") is True
    finally:
        net.heal(lab)
        if not power.is_on(lab, single):
            switchd.request(str(lab.switch_socket), "on", "node3")
        cluster.wait_for_quorum(lab.name, ["node1", "node2", "node3"], 120)


def test_the_lab_can_tell_which_nodes_mount_the_mail_volume(lab):
    device = lifecycle.state.facts(lab.name)["mail_device"]
    assert mounted_on(lab, device) == []
    for node in ("node1", "node2"):
        node_run(lab.name, node, ["mkdir", "-p", "/srv/mail"], timeout=5)
        node_run(lab.name, node, ["mount", device, "/srv/mail"], timeout=10)
    try:
        assert mounted_on(lab, device) == ["node1", "node2"]  # the split-brain signal
    finally:
        for node in ("node1", "node2"):
            node_run(lab.name, node, ["umount", "/srv/mail"], timeout=10)
    assert mounted_on(lab, device) == []


def test_two_labs_run_side_by_side_and_down_leaves_nothing_behind(lab):
    """A second lab next to the session's: both quorate at once; its down leaves no trace
    and does not touch the first."""
    name = DOWN_LAB
    result = lifecycle.up(name, 2, fencing=False)
    print(f"\n2-node lab up in {result.seconds_total:.1f}s next to {lab.name}")
    pids = [power.init_pid(name, f"node{i}") for i in (1, 2)]
    assert all(pids)
    for lab_name, nodes in ((lab.name, ["node1", "node2", "node3"]), (name, ["node1", "node2"])):
        view = cluster.wait_for_quorum(lab_name, nodes, 30)
        assert sorted(view.online) == nodes, (lab_name, view)
    listed = {r["name"]: r for r in json.loads(
        run([PACEMAIL, "lab", "list", "--json"], timeout=60).stdout)}
    assert listed[name]["alive"] and listed[lab.name]["alive"]
    assert listed[name]["holder"]["pid"] == os.getpid()   # this session holds its labs
    lifecycle.down(name)
    assert not [ns for ns in namespaces.names() if ns.startswith(f"pml-{name}-")]
    assert not any(power.alive(pid) for pid in pids)
    assert not (STATE_ROOT / name).exists()
    loops = run(["losetup", "--list", "--noheadings", "--output", "BACK-FILE"], timeout=10).stdout
    assert str(STATE_ROOT / name) not in loops
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(STATE_ROOT / name) not in mounts
    assert name not in {r["name"] for r in json.loads(
        run([PACEMAIL, "lab", "list", "--json"], timeout=60).stdout)}
    lifecycle.down(name)  # twice is fine
    view = cluster.wait_for_quorum(lab.name, ["node1", "node2", "node3"], 30)
    assert sorted(view.online) == ["node1", "node2", "node3"]


def test_a_second_run_on_a_held_lab_is_refused_naming_the_holder(lab):
    """`lab down` from a run this session did not start: refused at once, exit 1, naming
    this session's PID; the lab is untouched."""
    outside = {k: v for k, v in os.environ.items() if k != runlock.ENV}   # another shell's run
    done = run([PACEMAIL, "lab", "down", "--name", lab.name], timeout=60, check=False,
               env=outside)
    assert done.returncode == 1, done
    assert f"lab {lab.name} is in use by PID {os.getpid()}" in done.stderr
    assert "--wait SECONDS" in done.stderr
    assert power.is_on(lab, lab.node("node1"))


def _ping_vip(lab) -> bool:
    done = run(["ip", "netns", "exec", lab.client_netns, "ping", "-c1", "-W2", VIP],
               timeout=10, check=False)
    return done.returncode == 0


def test_lab_cli_exec_and_status(lab):
    pacemail = str(Path(sys.executable).parent / "pacemail")
    for argv in (["node2", "--", "hostname"], ["node2", "hostname"]):
        done = run([pacemail, "lab", "exec", "--name", lab.name, *argv], timeout=30)
        assert done.stdout.strip() == "node2"
    flags = run([pacemail, "lab", "exec", "--name", lab.name, "node1", "uname", "-n"], timeout=30)
    assert flags.stdout.strip() == "node1"  # options after NODE belong to the command
    report = json.loads(run([pacemail, "lab", "status", "--name", lab.name, "--json"],
                            timeout=60).stdout)
    assert [n["power"] for n in report["nodes"]] == ["on", "on", "on"]
    assert all(n["quorate"] for n in report["nodes"])
    missing = run([pacemail, "lab", "exec", "--name", lab.name, "node7", "true"], timeout=30,
                  check=False)
    assert missing.returncode != 0 and "no node 'node7'" in missing.stderr


def test_nodes_run_the_agents_of_the_checkout_that_started_the_lab(lab):
    """Each lab binds its own launchers over /usr/lib/ocf/resource.d/pacemail: a second
    checkout that installs the machine's agents later does not change what this lab runs."""
    from pacemail.agents.install import launcher

    shown = node_run(lab.name, "node1", ["cat", "/usr/lib/ocf/resource.d/pacemail/vip"],
                     timeout=10).stdout
    assert shown == launcher("vip")
    source = node_run(lab.name, "node1", ["findmnt", "-n", "-o", "SOURCE",
                                          "/usr/lib/ocf/resource.d/pacemail"], timeout=10).stdout
    assert str(lab.node("node1").root / "usr/lib/ocf/resource.d/pacemail") in source
