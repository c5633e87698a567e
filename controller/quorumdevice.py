"""The ``quorum:`` section: a quorum device (corosync-qdevice, model net, arbitrated by qnetd).

A two-node cluster's third vote without a third node: corosync-qdevice on
every node asks corosync-qnetd, on a host outside the cluster, which gives
its one vote to one side of a split (``ffsplit``: the side with more nodes, a
tie by ``tie_breaker``; ``lms``: the last side that still reaches it). The
device lives in corosync.conf, which pacemail does not push:
:func:`corosync_quorum` renders the section (``pacemail render --corosync``)
and :func:`drift` holds it against what corosync runs (``pacemail plan``).

With a device, votequorum's ``two_node`` goes (as ``pcs quorum device add``
removes it: with it each half of a split stays quorate and the device's vote
decides nothing), and so does the two-node fence race: the half that loses
the vote loses quorum, stops its resources and fences nobody, so no fencing
delay is needed (:func:`fence_race`).

A mixin of the description schema: it uses the schema's reader (``self.r``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from pacemail.controller import values
from pacemail.controller.alerts import host
from pacemail.controller.model import Description, FenceRace, QuorumDevice
from pacemail.controller.problems import Location, Problem, Severity
from pacemail.pacemaker import quorum as live_quorum
from pacemail.pacemaker.runner import Runner, local
from pacemail.proc import CommandError

ALGORITHMS = ("ffsplit", "lms")
TIE_BREAKERS = ("lowest", "highest")
MODEL = "net"            # the only model corosync-qdevice has
DEFAULT_PORT = 5403
HOST_TEXT = ("an IP address or host name of the qnetd host, such as 198.18.0.210 or "
             "qnetd.example.org")
TIE_BREAKER_TEXT = "lowest, highest or a node id"
# What corosync assumes for a key corosync.conf leaves out (corosync-qdevice(8), votequorum(5)).
COROSYNC_DEFAULTS = {"two_node": "0", "device.net.port": str(DEFAULT_PORT),
                     "device.net.algorithm": "ffsplit", "device.net.tie_breaker": "lowest"}
LIVE = Location("live corosync")


class QuorumSection:
    def quorum(self, node, path) -> QuorumDevice | None:
        s = self.r.mapping(node, path, ("device",), required=("device",))
        return s.get("device", self.quorum_device) if s is not None else None

    def quorum_device(self, node, path) -> QuorumDevice | None:
        r = self.r
        s = r.mapping(node, path, ("host", "algorithm", "tie_breaker", "port"), required=("host",))
        if s is None:
            return None
        address = s.get("host", r.string, check=_qnetd_host)
        algorithm = s.get("algorithm", r.string, ALGORITHMS[0], check=values.choice(*ALGORITHMS))
        tie_breaker = s.get("tie_breaker", r.string, TIE_BREAKERS[0], check=_tie_breaker)
        port = s.get("port", r.integer, DEFAULT_PORT, low=1, high=65535)
        if None in (address, algorithm, tie_breaker, port):
            return None
        self._device_section = s
        return QuorumDevice(address, algorithm, tie_breaker, port, r.location(node, path))

    def check_quorum_device(self, d: Description) -> None:
        """qnetd must stand outside the cluster, and a tie-breaker node id must be a node's."""
        device = d.quorum_device
        if device is None:
            return
        s = self._device_section
        where = (s.node("host"), s.path("host"))
        for n in d.nodes:
            if device.host in (n.name, n.address):
                self.r.error(*where, f"qnetd must run outside the cluster: {device.host} is node "
                                     f"{n.name}, whose vote the device would double")
        for v in d.vips + ((d.proxysql.vip,) if d.proxysql else ()):
            if _same_address(device.host, v.address):
                self.r.error(*where, f"{device.host} is VIP {v.name!r}, which moves with the "
                                     f"cluster; qnetd needs a host of its own")
        if device.tie_breaker not in TIE_BREAKERS and \
                int(device.tie_breaker) not in {n.nodeid for n in d.nodes}:
            self.r.error(s.node("tie_breaker"), s.path("tie_breaker"),
                         f"node id {device.tie_breaker} is not one of the nodes' ids "
                         f"({', '.join(str(n.nodeid) for n in d.nodes)})")
        if device.algorithm == "ffsplit" and len(d.nodes) % 2:
            self.r.warning(s.node("algorithm") or s.node_, s.path("algorithm"),
                           f"ffsplit is for an even number of nodes (it gives its one vote to "
                           f"the larger half of a split); with {len(d.nodes)} nodes use lms")


