"""The ``sbd:`` section: SBD fencing, by the watchdog alone (diskless) or by poison pills on disks.

SBD has two halves. The CIB's, pushed like every other part: diskless,
Pacemaker's watchdog fencing (``stonith-watchdog-timeout``: a node to be
fenced counts as dead after it, its watchdog having reset it); disk, a
``fence_sbd`` device (``sbd``) that writes the poison pill into the target's
slot on the shared disks. The nodes', which pacemail renders and the admin
installs: /etc/default/sbd (:func:`sysconfig`, ``pacemail render --sbd``),
read by the sbd daemon that the init system starts before corosync, and for
disks their header, written once by ``sbd create`` with the timeouts every
node then reads from the disk. ``have-watchdog`` stays Pacemaker's own.

The timeouts follow SBD's and Pacemaker's rules: msgwait at least twice the
watchdog timeout (a node told to die has been reset by its watchdog before
its fencing counts as done), ``stonith-watchdog-timeout`` twice the watchdog
timeout, and ``stonith-timeout`` at least 1.2 times msgwait (disk) or
``stonith-watchdog-timeout`` (diskless), else every fencing times out first.
Diskless SBD on two nodes needs a quorum device: a node self-fences when it
loses quorum, and two_node keeps both halves of a split quorate.

A mixin of the description schema: it uses the schema's reader (``self.r``)
and name claims (``self.claim``).
"""

from __future__ import annotations

import math
import re
import shlex

from pacemail.controller import values
from pacemail.controller.model import Description, FenceDevice, Node, Sbd
from pacemail.controller.problems import Problem, Severity
from pacemail.pacemaker import sbd as sbd_tool

MODES = ("diskless", "disk")
DEVICE_NAME = "sbd"           # the fence_sbd device disk mode adds (pm-sbd)
MAX_DEVICES = 3               # sbd takes one to three disks
# /etc/default/sbd is read as shell-style assignments and SBD_DEVICE separates disks with
# ';': a disk path keeps to the characters stable device names use.
DISK = re.compile(r"/dev/[A-Za-z0-9_.:+@=/-]{1,200}", re.ASCII)
DISK_TEXT = ("a device path under /dev (letters, digits, '_ . : + @ = / -'), such as "
             "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4")
NO_WATCHDOG = "/dev/null"     # sbd's word for running without a watchdog
WATCHDOG_TIMEOUT_S = 5        # sbd's default SBD_WATCHDOG_TIMEOUT
PACEMAKER_STONITH_TIMEOUT = "60s"   # Pacemaker's default stonith-timeout
MARGIN = 1.2                  # stonith-timeout over msgwait / stonith-watchdog-timeout


