"""pacemail's alert agent, as Pacemaker runs it: the installed launcher, a CRM_alert_* environment.

A file recipient gets one JSON line per event (lines of concurrent alerts intact); an smtp one
gets one mail through a small SMTP sink here, also when the server comes up only after the
agent started (postfix moving during a failover); what cannot be delivered ends, within the
alert's timeout, with exit 1 and the reason on stderr.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import pwd
import socket
import socketserver
import stat
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pacemail.agents import alert
from pacemail.agents.install import alert_path, alert_status, install_alert, uninstall_alert
from pacemail.proc import run

FENCED = "Operation off of node1 by node2 for pacemaker-controld.1530@node3: OK (ref=5b1c)"
FENCING = {"CRM_alert_kind": "fencing", "CRM_alert_node": "node1", "CRM_alert_task": "st_notify_fence",
           "CRM_alert_rc": "0", "CRM_alert_desc": FENCED,
           "CRM_alert_timestamp": "09:12:41.368120", "CRM_alert_timestamp_epoch": "1714813961",
           "CRM_alert_timestamp_usec": "368120", "CRM_alert_node_sequence": "12",
           "CRM_alert_version": "2.1.5"}
START = {"CRM_alert_kind": "resource", "CRM_alert_node": "node2", "CRM_alert_rsc": "pm-mount",
         "CRM_alert_task": "start", "CRM_alert_interval": "0", "CRM_alert_rc": "0",
         "CRM_alert_target_rc": "0", "CRM_alert_status": "0", "CRM_alert_desc": "ok",
         "CRM_alert_exec_time": "210", "CRM_alert_timestamp_epoch": "1714813964",
         "CRM_alert_timestamp_usec": "19433", "CRM_alert_version": "2.1.5"}
HOST = os.uname().nodename


@pytest.fixture(scope="module")
def agent(tmp_path_factory) -> Path:
    """The launcher as ``pacemail agents install`` writes it, in a scratch OCF root."""
    root = tmp_path_factory.mktemp("ocf")
    install_alert(root)
    return alert_path(root)


def fire(agent: Path, event: dict, recipient: str, *, user: str | None = None, timeout: float = 30,
         **settings: str):
    """Run the agent once as Pacemaker does: only the alert's variables in its environment."""
    env = {**event, "CRM_alert_recipient": recipient, **settings}
    argv = [str(agent)]
    if user:       # as Pacemaker runs it; setpriv keeps the environment as given
        argv = ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}",
                "--init-groups"] + argv
    return run(argv, env=env, timeout=timeout, check=False)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- install -------------------------------------------------------------------------

def test_install_status_and_uninstall_of_the_launcher(tmp_path):
    assert install_alert(tmp_path).state == "missing"
    path = tmp_path / "lib" / "pacemail" / "pacemail-alert"
    assert alert_path(tmp_path) == path and path.stat().st_mode & 0o777 == 0o755
    assert alert_status(tmp_path).state == "installed"
    inode = path.stat().st_ino
    assert install_alert(tmp_path).state == "installed" and path.stat().st_ino == inode
    path.write_text("#!/bin/sh\nexit 0\n")
    assert alert_status(tmp_path).state == "outdated"
    install_alert(tmp_path)
    assert alert_status(tmp_path).state == "installed"
    assert uninstall_alert(tmp_path) == [path] and not path.parent.exists()
    assert uninstall_alert(tmp_path) == []


def test_the_agents_commands_install_list_and_remove_it(tmp_path):
    def cli(*args):
        return run([sys.executable, "-m", "pacemail.cli", "agents", *args,
                    "--ocf-root", str(tmp_path)], timeout=60)
    assert f"{alert_path(tmp_path)}: written" in cli("install").stdout
    listed = next(line for line in cli("list").stdout.splitlines() if line.startswith("pacemail-alert"))
    assert listed.split()[1:] == [alert.VERSION, "installed", str(alert_path(tmp_path))]
    assert f"{alert_path(tmp_path)}: removed" in cli("uninstall").stdout
    assert not alert_path(tmp_path).exists()


# -- file ------------------------------------------------------------------------------

