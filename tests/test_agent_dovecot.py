"""ocf:pacemail:dovecot in the lab: config, maildirs and indexes on the mail volume."""

from __future__ import annotations

import time

import pytest

from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_PERM, OCF_NOT_RUNNING,
    OCF_SUCCESS,
)
from pacemail.lab import cluster
from pacemail.lab.nodes import node_run, node_runner
from pacemail.pacemaker import status

from mail_lab import MOUNT_POINT, device, mount, sh, umount, write
from ocf_node import exit_reasons, run_action

RECURRING = 10000
BASE = f"{MOUNT_POINT}/dovecot"
CONFIG = f"{BASE}/dovecot.conf"
BASE_DIR = "/run/dovecot-pm"
PASSWORD_FILE = f"{BASE}/monitor.pw"
DOVECOT_CONF = f"""\
protocols = imap lmtp
listen = *
base_dir = {BASE_DIR}/
ssl = no
disable_plaintext_auth = no
first_valid_uid = 8
log_path = /var/log/dovecot-pm.log
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {BASE}/users
}}
userdb {{
  driver = passwd-file
  args = {BASE}/users
}}
service lmtp {{
  inet_listener lmtp {{
    port = 24
  }}
}}
"""
DELIVER = """\
import smtplib, sys
with smtplib.LMTP("127.0.0.1", 24, timeout=10) as s:
    s.sendmail("tester@lab.pacemail.test", ["test"],
               "Subject: moved\\r\\nMessage-Id: <%s>\\r\\n\\r\\ndelivered on node A\\r\\n" % sys.argv[1])
"""
READ = """\
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", 143, timeout=10)
m.login("test", "secret")
m.select("INBOX", readonly=True)
_, found = m.search(None, "HEADER", "Message-Id", sys.argv[1])
for num in found[0].split():
    print(m.fetch(num, "(RFC822)")[1][0][1].decode())
m.logout()
"""


def params(**extra) -> dict:
    return {"config_file": CONFIG, "imap_address": "127.0.0.1", "lmtp_address": "127.0.0.1",
            "monitor_user": "test", "monitor_password_file": PASSWORD_FILE,
            "probe_timeout": "2", **extra}


def dovecot(lab, node, action, p, **kwargs):
    return run_action(lab, node, "dovecot", action, p, **kwargs)


def master(lab, node) -> int | None:
    found = sh(lab, node, f"cat {BASE_DIR}/master.pid", check=False).stdout.split()
    pid = int(found[0]) if found else None
    alive = pid and node_run(lab.name, node, ["kill", "-0", str(pid)], timeout=5,
                             check=False).returncode == 0
    return pid if alive else None


def instance(lab, node) -> list[int]:
    pid = master(lab, node)
    out = node_run(lab.name, node, ["pgrep", "-P", str(pid)], timeout=5, check=False).stdout
    return [pid, *map(int, out.split())]


def alive(lab, node, pid) -> bool:
    return node_run(lab.name, node, ["kill", "-0", str(pid)], timeout=5, check=False).returncode == 0


@pytest.fixture(scope="module")
def config(lab):
    """The instance's config, users, password file and mailbox root on the volume."""
    mount(lab, "node1")
    try:
        write(lab, "node1", CONFIG, DOVECOT_CONF)
        write(lab, "node1", f"{BASE}/users", "test:{PLAIN}secret:8:8::/srv/mail/vmail/test::\n")
        write(lab, "node1", PASSWORD_FILE, "secret\n")
        sh(lab, "node1", f"chmod 600 {PASSWORD_FILE}; mkdir -p {MOUNT_POINT}/vmail; "
                         f"chown mail:mail {MOUNT_POINT}/vmail")
    finally:
        umount(lab, "node1")
    yield
    for node in lab.nodes:
        stop_on(lab, node.name)


def stop_on(lab, node):
    mount(lab, node)
    assert dovecot(lab, node, "stop", params()).returncode == OCF_SUCCESS
    umount(lab, node)


@pytest.fixture
def on_node1(lab, config):
    mount(lab, "node1")
    yield "node1"
    stop_on(lab, "node1")


