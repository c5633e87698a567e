"""pacemail's Pacemaker alert agent: one JSON line appended to a file, or one short mail, per event.

Pacemaker runs an alert's agent once per event and recipient, in the
background, as the hacluster user, with the event in ``CRM_alert_*``
variables and the alert's instance attributes as variables of their own.
Every alert of a description is rendered with this agent (its launcher,
written by ``pacemail agents install``, is ``install.alert_path``) and
its kind in :data:`KIND`:

- ``file``: the recipient is a file path; one JSON object per line is
  appended (the file made, mode 0640, when missing). Pacemaker starts the
  alerts of one event all at once, so the line goes in one write under an
  exclusive lock: lines never interleave.
- ``smtp``: the recipient is a mail address; one short mail goes by SMTP to
  :data:`SERVER` (the description makes it the mail VIP: the cluster's own
  postfix, wherever it runs). During a failover that postfix is on its way
  to a survivor, so a refused or dropped connection is tried again until
  the alert's time (:data:`TIMEOUT_MS`) is nearly up; a permanent refusal
  (5xx) ends it at once.

No shell and no child process; the whole delivery is bounded by an interval
timer set a little inside the alert's timeout, so the agent ends with its
own reason before Pacemaker would kill it. Exit 0 when delivered, 1 with
the reason on stderr (which Pacemaker logs) otherwise. Cancelled
operations (a recurring monitor stopped with its resource) are not
reported, as in Pacemaker's sample agents.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import stat
import sys
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone

# The instance attributes the description renders (Pacemaker passes them as variables).
KIND = "pacemail_kind"
CLUSTER = "pacemail_cluster"
SERVER = "pacemail_server"
PORT = "pacemail_port"
SENDER = "pacemail_sender"
TIMEOUT_MS = "pacemail_timeout_ms"

VERSION = "1.0"
KINDS = ("file", "smtp")
# Pacemaker's default alert timeout: what a hand-made alert without TIMEOUT_MS gets.
DEFAULT_TIMEOUT_MS = 30000
SMTP_PORT = 25
RETRY_S = 2.0           # pause between SMTP attempts while the server is away
CALL_S = 10.0           # one SMTP attempt (connect and conversation) at most
FILE_MODE = 0o640

# A domain name: letters, digits and '-' in dot-separated labels, at most 253 characters.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*", re.ASCII)
# A plain addr-spec: dot-separated words of letters, digits, '_', '+', '=', '-' before the @
# (no quoting, no '%' or '!' routing, no display name), a domain after it.
_WORD = r"[A-Za-z0-9_+=-]+"
ADDRESS = re.compile(rf"(?=.{{3,254}}\Z){_WORD}(?:\.{_WORD})*@{_LABEL}(?:\.{_LABEL})*", re.ASCII)
ADDRESS_TEXT = ("a plain mail address such as ops@example.org (letters, digits, '.', '_', '+', "
                "'=', '-' before the @, no name or <>)")

# What a line or mail holds of each kind of event, after ``time`` and ``kind`` and ``node``:
# Pacemaker's variable names without ``CRM_alert_``.
FIELDS = {
    "node": ("nodeid", "desc"),
    "fencing": ("task", "rc", "desc"),
    "resource": ("rsc", "task", "interval", "rc", "target_rc", "status", "desc", "exec_time"),
    "attribute": ("attribute_name", "attribute_value"),
}
TRAILER = ("node_sequence", "timestamp", "version")
# A fencing event's desc, as Pacemaker writes it: "Operation off of node1 by node2 for ...".
FENCE_ACTION = re.compile(r"Operation (\S+) of ")


class Undeliverable(Exception):
    """The event could not be delivered to its recipient; the message says why."""


class Expired(Exception):
    """The agent's own time is up (an interval timer, so even a blocked call ends)."""


@dataclass(frozen=True)
class Event:
    when: datetime
    fields: dict[str, str]     # kind, node, then FIELDS[kind] and TRAILER, as Pacemaker gave them
    host: str                  # the node this agent runs on (not always the node it is about)

    def record(self) -> dict[str, str]:
        return {"time": self.when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                **self.fields, "host": self.host}


def read_event(environ) -> Event:
    def value(name: str) -> str:
        return environ.get(f"CRM_alert_{name}", "")

    kind = value("kind")
    names = ("kind", "node") + FIELDS.get(kind, ("desc",)) + TRAILER
    fields = {n: value(n) for n in names if value(n)}
    try:
        seconds, usec = int(value("timestamp_epoch")), int(value("timestamp_usec") or 0)
        when = datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=usec % 1000000)
    except (ValueError, OverflowError, OSError):
        when = datetime.now(timezone.utc)
    return Event(when, fields, os.uname().nodename)


def line(event: Event) -> str:
    """One JSON object and a newline, in ASCII: control characters, and bytes of no
    encoding a variable may hold, come out escaped."""
    return json.dumps(event.record()) + "\n"


def summary(event: Event) -> str:
    """One line saying what happened, for a mail's subject."""
    f = event.fields
    node, desc = f.get("node", "?"), f.get("desc", "?")
    kind = f.get("kind", "?")
    if kind == "node":
        text = f"node {node} is now {desc}"
    elif kind == "fencing":
        rc, action = f.get("rc", "?"), FENCE_ACTION.match(desc)   # task is the notice's type
        text = (f"fencing ({action[1]}) of {node}: " if action else f"fencing of {node}: ") + \
            ("ok" if rc == "0" else f"FAILED (rc {rc})")
    elif kind == "resource":
        interval = f.get("interval", "0")
        task = f.get("task", "?") + (f" every {interval} ms" if interval not in ("", "0") else "")
        text = f"{task} of {f.get('rsc', '?')} on {node}: {desc}"
    elif kind == "attribute":
        text = f"{f.get('attribute_name', '?')} of {node} is now {f.get('attribute_value', '')!r}"
    else:
        text = f"{kind} event on {node}"
    return _one_line(text)


