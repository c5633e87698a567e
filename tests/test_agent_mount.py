"""ocf:pacemail:mount in the lab, on the shared mail volume: mount, busy unmount, depth checks;
without a lab: holders awaited, mount points compared with symlinks resolved."""

from __future__ import annotations

import subprocess
import time

import pytest

from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_NOT_RUNNING, OCF_SUCCESS,
)
from pacemail.lab import cluster, state
from pacemail.lab.nodes import enter_argv, node_env, node_run
from pacemail.lab.status import mounted_on

from ocf_node import exit_reasons, run_action

MOUNT_POINT = "/srv/mail"
RECURRING = 10000
SLEEPER = ("import os, signal, sys, time\n"
           "if sys.argv[1] == 'ignore-term': signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
           "held = open(sys.argv[2]) if len(sys.argv) > 2 else None\n"
           "print(os.getpid(), flush=True)\n"
           "time.sleep(120)\n")


@pytest.fixture
def fs(lab):
    """Agent parameters for the mail volume on /srv/mail; unmounted on every node afterwards."""
    params = {"device": state.facts(lab.name)["mail_device"], "directory": MOUNT_POINT,
              "fstype": "ext4"}
    yield params
    for node in lab.nodes:
        mount(lab, node.name, "stop", params)
    assert mounted_on(lab, params["device"]) == []


def mount(lab, node, action, params, **kwargs):
    return run_action(lab, node, "mount", action, params, **kwargs)


def is_mounted(lab, node, path=MOUNT_POINT) -> bool:
    return node_run(lab.name, node, ["mountpoint", "-q", path], timeout=5,
                    check=False).returncode == 0


class Sleeper:
    """A python process inside a node, started in ``cwd``, optionally holding ``open_path``."""

    def __init__(self, lab, node, cwd, mode="normal", open_path=None):
        self.lab, self.node = lab, node
        argv = ["env", "-C", cwd, "python3", "-c", SLEEPER, mode] + ([open_path] if open_path else [])
        self.proc = subprocess.Popen(enter_argv(lab.name, node, argv), stdout=subprocess.PIPE,
                                     text=True, env=node_env(lab.name))
        self.pid = int(self.proc.stdout.readline())  # its pid inside the node

    def alive(self) -> bool:
        done = node_run(self.lab.name, self.node, ["kill", "-0", str(self.pid)], timeout=5,
                        check=False)
        return done.returncode == 0

    def end(self) -> None:
        node_run(self.lab.name, self.node, ["kill", "-9", str(self.pid)], timeout=5, check=False)
        self.proc.wait(timeout=10)


def test_ocf_tester_sequence_and_monitor_depths(lab, fs):
    node = "node1"
    assert mount(lab, node, "validate-all", fs).returncode == OCF_SUCCESS
    assert mount(lab, node, "monitor", fs).returncode == OCF_NOT_RUNNING
    assert mount(lab, node, "start", fs).returncode == OCF_SUCCESS
    assert mounted_on(lab, fs["device"]) == [node]
    assert mount(lab, node, "start", fs).returncode == OCF_SUCCESS
    for depth in (0, 10, 20):
        done = mount(lab, node, "monitor", fs, interval_ms=RECURRING, check_level=depth)
        assert done.returncode == OCF_SUCCESS, done.stderr
    status = node_run(lab.name, node, ["cat", f"{MOUNT_POINT}/.Filesystem_status/{node}"],
                      timeout=5).stdout
    assert status == "test-mount\n"

    node_run(lab.name, node, ["mount", "-o", "remount,ro", MOUNT_POINT], timeout=10)
    assert mount(lab, node, "monitor", fs, interval_ms=RECURRING).returncode == OCF_SUCCESS
    deep = mount(lab, node, "monitor", fs, interval_ms=RECURRING, check_level=20)
    assert deep.returncode == OCF_ERR_GENERIC
    assert "Read-only file system" in exit_reasons(deep.stderr)[0]

    assert mount(lab, node, "stop", fs).returncode == OCF_SUCCESS
    assert not is_mounted(lab, node)
    assert mount(lab, node, "stop", fs).returncode == OCF_SUCCESS
    assert mount(lab, node, "monitor", fs, interval_ms=RECURRING).returncode == OCF_NOT_RUNNING