def test_ocf_sequence_and_monitor_depths(lab, on_node1):
    node, p = on_node1, params()
    assert dovecot(lab, node, "validate-all", p).returncode == OCF_SUCCESS
    assert dovecot(lab, node, "monitor", p).returncode == OCF_NOT_RUNNING
    done = dovecot(lab, node, "start", p)
    assert done.returncode == OCF_SUCCESS, done.stderr
    first = master(lab, node)
    assert first
    assert dovecot(lab, node, "start", p).returncode == OCF_SUCCESS
    assert master(lab, node) == first
    for depth in (0, 10, 20):
        done = dovecot(lab, node, "monitor", p, interval_ms=RECURRING, check_level=depth)
        assert done.returncode == OCF_SUCCESS, (depth, done.stderr)
    socket = dovecot(lab, node, "monitor", {**p, "lmtp_socket": f"{BASE_DIR}/lmtp"},
                     interval_ms=RECURRING, check_level=10)
    assert socket.returncode == OCF_SUCCESS, socket.stderr
    wrong = dovecot(lab, node, "monitor", {**p, "monitor_user": "nobody", "probe_timeout": "5"},
                    interval_ms=RECURRING, check_level=20)  # dovecot delays a refusal by 2 s
    assert wrong.returncode == OCF_ERR_GENERIC
    assert "answered LOGIN" in exit_reasons(wrong.stderr)[0]
    assert dovecot(lab, node, "reload", p).returncode == OCF_SUCCESS
    assert dovecot(lab, node, "stop", p).returncode == OCF_SUCCESS
    assert not alive(lab, node, first)
    assert dovecot(lab, node, "stop", p).returncode == OCF_SUCCESS
    assert dovecot(lab, node, "monitor", p, interval_ms=RECURRING).returncode == OCF_NOT_RUNNING
    assert dovecot(lab, node, "monitor", p).returncode == OCF_NOT_RUNNING


def test_without_the_volume_probe_says_not_running_and_start_not_installed(lab, config):
    node, p = "node2", params()
    umount(lab, node)
    assert dovecot(lab, node, "monitor", p).returncode == OCF_NOT_RUNNING
    for action in ("validate-all", "start"):
        done = dovecot(lab, node, action, p)
        assert done.returncode == OCF_ERR_INSTALLED, done.stderr
        assert exit_reasons(done.stderr) == [f"{CONFIG} does not exist on this node"]
    assert dovecot(lab, node, "stop", p).returncode == OCF_SUCCESS


def test_password_file_must_be_root_only(lab, on_node1):
    sh(lab, on_node1, f"chmod 644 {PASSWORD_FILE}")
    try:
        done = dovecot(lab, on_node1, "validate-all", params())
        assert done.returncode == OCF_ERR_PERM
        assert "without group or other permissions" in exit_reasons(done.stderr)[0]
    finally:
        sh(lab, on_node1, f"chmod 600 {PASSWORD_FILE}")


def test_killed_master_is_not_running_and_stop_ends_its_orphans(lab, on_node1):
    node, p = on_node1, params()
    assert dovecot(lab, node, "start", p).returncode == OCF_SUCCESS
    procs = instance(lab, node)
    node_run(lab.name, node, ["kill", "-9", str(procs[0])], timeout=5)
    assert dovecot(lab, node, "monitor", p, interval_ms=RECURRING).returncode == OCF_NOT_RUNNING
    assert dovecot(lab, node, "stop", p).returncode == OCF_SUCCESS
    assert not any(alive(lab, node, pid) for pid in procs)


def test_wedged_dovecot_fails_depth_10_within_the_probe_timeout(lab, on_node1):
    node, p = on_node1, params()
    assert dovecot(lab, node, "start", p).returncode == OCF_SUCCESS
    wedged = instance(lab, node)
    node_run(lab.name, node, ["kill", "-STOP", *map(str, wedged)], timeout=5)
    try:
        assert dovecot(lab, node, "monitor", p, interval_ms=RECURRING).returncode == OCF_SUCCESS
        began = time.monotonic()
        done = dovecot(lab, node, "monitor", p, interval_ms=RECURRING, check_level=10)
        took = time.monotonic() - began
        assert done.returncode == OCF_ERR_GENERIC
        assert exit_reasons(done.stderr)[0].startswith("dovecot probe: ")
        assert "timed out" in exit_reasons(done.stderr)[0]
        assert took < 5, f"depth 10 took {took:.1f}s with probe_timeout=2"
        began = time.monotonic()
        done = dovecot(lab, node, "stop", {**p, "stop_grace": "1"})
        assert done.returncode == OCF_SUCCESS and "SIGKILL" in done.stderr
        assert time.monotonic() - began < 20
        assert not any(alive(lab, node, pid) for pid in wedged)
    finally:
        node_run(lab.name, node, ["kill", "-CONT", *map(str, wedged)], timeout=5, check=False)