def append(path: str, text: str) -> None:
    """Append ``text`` in one write under an exclusive lock; never through a symbolic link,
    never to anything but a regular file (a FIFO without reader is refused, not waited on)."""
    if not path.startswith("/") or ".." in path.split("/") or "\0" in path:
        raise Undeliverable("the recipient of a file alert must be an absolute path without '..'")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as exc:
        hint = " (alert agents run as hacluster: let it write there)" \
            if isinstance(exc, PermissionError) else ""
        raise Undeliverable(f"cannot open {path}: {exc.strerror}{hint}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Undeliverable(f"{path} is not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
    except OSError as exc:
        raise Undeliverable(f"cannot write {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def message(event: Event, recipient: str, sender: str, cluster: str):
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = f"[{cluster or 'pacemaker'}] {summary(event)}"
    msg["Date"] = format_datetime(event.when)
    msg["Message-ID"] = make_msgid("pacemail-alert", domain=event.host)  # no DNS lookup
    msg["Auto-Submitted"] = "auto-generated"       # RFC 3834: no auto-replies to it
    msg.set_content("".join(f"{k}: {_one_line(v)}\n" for k, v in event.record().items()))
    return msg


def send(msg, server: str, port: int, deadline: float, local_name: str) -> None:
    """Submit ``msg`` over SMTP, trying again while the server is away or answers 4xx, until
    ``deadline`` (monotonic); a 5xx answer is final."""
    import smtplib

    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Undeliverable(f"{server}:{port}: no time left to try")
        try:
            # local_hostname given: smtplib would otherwise ask DNS for this host's FQDN
            smtp = smtplib.SMTP(server, port, timeout=min(CALL_S, left), local_hostname=local_name)
            try:
                smtp.send_message(msg)
                try:
                    smtp.quit()
                except (OSError, smtplib.SMTPException):
                    pass          # the mail is taken: a lost goodbye must not send it again
            finally:
                smtp.close()
            return
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            last = f"recipient refused: {_reply(*next(iter(exc.recipients.values())))}"
            if all(code >= 500 for code in codes):
                raise Undeliverable(last) from None
        except smtplib.SMTPResponseException as exc:
            last = _reply(exc.smtp_code, exc.smtp_error)
            if exc.smtp_code >= 500:
                raise Undeliverable(f"{server}:{port} answered {last}") from None
        except (OSError, smtplib.SMTPException) as exc:
            last = str(exc) or type(exc).__name__
        if deadline - time.monotonic() <= RETRY_S:
            raise Undeliverable(f"{server}:{port} did not take the mail in time; last: {last}")
        time.sleep(RETRY_S)


def to_file(event: Event, recipient: str, environ, deadline: float) -> None:
    append(recipient, line(event))


def to_mail(event: Event, recipient: str, environ, deadline: float) -> None:
    if not ADDRESS.fullmatch(recipient):
        raise Undeliverable(f"the recipient {recipient!r} is not {ADDRESS_TEXT}")
    sender = environ.get(SENDER) or f"hacluster@{event.host}"
    try:
        port = int(environ.get(PORT) or SMTP_PORT)
    except ValueError:
        raise Undeliverable(f"{PORT} {environ.get(PORT)!r} is no port number") from None
    msg = message(event, recipient, sender, environ.get(CLUSTER, ""))
    send(msg, environ.get(SERVER) or "127.0.0.1", port, deadline, event.host)


DELIVER = {"file": to_file, "smtp": to_mail}


def budget_s(environ) -> float:
    """The time the agent gives itself: inside the alert's timeout, so that it ends with its
    own reason rather than Pacemaker's kill."""
    try:
        timeout = int(environ.get(TIMEOUT_MS) or DEFAULT_TIMEOUT_MS) / 1000
    except ValueError:
        timeout = DEFAULT_TIMEOUT_MS / 1000
    return max(timeout - 2, timeout * 0.8, 0.1)


def main(environ=os.environ) -> int:
    kind, recipient = environ.get(KIND, ""), environ.get("CRM_alert_recipient", "")
    deliver = DELIVER.get(kind)
    if deliver is None:
        return _fail(f"{KIND} is {kind!r}, not one of {', '.join(KINDS)}: "
                     "pacemail renders its alerts with it")
    if not environ.get("CRM_alert_kind"):
        return _fail("no CRM_alert_kind: this is a Pacemaker alert agent, run by Pacemaker")
    if not recipient:
        return _fail(f"no recipient: a {kind} alert needs one")
    event = read_event(environ)
    if event.fields.get("kind") == "resource" and event.fields.get("desc") == "Cancelled":
        return 0
    budget = budget_s(environ)

    def expire(signum, frame):
        raise Expired(f"gave up after {budget:.1f}s, inside the alert's timeout")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        deliver(event, recipient, environ, time.monotonic() + budget - 0.1)
    except (Undeliverable, Expired) as exc:
        return _fail(f"{kind} alert to {recipient}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return 0


def _fail(text: str) -> int:
    print(f"pacemail-alert: {text}", file=sys.stderr)
    return 1


def _one_line(text: str) -> str:
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def _reply(code: int, text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return _one_line(f"{code} {text}")[:200]