def test_busy_stop_ends_holders_on_the_mount_and_nothing_else(lab, fs):
    node = "node2"
    node_run(lab.name, node, ["mkdir", "-p", "/srv/mail-old"], timeout=5)
    assert mount(lab, node, "start", fs).returncode == OCF_SUCCESS
    node_run(lab.name, node, ["touch", f"{MOUNT_POINT}/held"], timeout=5)
    sleepers = []
    try:
        in_cwd = Sleeper(lab, node, MOUNT_POINT)
        stubborn = Sleeper(lab, node, MOUNT_POINT, mode="ignore-term")
        open_file = Sleeper(lab, node, "/", open_path=f"{MOUNT_POINT}/held")
        bystander = Sleeper(lab, node, "/srv/mail-old")
        sleepers = [in_cwd, stubborn, open_file, bystander]
        params = {**fs, "stop_grace": "1"}
        began = time.monotonic()
        done = mount(lab, node, "stop", params, env=["OCF_RESKEY_CRM_meta_timeout=20000"])
        took = time.monotonic() - began
        assert done.returncode == OCF_SUCCESS, done.stderr
        assert not is_mounted(lab, node)
        assert not in_cwd.alive() and not stubborn.alive() and not open_file.alive()
        assert bystander.alive()
        assert took < 10, f"stop took {took:.1f}s"  # TERM, 1 s grace, KILL: far from 20 s
        assert "SIGKILL" in done.stderr and str(stubborn.pid) in done.stderr
    finally:
        for sleeper in sleepers:
            sleeper.end()
        node_run(lab.name, node, ["rmdir", "/srv/mail-old"], timeout=5, check=False)


def test_busy_stop_without_force_unmount_fails_and_kills_nothing(lab, fs):
    node = "node3"
    assert mount(lab, node, "start", fs).returncode == OCF_SUCCESS
    sleeper = Sleeper(lab, node, MOUNT_POINT)
    try:
        done = mount(lab, node, "stop", {**fs, "force_unmount": "false"})
        assert done.returncode == OCF_ERR_GENERIC
        assert f"{sleeper.pid} (python3)" in exit_reasons(done.stderr)[0]
        assert sleeper.alive() and is_mounted(lab, node)
    finally:
        sleeper.end()


def test_another_device_on_the_mount_point_is_refused_and_left_alone(lab, fs):
    node = "node1"
    node_run(lab.name, node, ["mkdir", "-p", MOUNT_POINT], timeout=5)
    node_run(lab.name, node, ["mount", "-t", "tmpfs", "other", MOUNT_POINT], timeout=5)
    try:
        done = mount(lab, node, "start", fs)
        assert done.returncode == OCF_ERR_GENERIC
        assert exit_reasons(done.stderr) == [
            f"{MOUNT_POINT} already holds other (tmpfs), not {fs['device']}: refusing to mount over it"]
        assert mount(lab, node, "monitor", fs).returncode == OCF_NOT_RUNNING
        assert mount(lab, node, "stop", fs).returncode == OCF_SUCCESS
        assert is_mounted(lab, node)  # the other mount is not ours to remove
        assert mounted_on(lab, fs["device"]) == []
    finally:
        node_run(lab.name, node, ["umount", MOUNT_POINT], timeout=5, check=False)


@pytest.fixture
def fake_drbdadm(lab):
    """TEST DOUBLE: a `drbdadm` script that prints the role written in its `role` file.

    The real DRBD agent lands later; this stands in for `drbdadm role RES`
    only inside these tests, first on the agent's PATH.
    """
    folder = lab.dir / "test-double-drbdadm"
    folder.mkdir(exist_ok=True)
    script = folder / "drbdadm"
    script.write_text(f'#!/bin/sh\n[ "$1" = role ] && [ "$2" = r0 ] || exit 10\n'
                      f'cat {folder}/role\n')
    script.chmod(0o755)
    yield folder
    for item in folder.iterdir():
        item.unlink()
    folder.rmdir()


@pytest.mark.parametrize("role, expected", [
    ("Secondary\n", OCF_ERR_GENERIC), ("Secondary/Primary\n", OCF_ERR_GENERIC),
    ("Primary\n", OCF_SUCCESS), ("Primary/Secondary\n", OCF_SUCCESS),
])
def test_drbd_resource_must_be_primary_here(lab, fs, fake_drbdadm, role, expected):
    (fake_drbdadm / "role").write_text(role)
    path = [f"PATH={fake_drbdadm}:/usr/sbin:/usr/bin:/sbin:/bin"]
    done = mount(lab, "node1", "start", {**fs, "drbd_resource": "r0"}, env=path)
    assert done.returncode == expected, done.stderr
    assert is_mounted(lab, "node1") == (expected == OCF_SUCCESS)
    if expected != OCF_SUCCESS:
        assert exit_reasons(done.stderr) == [
            f"DRBD resource r0 is {role.split('/')[0].strip()} here, not Primary: refusing to mount"]