def fence_race(d: Description) -> Description:
    """``d`` with the two-node fence race recorded as decided by the quorum device (the note
    ``pacemail plan`` prints); more nodes have no race to note."""
    device = d.quorum_device
    if device is None or len(d.nodes) != 2:
        return d
    tie = (f"the half with the {device.tie_breaker} node id" if device.tie_breaker in TIE_BREAKERS
           else f"the half holding node id {device.tie_breaker}")
    return replace(d, fence_race=FenceRace(
        f"quorum.device (qnetd {device.host}, {device.algorithm})", False,
        f"qnetd gives its vote to one half of a split (a tie goes to {tie}); the other half "
        f"loses quorum, stops its resources and fences nobody, so no fencing delay is needed"))


# -- corosync.conf --------------------------------------------------------------------------

def corosync_quorum(d: Description) -> str:
    """corosync.conf's ``quorum`` section for ``d``: the same on every node."""
    return quorum_section(d.two_node, d.quorum_device)


def quorum_section(two_node: bool, device: QuorumDevice | None) -> str:
    """votequorum, with ``two_node`` or a quorum device (corosync's parser: one item a line)."""
    lines = ["quorum {", "    provider: corosync_votequorum"]
    if two_node:
        lines.append("    two_node: 1")
    if device is not None:
        lines += ["    device {", f"        model: {MODEL}"]
        # ffsplit refuses to start without exactly one vote; lms wants corosync's default
        # (the node count less one), so none written.
        if device.algorithm == "ffsplit":
            lines.append("        votes: 1")
        lines += ["        net {",
                  f"            host: {device.host}",
                  f"            port: {device.port}",
                  f"            algorithm: {device.algorithm}",
                  f"            tie_breaker: {device.tie_breaker}",
                  "        }",
                  "    }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def corosync_settings(d: Description) -> dict[str, str]:
    """The corosync settings (keys below ``quorum.``, as ``corosync-cmapctl`` names them)
    the description means; absent keys are corosync's defaults."""
    out = {"two_node": "1" if d.two_node else "0"}
    device = d.quorum_device
    if device is not None:
        out.update({"device.model": MODEL, "device.net.host": device.host,
                    "device.net.port": str(device.port),
                    "device.net.algorithm": device.algorithm,
                    "device.net.tie_breaker": device.tie_breaker})
    return out


def drift(d: Description, live: dict[str, str]) -> list[Problem]:
    """Where the quorum settings corosync runs with (``pacemaker.quorum.settings``) differ from
    ``d``: one warning per key, saying what to change in corosync.conf."""
    wanted = corosync_settings(d)
    if "device.model" in live and d.quorum_device is None:
        return [Problem(Severity.WARNING, _key("device"),
                        f"corosync runs a quorum device (qnetd {live.get('device.net.host', '?')}) "
                        "the description does not describe; add quorum.device to it or remove "
                        "the device from corosync.conf")]
    if "device.model" not in live and d.quorum_device is not None:
        return [Problem(Severity.WARNING, _key("device"),
                        "corosync runs no quorum device; put `pacemail render --corosync` "
                        "into corosync.conf on every node, reload it (corosync-cfgtool -R) "
                        "and start corosync-qdevice on every node")]
    out = []
    for key, value in wanted.items():
        running = live.get(key, COROSYNC_DEFAULTS.get(key))
        if not _same(key, running, value):
            out.append(Problem(Severity.WARNING, _key(key),
                               f"corosync runs {running if running is not None else '(unset)'}, "
                               f"the description says {value}: change corosync.conf on every "
                               "node (pacemail render --corosync)"))
    return out


def live_drift(d: Description, *, run: Runner = local) -> list[Problem]:
    """:func:`drift` against the corosync ``run`` reaches; a corosync that does not answer is
    one warning, never an error (the CIB's plan stands without it)."""
    try:
        live = live_quorum.settings(run=run)
    except CommandError as exc:
        return [Problem(Severity.WARNING, LIVE,
                        f"corosync's quorum settings not compared: {exc}")]
    return drift(d, live)


def _key(key: str) -> Location:
    return Location(LIVE.file, key=f"quorum.{key}")


def _same(key: str, running: str | None, wanted: str) -> bool:
    if key == "device.net.host" and running is not None:
        return _same_address(running, wanted)
    return running == wanted


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower() == b.lower()


def _qnetd_host(text: str) -> str:
    try:
        return host(text)
    except values.Invalid:
        raise values.Invalid(HOST_TEXT) from None


def _tie_breaker(text: str) -> str:
    if text in TIE_BREAKERS:
        return text
    try:
        return str(values.integer(text, 1))   # a node's id: checked against the nodes
    except values.Invalid:
        raise values.Invalid(TIE_BREAKER_TEXT) from None
