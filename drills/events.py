"""When the cluster noticed and fenced: a node's Pacemaker log and the fencing history.

Pacemaker's detail log stamps lines ``Nov 22 04:12:28.411 node1 ...`` (local
time, milliseconds, no year); :func:`first_match` is pure, the readers are
thin edges (the log is read from the node's directory on the host side).
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime

from pacemail.lab.nodes import NodeDown, node_run
from pacemail.lab.topology import Node
from pacemail.proc import CommandError

PACEMAKER_LOG = "var/log/pacemaker/pacemaker.log"
_STAMP = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d\.\d{3}) ")
# What detection looks like, by kind of fault.
MEMBERSHIP_LOST = r"Node \S+ state is now lost"
MONITOR_FAILED = r"Result of monitor operation for \S+ on \S+: not running"
PLANNED_STOP = r"Initiating stop operation"


def fence_done(target: str) -> str:
    """The fencer's line for a completed fencing of ``target`` (milliseconds, unlike the history)."""
    return rf"Operation '\w+' targeting {re.escape(target)} by \S+ for \S+: OK"


def log_time(line: str, year: int) -> float | None:
    match = _STAMP.match(line)
    if not match:
        return None
    stamp = datetime.strptime(f"{year} {match[1]}", "%Y %b %d %H:%M:%S.%f")
    return stamp.timestamp()


def first_match(lines: Iterable[str], pattern: str, after: float) -> float | None:
    """Time of the first line matching ``pattern`` stamped at or after ``after``."""
    wanted, year = re.compile(pattern), time.localtime(after).tm_year
    for line in lines:
        t = log_time(line, year)
        if t is not None and t >= after - 0.001 and wanted.search(line):
            return t
    return None


def detected_at(nodes: Iterable[Node], pattern: str, after: float) -> float | None:
    """Earliest detection of ``pattern`` in any of ``nodes``' Pacemaker logs."""
    found = []
    for node in nodes:
        try:
            with open(node.root / PACEMAKER_LOG, errors="replace") as f:
                t = first_match(f, pattern, after)
        except OSError:
            continue
        if t is not None:
            found.append(t)
    return min(found) if found else None


def fenced(lab: str, node: str, after: float) -> dict[str, float]:
    """target -> completion time of successful fencing since ``after``, asked on ``node``."""
    try:
        out = node_run(lab, node, ["stonith_admin", "--history", "*", "--output-as=xml"],
                       timeout=20).stdout
        root = ET.fromstring(out)
    except (CommandError, NodeDown, ET.ParseError):
        return {}
    done: dict[str, float] = {}
    for event in root.iter("fence_event"):
        if event.get("status") == "success" and event.get("completed"):
            t = datetime.fromisoformat(event.get("completed")).timestamp()
            if t >= after - 1:
                done[event.get("target")] = min(t, done.get(event.get("target"), t))
    return done