def test_a_file_recipient_gets_one_json_line_per_event(agent, tmp_path):
    log = tmp_path / "alerts.log"
    for event in (FENCING, START):
        done = fire(agent, event, str(log), pacemail_kind="file")
        assert done.returncode == 0 and done.stderr == "", done.stderr
    fencing, start = lines(log)
    assert fencing == {"time": "2024-05-04T09:12:41.368120Z", "kind": "fencing", "node": "node1",
                       "task": "st_notify_fence", "rc": "0", "desc": FENCED,
                       "node_sequence": "12", "timestamp": "09:12:41.368120", "version": "2.1.5",
                       "host": HOST}
    assert (start["kind"], start["rsc"], start["task"], start["rc"], start["node"]) == (
        "resource", "pm-mount", "start", "0", "node2")
    assert start["time"] == "2024-05-04T09:12:44.019433Z" and start["exec_time"] == "210"
    assert stat.S_IMODE(log.stat().st_mode) == 0o640


def test_values_of_any_bytes_still_make_a_parseable_line(agent, tmp_path):
    log = tmp_path / "alerts.log"
    odd = "caf\udce9 \x1b[31m\nnext"         # a Latin-1 byte, an escape sequence, a newline
    done = fire(agent, {**START, "CRM_alert_desc": odd}, str(log), pacemail_kind="file")
    assert done.returncode == 0, done.stderr
    [event] = lines(log)
    assert event["desc"] == odd and log.read_bytes().isascii()


def test_alerts_fired_at_once_leave_every_line_whole(agent, tmp_path):
    """Pacemaker starts an event's alerts all at once."""
    log = tmp_path / "alerts.log"
    long_desc = "x" * 60000       # more than a pipe's atomic write
    with ThreadPoolExecutor(16) as pool:
        runs = list(pool.map(lambda i: fire(agent, {**START, "CRM_alert_node_sequence": str(i),
                                                    "CRM_alert_desc": long_desc},
                                            str(log), pacemail_kind="file"), range(40)))
    assert all(r.returncode == 0 for r in runs)
    assert sorted(int(e["node_sequence"]) for e in lines(log)) == list(range(40))


def test_a_cancelled_operation_is_not_reported(agent, tmp_path):
    log = tmp_path / "alerts.log"
    done = fire(agent, {**START, "CRM_alert_task": "monitor", "CRM_alert_desc": "Cancelled"},
                str(log), pacemail_kind="file")
    assert done.returncode == 0 and not log.exists()


@pytest.mark.parametrize("make, words", [
    (lambda d: d, "Is a directory"),
    (lambda d: (d / "link").symlink_to(d / "real.log") or d / "link", "symbolic links"),
    (lambda d: os.mkfifo(d / "fifo") or d / "fifo", "No such device"),     # no reader: not waited on
    (lambda d: d / "missing" / "a.log", "No such file or directory"),
    (lambda d: "relative.log", "absolute path"),
    (lambda d: d / ".." / "a.log", "without '..'"),
])
def test_what_cannot_take_a_line_is_refused_with_the_reason(agent, tmp_path, make, words):
    done = fire(agent, FENCING, str(make(tmp_path)), pacemail_kind="file")
    assert done.returncode == 1 and words in done.stderr and "pacemail-alert:" in done.stderr, done.stderr
    assert not (tmp_path / "real.log").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the agent as hacluster, as Pacemaker does")
def test_as_hacluster_it_writes_where_hacluster_may_and_says_why_elsewhere():
    hacluster = pwd.getpwnam("hacluster")
    with tempfile.TemporaryDirectory(prefix="pacemail-alert-") as top:   # pytest's is root's only
        top = Path(top)
        top.chmod(0o755)
        install_alert(top)
        (theirs := top / "hacluster").mkdir()
        os.chown(theirs, hacluster.pw_uid, hacluster.pw_gid)
        done = fire(alert_path(top), FENCING, str(theirs / "alerts.log"), user="hacluster",
                    pacemail_kind="file")
        assert done.returncode == 0, done.stderr
        assert (theirs / "alerts.log").stat().st_uid == hacluster.pw_uid
        assert lines(theirs / "alerts.log")[0]["kind"] == "fencing"
        refused = fire(alert_path(top), FENCING, str(top / "root.log"), user="hacluster",
                       pacemail_kind="file")
        assert refused.returncode == 1 and "Permission denied" in refused.stderr
        assert "run as hacluster" in refused.stderr


