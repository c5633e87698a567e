"""ocf:pacemail:postfix in the lab: two instances with config and queues on the mail volume;
without a lab: a binary or config_dir missing here is OCF_ERR_INSTALLED, as heartbeat says."""

from __future__ import annotations

import subprocess
import time

import pytest

from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_NOT_RUNNING, OCF_SUCCESS,
)
from pacemail.lab import cluster
from pacemail.lab.nodes import node_run, node_runner
from pacemail.pacemaker import status

import mail_lab
from mail_lab import CLIENT_ADDRESS, MOUNT_POINT, mount, pids, sh, umount, write
from ocf_node import exit_reasons, run_action

RECURRING = 10000
BASE = f"{MOUNT_POINT}/postfix"
SINK_PORT = 2525
INSTANCES = {"mx": 25, "sub": 2587}  # name -> smtpd port
MASTER_CF = """\
{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""
MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {base}/{name}-spool
data_directory = {base}/{name}-data
myhostname = {name}.lab.pacemail.test
mydestination =
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8 198.18.0.0/24
default_transport = smtp:[{client}]:{sink}
smtp_connect_timeout = 2s
queue_run_delay = 1s
# not under 3 s: qmgr would take a deferred file back while its agent still holds it (core/drillmail.py)
minimal_backoff_time = 3s
maximal_backoff_time = 3s
maillog_file = /var/log/postfix-{name}.log
"""
SINK = """\
import socket, sys
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    f = conn.makefile("rwb")
    def say(text):
        f.write(text.encode() + b"\\r\\n"); f.flush()
    say("220 sink")
    data = False
    for raw in f:
        line = raw.decode(errors="replace").rstrip("\\r\\n")
        if data:
            if line == ".":
                data = False; say("250 queued")
            else:
                sys.stdout.write(line + "\\n"); sys.stdout.flush()
        elif line.upper() == "DATA":
            data = True; say("354 go")
        elif line.upper() == "QUIT":
            say("221 bye"); break
        else:
            say("250 ok")
    conn.close()
"""
SEND = """\
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as s:
    s.sendmail("tester@lab.pacemail.test", [sys.argv[2]],
               "Subject: failover\\r\\nMessage-Id: <%s>\\r\\n\\r\\nqueued before the move\\r\\n" % sys.argv[3])
"""


def config_dir(name: str) -> str:
    return f"{BASE}/{name}"


def params(name: str, **extra) -> dict:
    return {"config_dir": config_dir(name), "smtp_address": "127.0.0.1",
            "smtp_port": str(INSTANCES[name]), "probe_timeout": "2", **extra}


def postfix(lab, node, action, p, **kwargs):
    return run_action(lab, node, "postfix", action, p, **kwargs)


def master(lab, node, name) -> int | None:
    found = sh(lab, node, f"cat {BASE}/{name}-spool/pid/master.pid", check=False).stdout.split()
    return int(found[0]) if found else None


def running_master(lab, node, name="mx") -> int | None:
    pid = master(lab, node, name)
    return pid if pid and alive(lab, node, pid) else None


def alive(lab, node, pid) -> bool:
    return node_run(lab.name, node, ["kill", "-0", str(pid)], timeout=5, check=False).returncode == 0


def children(lab, node, pid) -> list[int]:
    out = node_run(lab.name, node, ["pgrep", "-P", str(pid)], timeout=5, check=False).stdout
    return [int(p) for p in out.split()]


def instance(lab, node, name) -> list[int]:
    pid = master(lab, node, name)
    return [pid, *children(lab, node, pid)]


@pytest.fixture(scope="module")
def instances(lab):
    """Two instances' configs on the volume; each node's main.cf lists them, restored after."""
    mount(lab, "node1")
    try:
        for name, port in INSTANCES.items():
            write(lab, "node1", f"{config_dir(name)}/main.cf",
                  MAIN_CF.format(base=BASE, name=name, client=CLIENT_ADDRESS, sink=SINK_PORT))
            write(lab, "node1", f"{config_dir(name)}/master.cf", MASTER_CF.format(port=port))
            sh(lab, "node1", f"mkdir -p {BASE}/{name}-spool {BASE}/{name}-data; "
                             f"chown postfix {BASE}/{name}-data")
    finally:
        umount(lab, "node1")
    saved = {n.name: mail_lab.read(lab, n.name, "/etc/postfix/main.cf") for n in lab.nodes}
    listed = ", ".join(config_dir(n) for n in INSTANCES)
    for node in saved:
        node_run(lab.name, node, ["postconf", "-e", f"alternate_config_directories = {listed}"],
                 timeout=10)
    yield
    for node, text in saved.items():
        stop_all(lab, node)
        write(lab, node, "/etc/postfix/main.cf", text)