@pytest.mark.parametrize("name, value", [
    ("config_file", "dovecot.conf"),
    ("config_file", "/srv/mail/dovecot/dovecot.conf; reboot"),
    ("config_file", "/srv/mail/dove cot.conf"),
    ("config_file", "/srv/mail/dovecot/\udcffx.conf"),  # a non-UTF-8 byte
    ("pid_file", "/run/x\n/etc/passwd"),
    ("binary", "$(reboot)"),
    ("parameters", "-F && reboot"),
    ("imap_address", "127.0.0.1:143"),
    ("lmtp_socket", "../lmtp"),
    ("monitor_user", "test\r\na2 LOGOUT"),
])
def test_bad_parameters_are_configuration_errors_naming_the_parameter(lab, config, name, value):
    for action in ("validate-all", "start"):
        done = dovecot(lab, "node3", action, {**params(), name: value})
        assert done.returncode == OCF_ERR_CONFIGURED, done.stderr
        reasons = exit_reasons(done.stderr)
        assert len(reasons) == 1 and reasons[0].startswith(f"parameter {name}:"), done.stderr
    assert master(lab, "node3") is None


def test_mail_delivered_over_lmtp_on_one_node_is_read_over_imap_on_the_next(lab, config):
    message_id = f"moved-{time.time_ns()}@lab.pacemail.test"
    mount(lab, "node1")
    assert dovecot(lab, "node1", "start", params()).returncode == OCF_SUCCESS
    node_run(lab.name, "node1", ["python3", "-c", DELIVER, message_id], timeout=20)
    stop_on(lab, "node1")
    mount(lab, "node2")
    try:
        assert dovecot(lab, "node2", "start", params()).returncode == OCF_SUCCESS
        got = node_run(lab.name, "node2", ["python3", "-c", READ, message_id], timeout=20).stdout
        assert f"Message-Id: <{message_id}>" in got and "delivered on node A" in got
    finally:
        stop_on(lab, "node2")


def test_under_pacemaker_a_killed_master_is_recovered(lab, config):
    grp, fs, rsc = "pmimapgrp", "pmimapfs", "pmdovecot"
    pcs = lambda *args: node_run(lab.name, "node1", ["pcs", *args], timeout=60)  # noqa: E731
    pcs("resource", "create", fs, "ocf:pacemail:mount", f"device={device(lab)}",
        f"directory={MOUNT_POINT}", "fstype=ext4", "--group", grp)
    pcs("resource", "create", rsc, "ocf:pacemail:dovecot", f"config_file={CONFIG}",
        "imap_address=127.0.0.1", "lmtp_address=127.0.0.1", "monitor_user=test",
        f"monitor_password_file={PASSWORD_FILE}", "probe_timeout=2",
        "op", "monitor", "interval=3s", "OCF_CHECK_LEVEL=20", "--group", grp)
    try:
        where = cluster.wait_for(lambda: cluster.crm_view(lab.name, "node1").resources.get(rsc),
                                 60, f"{rsc} started")
        node = where[0]
        cluster.settle(lab.name, "node1", 60)
        first = cluster.wait_for(lambda: master(lab, node), 30, "the dovecot master running")
        node_run(lab.name, node, ["kill", "-9", str(first)], timeout=5)

        def recovered():
            pid = master(lab, node)
            return pid != first and pid and cluster.crm_view(lab.name, "node1").resources.get(rsc)
        cluster.wait_for(recovered, 60, f"{rsc} recovered after kill -9 of its master")
        failures = status.read(run=node_runner(lab.name, "node1"), timeout=10).failures
        assert any((f.resource, f.operation, f.interval, f.result) == (rsc, "monitor", "3000",
                                                                       "not running")
                   for f in failures), failures
    finally:
        pcs("resource", "delete", grp, "--force")
        cluster.wait_for(lambda: not any(master(lab, n.name) for n in lab.nodes), 60,
                         "dovecot stopped everywhere")
        # the orphaned mount is stopped after dovecot: the fixture's umount must not race it
        cluster.settle(lab.name, "node1", 60)