@pytest.mark.parametrize("event, settings, words", [
    (FENCING, {}, "pacemail_kind is ''"),
    (FENCING, {"pacemail_kind": "/bin/sh"}, "not one of file, smtp"),
    ({}, {"pacemail_kind": "file"}, "no CRM_alert_kind"),
])
def test_a_call_not_made_by_a_pacemail_alert_is_refused(agent, tmp_path, event, settings, words):
    done = fire(agent, event, str(tmp_path / "a.log"), **settings)
    assert done.returncode == 1 and words in done.stderr and not (tmp_path / "a.log").exists()


def test_no_recipient_is_an_error_not_a_crash(agent):
    done = run([str(agent)], env={**FENCING, "pacemail_kind": "file"}, timeout=30, check=False)
    assert done.returncode == 1 and "no recipient" in done.stderr and "Traceback" not in done.stderr


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(values=st.dictionaries(st.sampled_from(sorted({n for f in alert.FIELDS.values() for n in f}
                                                     | set(alert.TRAILER) | {"node"})),
                              st.text().filter(lambda t: "\0" not in t)),
       kind=st.sampled_from([*alert.FIELDS, "something-new"]))
def test_any_event_makes_one_parseable_line_and_a_one_line_subject(values, kind):
    environ = {f"CRM_alert_{k}": v for k, v in values.items()} | {"CRM_alert_kind": kind}
    event = alert.read_event(environ)
    text = alert.line(event)
    assert text.endswith("\n") and "\n" not in text[:-1]
    record = json.loads(text)
    assert record["kind"] == kind and record["host"] == HOST
    assert all(record[k] == v for k, v in values.items() if k in record)
    assert all(k in record for k, v in values.items() if v and k in ("node",) + alert.FIELDS.get(kind, ()))
    assert "\n" not in alert.summary(event) and "\r" not in alert.summary(event)


def test_summaries_say_what_happened():
    def summary(**fields):
        return alert.summary(alert.read_event({f"CRM_alert_{k}": v for k, v in fields.items()}))
    assert summary(kind="node", node="node1", desc="lost") == "node node1 is now lost"
    assert summary(kind="fencing", node="node1", desc=FENCED, rc="0") == "fencing (off) of node1: ok"
    assert summary(kind="fencing", node="node1", desc="Operation reboot of node1 by <no-one> for "
                   "stonith_admin.7@node2: Timer expired (ref=9)", rc="-62") == \
        "fencing (reboot) of node1: FAILED (rc -62)"
    assert summary(kind="fencing", node="node1", rc="0") == "fencing of node1: ok"
    assert summary(kind="resource", node="node2", rsc="pm-vip-mail", task="monitor",
                   interval="10000", desc="not running") == \
        "monitor every 10000 ms of pm-vip-mail on node2: not running"
    assert summary(kind="attribute", node="node2", attribute_name="master-pm-drbd",
                   attribute_value="10000") == "master-pm-drbd of node2 is now '10000'"


# -- smtp ------------------------------------------------------------------------------

