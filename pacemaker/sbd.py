"""``sbd``'s disk commands: write the header of shared SBD disks (``create``) and read it back.

Only the disk side. The daemon (``sbd watch``) is the init system's to start,
before corosync, and needs a watchdog; pacemail never runs it. ``create``
overwrites the first megabyte of each disk without asking, so it is only ever
run on disks named by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pacemail.pacemaker.runner import Runner, local

TIMEOUT = 30.0


@dataclass(frozen=True)
class Header:
    """What ``sbd -d DISK dump`` reports: the timeouts every node reads from the disk."""

    version: str
    slots: int
    watchdog_s: int
    msgwait_s: int


def create_argv(devices: Sequence[str], watchdog_s: int, msgwait_s: int) -> list[str]:
    """The command that writes the header and the node slots on ``devices`` (1 to 3)."""
    argv = ["sbd"]
    for device in devices:
        argv += ["-d", device]
    return argv + ["-1", str(watchdog_s), "-4", str(msgwait_s), "create"]


def create(devices: Sequence[str], watchdog_s: int, msgwait_s: int, *, run: Runner = local,
           timeout: float = TIMEOUT) -> None:
    run(create_argv(devices, watchdog_s, msgwait_s), timeout=timeout)


def dump(device: str, *, run: Runner = local, timeout: float = TIMEOUT) -> Header:
    return parse_dump(run(["sbd", "-d", device, "dump"], timeout=timeout).stdout)


def parse_dump(text: str) -> Header:
    """``sbd dump`` output -> :class:`Header`; ValueError when a field is missing."""
    fields = {}
    for line in text.splitlines():
        match = re.match(r"\s*([A-Za-z ()]+?)\s*: (\S+)\s*$", line)
        if match:
            fields[match[1]] = match[2]
    try:
        return Header(fields["Header version"], int(fields["Number of slots"]),
                      int(fields["Timeout (watchdog)"]), int(fields["Timeout (msgwait)"]))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"not an sbd dump (missing {exc})") from None