def stop_all(lab, node):
    mount(lab, node)
    for name in INSTANCES:
        assert postfix(lab, node, "stop", params(name)).returncode == OCF_SUCCESS
    umount(lab, node)


@pytest.fixture
def on_node1(lab, instances):
    mount(lab, "node1")
    yield "node1"
    stop_all(lab, "node1")


def test_ocf_sequence_and_monitor_depths(lab, on_node1):
    node, p = on_node1, params("mx")
    assert postfix(lab, node, "validate-all", p).returncode == OCF_SUCCESS
    assert postfix(lab, node, "monitor", p).returncode == OCF_NOT_RUNNING
    done = postfix(lab, node, "start", p)
    assert done.returncode == OCF_SUCCESS, done.stderr
    first = master(lab, node, "mx")
    assert postfix(lab, node, "start", p).returncode == OCF_SUCCESS
    assert master(lab, node, "mx") == first
    for depth in (0, 10, 20):
        done = postfix(lab, node, "monitor", p, interval_ms=RECURRING, check_level=depth)
        assert done.returncode == OCF_SUCCESS, (depth, done.stderr)
    assert postfix(lab, node, "reload", p).returncode == OCF_SUCCESS
    assert postfix(lab, node, "stop", p).returncode == OCF_SUCCESS
    assert not alive(lab, node, first)
    assert postfix(lab, node, "stop", p).returncode == OCF_SUCCESS
    assert postfix(lab, node, "monitor", p, interval_ms=RECURRING).returncode == OCF_NOT_RUNNING
    assert postfix(lab, node, "monitor", p).returncode == OCF_NOT_RUNNING


def test_without_the_volume_probe_says_not_running_and_start_not_installed(lab, instances):
    node, p = "node2", params("mx")
    umount(lab, node)
    assert postfix(lab, node, "monitor", p).returncode == OCF_NOT_RUNNING
    assert postfix(lab, node, "monitor", {**p, "queue_directory": f"{BASE}/mx-spool"}
                   ).returncode == OCF_NOT_RUNNING
    for action in ("validate-all", "start"):
        done = postfix(lab, node, action, p)
        assert done.returncode == OCF_ERR_INSTALLED, done.stderr
        assert exit_reasons(done.stderr) == [f"{BASE}/mx/main.cf does not exist on this node"]
    assert postfix(lab, node, "stop", p).returncode == OCF_SUCCESS


def test_killed_master_is_not_running_and_stop_ends_only_that_instance(lab, on_node1):
    node = on_node1
    for name in INSTANCES:
        assert postfix(lab, node, "start", params(name)).returncode == OCF_SUCCESS
    mx, sub = master(lab, node, "mx"), master(lab, node, "sub")
    mx_children = children(lab, node, mx)  # pickup, qmgr... of mx
    assert mx_children
    node_run(lab.name, node, ["kill", "-9", str(mx)], timeout=5)
    done = postfix(lab, node, "monitor", params("mx"), interval_ms=RECURRING)
    assert done.returncode == OCF_NOT_RUNNING
    assert postfix(lab, node, "monitor", params("sub"), interval_ms=RECURRING,
                   check_level=10).returncode == OCF_SUCCESS
    assert postfix(lab, node, "stop", params("mx")).returncode == OCF_SUCCESS
    assert not any(alive(lab, node, pid) for pid in mx_children)
    assert master(lab, node, "sub") == sub and alive(lab, node, sub)
    assert postfix(lab, node, "monitor", params("sub"), interval_ms=RECURRING,
                   check_level=10).returncode == OCF_SUCCESS


def test_stop_escalates_to_sigkill_within_its_timeout(lab, on_node1):
    node = on_node1
    for name in INSTANCES:
        assert postfix(lab, node, "start", params(name)).returncode == OCF_SUCCESS
    sub = master(lab, node, "sub")
    wedged = instance(lab, node, "mx")
    node_run(lab.name, node, ["kill", "-STOP", *map(str, wedged)], timeout=5)
    began = time.monotonic()
    done = postfix(lab, node, "stop", params("mx", stop_grace="1"),
                   env=["OCF_RESKEY_CRM_meta_timeout=20000"])
    took = time.monotonic() - began
    assert done.returncode == OCF_SUCCESS, done.stderr
    assert "SIGKILL" in done.stderr
    assert took < 20
    assert not any(alive(lab, node, pid) for pid in wedged)
    assert alive(lab, node, sub)