class Sink(socketserver.ThreadingTCPServer):
    """A tiny SMTP server: takes mail (or refuses RCPT with ``rcpt_reply``, for the first
    ``refusals`` connections), keeps each message; ``mute`` accepts and never greets."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int = 0, rcpt_reply: str = "", refusals: int = 1 << 30, mute=False):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.sessions = 0
        self.rcpt_reply, self.refusals, self.mute = rcpt_reply, refusals, mute
        super().__init__(("127.0.0.1", port), SinkSession)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class SinkSession(socketserver.StreamRequestHandler):
    timeout = 30

    def handle(self):
        sink: Sink = self.server
        sink.sessions += 1
        if sink.mute:
            time.sleep(30)
            return
        refuse = sink.rcpt_reply if sink.sessions <= sink.refusals else ""
        sender, recipients = "", []
        self.say("220 sink ESMTP")
        while line := self.rfile.readline().decode().rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.say("250 sink")
            elif verb == "MAIL":
                sender = line.split(":", 1)[1].strip("<> ")
                self.say("250 ok")
            elif verb == "RCPT":
                recipients.append(line.split(":", 1)[1].strip("<> "))
                self.say(refuse or "250 ok")
            elif verb == "DATA":
                self.say("354 go on")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk.removeprefix(b".").replace(b"\r\n", b"\n")   # as stored
                sink.messages.append((sender, recipients, data))
                self.say("250 queued")
            elif verb == "QUIT":
                self.say("221 bye")
                return
            else:
                self.say("500 what")

    def say(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")


@pytest.fixture
def sink():
    server = Sink()
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mail_settings(port: int, timeout_ms: int = 20000, **more: str) -> dict[str, str]:
    return {"pacemail_kind": "smtp", "pacemail_server": "127.0.0.1", "pacemail_port": str(port),
            "pacemail_timeout_ms": str(timeout_ms), "pacemail_cluster": "mail", **more}


def test_an_smtp_recipient_gets_one_short_mail(agent, sink):
    done = fire(agent, FENCING, "ops@example.org", **mail_settings(sink.port))
    assert done.returncode == 0, done.stderr
    [(sender, recipients, data)] = sink.messages
    assert (sender, recipients) == (f"hacluster@{HOST}", ["ops@example.org"])
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["Subject"] == "[mail] fencing (off) of node1: ok"
    assert (msg["To"], msg["From"], msg["Auto-Submitted"]) == (
        "ops@example.org", f"hacluster@{HOST}", "auto-generated")
    assert msg["Date"].datetime.timestamp() == 1714813961
    body = msg.get_content()
    assert f"desc: {FENCED}\n" in body and f"host: {HOST}\n" in body


def test_the_sender_is_the_alerts_when_given(agent, sink):
    done = fire(agent, START, "ops@example.org",
                **mail_settings(sink.port, pacemail_sender="cluster@example.org"))
    assert done.returncode == 0, done.stderr
    assert sink.messages[0][0] == "cluster@example.org"


def test_a_server_that_comes_up_late_still_gets_the_mail(agent):
    """The failover case: the VIP (and postfix) arrives on a survivor after the event."""
    port = free_port()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(fire, agent, FENCING, "ops@example.org", **mail_settings(port))
        time.sleep(3)
        late = Sink(port)
        try:
            done = pending.result()
        finally:
            late.stop()
    assert done.returncode == 0, done.stderr
    assert len(late.messages) == 1


def test_a_temporary_refusal_is_tried_again_and_delivered_once(agent):
    server = Sink(rcpt_reply="451 try later", refusals=1)
    try:
        done = fire(agent, FENCING, "ops@example.org", **mail_settings(server.port))
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert server.sessions == 2 and len(server.messages) == 1


def test_a_permanent_refusal_ends_at_once_with_the_servers_answer(agent):
    server = Sink(rcpt_reply="550 no such user")
    try:
        started = time.monotonic()
        done = fire(agent, FENCING, "nobody@example.org", **mail_settings(server.port))
        took = time.monotonic() - started
    finally:
        server.stop()
    assert done.returncode == 1 and "550 no such user" in done.stderr
    assert took < alert.RETRY_S and server.messages == []


@pytest.mark.parametrize("mute", [False, True], ids=["nothing listens", "never greets"])
def test_an_unreachable_server_ends_inside_the_alerts_timeout(agent, mute):
    server = Sink(mute=True) if mute else None
    port = server.port if server else free_port()
    try:
        started = time.monotonic()
        done = fire(agent, FENCING, "ops@example.org", **mail_settings(port, timeout_ms=4000))
        took = time.monotonic() - started
    finally:
        if server:
            server.stop()
    assert done.returncode == 1 and "pacemail-alert: smtp alert to ops@example.org" in done.stderr
    assert ("did not take the mail in time" in done.stderr or "gave up" in done.stderr), done.stderr
    assert took < 4.0                                  # before Pacemaker's kill


@pytest.mark.parametrize("recipient", ["Ops <ops@example.org>", "/var/log/a.log", "a%b@example.org"])
def test_a_recipient_that_is_no_plain_address_is_refused(agent, sink, recipient):
    done = fire(agent, FENCING, recipient, **mail_settings(sink.port))
    assert done.returncode == 1 and "not a plain mail address" in done.stderr and sink.sessions == 0