class SbdSection:
    def sbd(self, node, path) -> Sbd | None:
        r = self.r
        s = r.mapping(node, path, ("mode", "devices", "watchdog", "watchdog_timeout_s",
                                   "msgwait_timeout_s"), required=("mode",))
        if s is None:
            return None
        mode = s.get("mode", r.string, check=values.choice(*MODES))
        if mode is None:
            return None
        devices = s.get("devices", self.sbd_disks, ())
        if mode == "disk" and "devices" not in s:
            r.error(node, s.path("devices"), "disk mode needs the shared disks: devices: "
                                             "[/dev/disk/by-id/...] (one to three)")
        for key in ("devices", "msgwait_timeout_s") if mode == "diskless" else ():
            if key in s:
                r.error(s.key_node(key), s.path(key),
                        f"{key} is for disk mode; diskless SBD uses the watchdog alone")
        watchdog = s.get("watchdog", r.string, "/dev/watchdog", pattern=DISK, expected=DISK_TEXT,
                         check=values.device)
        timeout = s.get("watchdog_timeout_s", r.integer, WATCHDOG_TIMEOUT_S, low=1, high=3600)
        if None in (devices, watchdog, timeout):
            return None
        msgwait = s.get("msgwait_timeout_s", r.integer, 2 * timeout, low=1, high=7200)
        if msgwait is None:
            return None
        if msgwait < 2 * timeout:
            r.error(s.node("msgwait_timeout_s"), s.path("msgwait_timeout_s"),
                    f"msgwait must be at least twice watchdog_timeout_s ({2 * timeout}): a "
                    "fencing counts as done after msgwait, and the node's watchdog resets it "
                    "only after watchdog_timeout_s")
        if watchdog == NO_WATCHDOG:
            if mode == "diskless":
                r.error(s.node("watchdog"), s.path("watchdog"),
                        "diskless SBD fences with the watchdog alone; it needs one")
            else:
                r.warning(s.node("watchdog"), s.path("watchdog"),
                          "no watchdog: a node whose sbd hangs is never reset")
        self._sbd_section = s
        return Sbd(mode, devices, watchdog, timeout, msgwait, r.location(node, path))

    def sbd_disks(self, node, path) -> tuple[str, ...] | None:
        return self.r.unique_strings(
            node, path, lambda n: None if 1 <= n <= MAX_DEVICES else
            f"expected one to {MAX_DEVICES} shared disks, got {n}",
            pattern=DISK, expected=DISK_TEXT, check=values.device)

    def with_sbd(self, sbd: Sbd, options: tuple, devices: tuple[FenceDevice, ...],
                 nodes: tuple[Node, ...], has_quorum_device: bool):
        """The CIB part of ``sbd``: (cluster options, fence devices) with it added."""
        r, s = self.r, self._sbd_section
        given = dict(options)
        options_node = self.top.node("cluster")
        if "stonith-watchdog-timeout" in given:
            r.error(options_node, "cluster.options.stonith-watchdog-timeout",
                    "the sbd: section sets stonith-watchdog-timeout (diskless mode: twice "
                    "watchdog_timeout_s; disk mode: none); leave it out of cluster.options")
        if sbd.mode == "diskless":
            if len(nodes) == 2 and not has_quorum_device:
                r.error(s.node("mode"), s.path("mode"),
                        "diskless SBD on two nodes needs a quorum device (quorum.device): a "
                        "node fences itself only when it loses quorum, and two_node keeps both "
                        "halves of a split quorate")
            options += (("stonith-watchdog-timeout", f"{watchdog_fencing_s(sbd)}s"),)
        else:
            for f in devices:
                if f.agent == "fence_sbd":
                    r.problems.append(Problem(
                        Severity.ERROR, f.where or r.location(None, "fencing.devices"),
                        f"sbd: disk mode adds its own fence_sbd device ({DEVICE_NAME}); "
                        f"remove {f.name}"))
            if self.claim(DEVICE_NAME, s.node("mode"), s.path("mode")):
                devices += (fence_device(sbd, nodes),)
        self._check_stonith_timeout(sbd, given)
        return options, devices

    def _check_stonith_timeout(self, sbd: Sbd, given: dict) -> None:
        text = given.get("stonith-timeout", PACEMAKER_STONITH_TIMEOUT)
        waited_s = watchdog_fencing_s(sbd) if sbd.mode == "diskless" else sbd.msgwait_timeout_s
        needed_s = math.ceil(MARGIN * waited_s)
        if values.duration_ms(text) < needed_s * 1000:
            s = self._sbd_section
            what = ("stonith-watchdog-timeout" if sbd.mode == "diskless" else "msgwait")
            where = ((self.top.node("cluster"), "cluster.options.stonith-timeout")
                     if "stonith-timeout" in given else (s.node_, s.path_))
            self.r.error(*where, f"stonith-timeout {text} is shorter than {MARGIN} times the "
                                 f"{what} ({waited_s}s): every fencing would time out before "
                                 f"it counts as done; set cluster.options.stonith-timeout to "
                                 f"at least {needed_s}s")


def watchdog_fencing_s(sbd: Sbd) -> int:
    """Diskless: how long Pacemaker waits for a node's watchdog to have reset it."""
    return 2 * sbd.watchdog_timeout_s


def fence_device(sbd: Sbd, nodes: tuple[Node, ...]) -> FenceDevice:
    """Disk mode's fence device: fence_sbd writes the poison pill on the description's disks."""
    return FenceDevice(DEVICE_NAME, "fence_sbd", tuple(n.name for n in nodes),
                       params=(("devices", ",".join(sbd.devices)),), where=sbd.where)


def sysconfig(d: Description) -> str:
    """/etc/default/sbd for ``d``, the same on every node, with what to do before sbd starts."""
    sbd = d.sbd
    lines = [f"# /etc/default/sbd of cluster {d.name}, rendered by pacemail "
             f"(SBD {sbd.mode}): the same file on every node."]
    if sbd.mode == "disk":
        create = sbd_tool.create_argv(sbd.devices, sbd.watchdog_timeout_s, sbd.msgwait_timeout_s)
        lines += ["# Before sbd first starts, write the disks' header once, from one node:",
                  f"#   {shlex.join(create)}"]
    lines += ["# Enable the daemon on every node (systemctl enable sbd): it starts before "
              "corosync."]
    if sbd.mode == "disk":
        lines.append(f'SBD_DEVICE="{";".join(sbd.devices)}"')
    lines += ["SBD_PACEMAKER=yes",
              "SBD_STARTMODE=always",
              f"SBD_WATCHDOG_DEV={sbd.watchdog}",
              f"SBD_WATCHDOG_TIMEOUT={sbd.watchdog_timeout_s}"]
    return "\n".join(lines) + "\n"