def test_wedged_smtpd_fails_depth_10_within_the_probe_timeout(lab, on_node1):
    node, p = on_node1, params("mx")
    assert postfix(lab, node, "start", p).returncode == OCF_SUCCESS
    wedged = instance(lab, node, "mx")
    node_run(lab.name, node, ["kill", "-STOP", *map(str, wedged)], timeout=5)
    try:
        assert postfix(lab, node, "monitor", p, interval_ms=RECURRING).returncode == OCF_SUCCESS
        began = time.monotonic()
        done = postfix(lab, node, "monitor", p, interval_ms=RECURRING, check_level=10)
        took = time.monotonic() - began
        assert done.returncode == OCF_ERR_GENERIC
        assert exit_reasons(done.stderr) == ["SMTP probe: no answer from 127.0.0.1:25: timed out"]
        assert took < 5, f"depth 10 took {took:.1f}s with probe_timeout=2"
    finally:
        node_run(lab.name, node, ["kill", "-CONT", *map(str, wedged)], timeout=5)


@pytest.mark.parametrize("name, value", [
    ("config_dir", "/srv/mail/../etc/postfix"),
    ("config_dir", "/srv/mail/postfix/mx; reboot"),
    ("config_dir", "/srv/mail/postfix/m x"),
    ("config_dir", "/srv/mail/postfix/mx\n/etc"),
    ("config_dir", "/srv/mail/postfix/\udcffmx"),  # a non-UTF-8 byte
    ("binary", "$(reboot)"),
    ("parameters", "-v; reboot"),
    ("parameters", "-v `id`"),
    ("queue_directory", "/srv/mail/../etc"),
    ("smtp_address", "127.0.0.1 -oProxyCommand=x"),
    ("smtp_port", "25|x"),
    ("smtp_port", "70000"),
])
def test_bad_parameters_are_configuration_errors_naming_the_parameter(lab, instances, name, value):
    for action in ("validate-all", "start"):
        done = postfix(lab, "node3", action, {**params("mx"), name: value})
        assert done.returncode == OCF_ERR_CONFIGURED, done.stderr
        reasons = exit_reasons(done.stderr)
        assert len(reasons) == 1 and reasons[0].startswith(f"parameter {name}:"), done.stderr
    assert pids(lab, "node3", "postfix/sbin/master") == []


def test_queue_directory_override_must_match_main_cf(lab, on_node1):
    node = on_node1
    ok = postfix(lab, node, "validate-all", params("mx", queue_directory=f"{BASE}/mx-spool"))
    assert ok.returncode == OCF_SUCCESS, ok.stderr
    done = postfix(lab, node, "start", params("mx", queue_directory=f"{BASE}/sub-spool"))
    assert done.returncode == OCF_ERR_CONFIGURED
    assert "is not the queue_directory of" in exit_reasons(done.stderr)[0]
    assert master(lab, node, "mx") is None or not alive(lab, node, master(lab, node, "mx"))