@pytest.mark.parametrize("params, name", [
    ({"directory": "srv/mail"}, "directory"),
    ({"directory": "/srv/mail\n/etc"}, "directory"),
    ({"device": "/dev/loop0;reboot"}, "device"),
    ({"device": "$(reboot)"}, "device"),
    ({"fstype": "ext4 -o exec"}, "fstype"),
    ({"options": "rw`id`"}, "options"),
    ({"run_fsck": "sometimes"}, "run_fsck"),
    ({"statusfile_prefix": "../../etc/"}, "statusfile_prefix"),
])
def test_bad_parameters_are_configuration_errors_naming_the_parameter(lab, fs, params, name):
    for action in ("validate-all", "start"):
        done = mount(lab, "node1", action, {**fs, **params})
        assert done.returncode == OCF_ERR_CONFIGURED, done.stderr
        reasons = exit_reasons(done.stderr)
        assert len(reasons) == 1 and f"parameter {name}" in reasons[0], done.stderr
    assert mounted_on(lab, fs["device"]) == []


def test_under_pacemaker_the_volume_is_mounted_on_one_node_and_released(lab, fs):
    rsc = "pmfs"
    pcs = lambda *args: node_run(lab.name, "node1", ["pcs", *args], timeout=60)  # noqa: E731
    pcs("resource", "create", rsc, "ocf:pacemail:mount", f"device={fs['device']}",
        f"directory={MOUNT_POINT}", "fstype=ext4", "op", "monitor", "interval=5s",
        "OCF_CHECK_LEVEL=20")
    try:
        where = cluster.wait_for(lambda: cluster.crm_view(lab.name, "node1").resources.get(rsc),
                                 60, f"{rsc} started")
        # Mounted on exactly the node Pacemaker names (the start may still be finishing).
        cluster.wait_for(lambda: mounted_on(lab, fs["device"]) == where, 15,
                         f"{fs['device']} mounted on {where} only")
    finally:
        pcs("resource", "delete", rsc, "--force")
        cluster.wait_for(lambda: mounted_on(lab, fs["device"]) == [], 30,
                         f"{fs['device']} unmounted once {rsc} is deleted")


def test_wait_gone_returns_the_survivors_and_takes_an_exited_child_as_gone():
    import psutil

    from pacemail.agents.holders import wait_gone

    quick = subprocess.Popen(["sleep", "0.2"])
    slow = subprocess.Popen(["sleep", "30"])
    try:
        procs = [psutil.Process(quick.pid), psutil.Process(slow.pid)]
        started = time.monotonic()
        assert [p.pid for p in wait_gone(procs, 1.0)] == [slow.pid]   # quick: a zombie of ours
        assert 0.9 <= time.monotonic() - started < 5
        assert [p.pid for p in wait_gone(procs, -1.0)] == [slow.pid]  # time already up: no wait
    finally:
        slow.kill()
        quick.wait(5), slow.wait(5)


def test_mount_points_are_compared_with_symlinks_resolved_and_never_stat_ed(tmp_path):
    import os

    from pacemail.agents.mounts import Mount, resolved

    base = os.path.realpath(tmp_path)
    (tmp_path / "run" / "x").mkdir(parents=True)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "run").symlink_to(f"{base}/run")   # Debian's /var/run -> /run
    (tmp_path / "rel").symlink_to("var/run/x")
    (tmp_path / "loop").symlink_to("loop")
    assert resolved(f"{base}/var/run/x/", []) == f"{base}/run/x"
    assert resolved(f"{base}/var/run/new/deeper", []) == f"{base}/run/new/deeper"  # not made yet
    assert resolved(f"{base}/rel", []) == f"{base}/run/x"
    assert resolved(f"{base}/loop", []).endswith("/loop")  # gives up, as the kernel does (ELOOP)
    assert resolved("/", []) == "/"
    # A name the table lists is a mount point: taken as it is, not looked at (a dead NFS
    # server would hang the lookup). A symlink listed there shows it is not read.
    (tmp_path / "listed").symlink_to("run")
    table = [Mount(f"{base}/listed", 0, "nfs", "server:/export", frozenset())]
    assert resolved(f"{base}/var/../listed", table) == f"{base}/listed"
