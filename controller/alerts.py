"""The ``alerts:`` section: Pacemaker alerts, each run by pacemail's alert agent, by kind.

An alert names a kind (``file``, ``smtp``: ``pacemail.agents.alert``), never
a program: as with fence agents, a description runs nothing it names, and the
only agent an alert gets is the one ``pacemail agents install`` puts at
``install.alert_path()``. Recipients are checked for their kind (a file
path, a plain mail address). A mixin of the description schema: it uses the
schema's reader (``self.r``) and name claims (``self.claim``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from pacemail.agents import alert as agent
from pacemail.controller import values
from pacemail.controller.model import Alert, Postfix, Vip
from pacemail.controller.values import NAME, NAME_TEXT
from pacemail.controller.yamlread import child

# Pacemaker's event kinds, as ``select`` names them (<select_nodes/>, ...).
SELECT = ("nodes", "fencing", "resources", "attributes")
# The file kind keeps Pacemaker's default; mail waits out a failover's move of postfix.
DEFAULT_TIMEOUT = {"file": "30s", "smtp": "60s"}
SMTP_ONLY = ("server", "port", "sender")
# Where a file alert may not write: Pacemaker's own state (the CIB among it), which is
# hacluster's to write, as the agent is; and the kernel's file systems.
NOT_FOR_FILES = ("/var/lib/pacemaker", "/proc", "/sys", "/dev")
SERVER_TEXT = "an IP address or host name, such as 198.18.0.100 or smtp.example.org"


class AlertsSection:
    def alerts(self, node, path) -> tuple[Alert, ...]:
        out = []
        for i, item in enumerate(self.r.sequence(node, path) or []):
            alert = self.alert(item, child(path, i))
            if alert:
                out.append(alert)
        return tuple(out)

    def alert(self, node, path) -> Alert | None:
        r = self.r
        s = r.mapping(node, path, ("name", "kind", "recipients", "select", "timeout",
                                   "timestamp_format") + SMTP_ONLY,
                      required=("name", "kind", "recipients"))
        if s is None:
            return None
        name = s.get("name", r.string, pattern=NAME, expected=NAME_TEXT)
        kind = s.get("kind", r.string, check=values.choice(*agent.KINDS))
        if kind is None:
            return None
        for key in SMTP_ONLY if kind != "smtp" else ():
            if key in s:
                r.error(s.key_node(key), s.path(key), f"{key} is for smtp alerts; this one is {kind}")
        recipients = s.get("recipients", self.alert_recipients, kind=kind)
        select = s.get("select", self.alert_select, ())
        timeout = s.get("timeout", r.string, DEFAULT_TIMEOUT[kind],
                        check=lambda text: values.duration(text, low_ms=1000))
        timestamp_format = s.get("timestamp_format", r.string, check=_timestamp_format)
        server = s.get("server", r.string, check=host)
        port = s.get("port", r.integer, agent.SMTP_PORT if kind == "smtp" else None, low=1, high=65535)
        sender = s.get("sender", r.string, pattern=agent.ADDRESS, expected=agent.ADDRESS_TEXT)
        if None in (name, recipients, select, timeout) or not self.claim(name, s.node("name"),
                                                                         s.path("name")):
            return None
        return Alert(name, kind, recipients, timeout, select, timestamp_format, server, port,
                     sender, r.location(node, path))

    def alert_recipients(self, node, path, kind: str) -> tuple[str, ...] | None:
        check = ({"check": _file} if kind == "file"
                 else {"pattern": agent.ADDRESS, "expected": agent.ADDRESS_TEXT})
        return self.r.unique_strings(
            node, path, lambda n: None if n else f"expected at least one recipient ({_RECIPIENT[kind]})",
            **check)

    def alert_select(self, node, path) -> tuple[str, ...] | None:
        return self.r.unique_strings(
            node, path,
            lambda n: None if n else f"expected some of {', '.join(SELECT)}; leave select out for all",
            check=values.choice(*SELECT))

    @staticmethod
    def mail_server(alerts: tuple[Alert, ...], postfix: tuple[Postfix, ...],
                    vips: tuple[Vip, ...]) -> tuple[Alert, ...]:
        """smtp alerts without a server go to the first postfix instance's first VIP: the
        cluster's own postfix, wherever it runs (a node's own postfix runs on one node only)."""
        addresses = {v.name: v.address for v in vips}
        home = addresses.get(postfix[0].vips[0]) if postfix and postfix[0].vips else None
        return tuple(replace(a, server=home) if a.kind == "smtp" and a.server is None else a
                     for a in alerts)


_RECIPIENT = {"file": "an absolute file path", "smtp": "a mail address"}


def _file(text: str) -> str:
    normal = values.path(text)
    if normal == "/":
        raise values.Invalid("an absolute file path")
    for root in NOT_FOR_FILES:
        if normal == root or normal.startswith(root + "/"):
            raise values.Refused(f"a file alert may not write {normal}: {root} holds Pacemaker's "
                                 "or the kernel's own files; pick a log file such as "
                                 "/var/log/pacemaker/pacemail-alerts.log")
    return normal


def _timestamp_format(text: str) -> str:
    if not text.strip():
        raise values.Invalid("a date(1) format such as %Y-%m-%d %H:%M:%S.%06N")
    return text


def host(text: str) -> str:
    """An IP address (normalised) or a host name: an alert's mail server, the quorum device's
    qnetd."""
    try:
        if "%" in text:
            raise ValueError("no IPv6 scope")
        return str(ipaddress.ip_address(text))
    except ValueError:
        if agent.DOMAIN.fullmatch(text) and not text.rsplit(".", 1)[-1].isdigit():
            return text     # a name; all digits at its end is a mistyped address
    raise values.Invalid(SERVER_TEXT)