class Sink:
    """An SMTP sink in the client namespace, printing the message lines it receives."""

    def __init__(self, lab):
        self.proc = subprocess.Popen(["ip", "netns", "exec", lab.client_netns, "python3", "-c",
                                      SINK, CLIENT_ADDRESS, str(SINK_PORT)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "ready\n"

    def received(self, marker: str, timeout: float) -> str:
        """What the sink printed once a line holds ``marker`` (or ``timeout`` passed)."""
        import threading
        lines = []

        def read():
            for line in self.proc.stdout:
                lines.append(line)
                if marker in line:
                    return
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        return "".join(lines)

    def end(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def test_mail_queued_on_one_node_is_delivered_from_the_next(lab, instances):
    """No sink listens while node1 holds the queue, so the message defers there; it
    arrives once the volume and the instance moved to node2 and the sink listens."""
    p = params("mx")
    mount(lab, "node1")
    assert postfix(lab, "node1", "start", p).returncode == OCF_SUCCESS
    message_id = f"failover-{time.time_ns()}@lab.pacemail.test"
    node_run(lab.name, "node1", ["python3", "-c", SEND, "25", "someone@remote.test", message_id],
             timeout=20)
    cluster.wait_for(lambda: "status=deferred" in mail_lab.read(lab, "node1",
                                                                 "/var/log/postfix-mx.log"),
                     20, "the message deferred on node1")
    stop_all(lab, "node1")
    mount(lab, "node2")
    sink = Sink(lab)
    try:
        assert postfix(lab, "node2", "start", p).returncode == OCF_SUCCESS
        got = sink.received("queued before the move", 30)
        assert f"Message-Id: <{message_id}>" in got
        assert "queued before the move" in got
    finally:
        sink.end()
        stop_all(lab, "node2")


def test_under_pacemaker_a_killed_master_is_recovered(lab, instances):
    grp, fs, rsc = "pmmailgrp", "pmmailfs", "pmpostfix"
    pcs = lambda *args: node_run(lab.name, "node1", ["pcs", *args], timeout=60)  # noqa: E731
    pcs("resource", "create", fs, "ocf:pacemail:mount", f"device={mail_lab.device(lab)}",
        f"directory={MOUNT_POINT}", "fstype=ext4", "--group", grp)
    pcs("resource", "create", rsc, "ocf:pacemail:postfix", f"config_dir={config_dir('mx')}",
        "smtp_address=127.0.0.1", "probe_timeout=2", "op", "monitor", "interval=3s",
        "OCF_CHECK_LEVEL=10", "--group", grp)
    try:
        where = cluster.wait_for(lambda: cluster.crm_view(lab.name, "node1").resources.get(rsc),
                                 60, f"{rsc} started")
        node = where[0]
        cluster.settle(lab.name, "node1", 60)
        first = cluster.wait_for(lambda: running_master(lab, node), 30, "the mx master running")
        node_run(lab.name, node, ["kill", "-9", str(first)], timeout=5)

        def recovered():
            pid = running_master(lab, node)
            return pid != first and pid and cluster.crm_view(lab.name, "node1").resources.get(rsc)
        cluster.wait_for(recovered, 60, f"{rsc} recovered after kill -9 of its master")
        failures = status.read(run=node_runner(lab.name, "node1"), timeout=10).failures
        assert any((f.resource, f.operation, f.interval, f.result) == (rsc, "monitor", "3000",
                                                                       "not running")
                   for f in failures), failures
        greeting = mail_lab.in_client(lab, ["python3", "-c",
                                            "import smtplib,sys; s=smtplib.SMTP(sys.argv[1],25,"
                                            "timeout=5); print(s.noop()[0]); s.quit()",
                                            lab.node(node).address],
                                      capture_output=True, text=True, timeout=20)
        assert greeting.stdout.strip() == "250", greeting.stderr
    finally:
        pcs("resource", "delete", grp, "--force")
        cluster.wait_for(lambda: not any(pids(lab, n.name, "postfix/sbin/master")
                                         for n in lab.nodes), 60, "postfix stopped everywhere")
        # the orphaned mount is stopped after postfix: the fixture's umount must not race it
        cluster.settle(lab.name, "node1", 60)


# -- heartbeat's exit codes for a binary or config_dir missing here (no lab) ----------------

def run_here(action, capsys, **values):
    from pacemail.agents.postfix import AGENT
    env = {"HA_LOGFACILITY": "none", **{f"OCF_RESKEY_{k}": v for k, v in values.items()}}
    code = AGENT.run([action], env)
    return code, exit_reasons(capsys.readouterr().err)


@pytest.mark.parametrize("values, expected, reason", [
    ({"binary": "no_such"}, OCF_ERR_INSTALLED, "no_such is not an executable on this node"),
    ({"binary": "/no/such/postfix"}, OCF_ERR_INSTALLED, "is not an executable on this node"),
    ({"binary": "true", "config_dir": "no_such"}, OCF_ERR_INSTALLED,
     "config_dir no_such is not an absolute path"),   # never looked up from the working dir
    ({"binary": "bin/postfix"}, OCF_ERR_CONFIGURED, "parameter binary:"),
    ({"binary": "-v"}, OCF_ERR_CONFIGURED, "parameter binary:"),
])
def test_missing_binary_or_config_dir_is_not_installed_as_heartbeat_says(capsys, values, expected,
                                                                         reason):
    code, reasons = run_here("validate-all", capsys, **values)
    assert code == expected and reason in reasons[0]


def test_relative_config_dir_runs_nowhere(capsys):
    assert run_here("monitor", capsys, config_dir="no_such")[0] == OCF_NOT_RUNNING
    assert run_here("stop", capsys, config_dir="no_such")[0] == OCF_SUCCESS
