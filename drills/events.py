"""When the cluster noticed a fault, fenced, promoted: from the nodes' Pacemaker and corosync logs.

The Pacemaker detail log stamps lines ``Nov 22 04:12:28.411 node1 ...`` (local
time, milliseconds, no year); corosync's log ``Nov 22 04:12:28 [19] node1
corosync ...``, to the second unless its ``timestamp`` is ``hires``. The
parsers are pure; the readers are thin edges (a node's log is read from its
directory on the host).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from datetime import datetime

from pacemail.lab.topology import Node

PACEMAKER_LOG = "var/log/pacemaker/pacemaker.log"
COROSYNC_LOG = "var/log/corosync/corosync.log"
_STAMP = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d)(\.\d{3})? ")
_MESSAGE = re.compile(r"^.*?\(\w+\) +")   # stamp, host, daemon [pid], (function): cut
_COROSYNC_MESSAGE = re.compile(r"^.*?\[[A-Z]+ *\] +")   # stamp, [pid], host, level, [TOTEM ]
# What detection looks like, by kind of fault.
MEMBERSHIP_LOST = r"Node \S+ state is now lost"
MONITOR_FAILED = r"Result of monitor operation for \S+ on \S+: not running"
PLANNED_STOP = r"Initiating stop operation"
FENCE_REQUESTED = r"Requesting fencing \(\w+\) of node \S+"    # the controller asks the fencer
FENCE_DONE = r"Operation '\w+' targeting (\S+) by \S+ for \S+: OK"
# Why the scheduler fenced a node or could not place a resource, and operations that failed
# (a promoted DRBD's monitor reports "promoted": its expected result).
DECISIONS = (r"will be fenced|Scheduling node \S+ for fencing|cannot run anywhere"
             r"|Result of \w+ operation for \S+ on \S+: (?!ok\b|not running\b|promoted\b)")
DECISIONS_GREP = "will be fenced|for fencing|cannot run anywhere|Result of "   # grep -E: wider
# What a cluster left alone never logs: a decision above, or a monitor that found its
# resource stopped (the detection of a killed daemon).
TROUBLE = f"{DECISIONS}|{MONITOR_FAILED}"
# corosync: a member stopped answering (token lost), a new membership formed (a node left
# or joined), and the early warning, a token late by most of its timeout.
PROCESSOR_FAILED = r"A processor failed, forming new configuration"
MEMBERSHIP_FORMED = r"A new membership \((\S+)\) was formed"
TOKEN_LATE = r"Token has not been received in (\d+) ms"


def promoted(primitive: str) -> str:
    """The line of a successful promotion of ``primitive`` (a DRBD primitive's id)."""
    return rf"Result of promote operation for {primitive} on \S+: ok"


def _stamped(line: str, year: int) -> tuple[float, float] | None:
    """(time, resolution) of a log line: 0.001 s with milliseconds, 1 s without."""
    match = _STAMP.match(line)
    if not match:
        return None
    stamp = datetime.strptime(f"{year} {match[1]}", "%Y %b %d %H:%M:%S")
    return stamp.timestamp() + float(match[2] or 0), 0.001 if match[2] else 1.0


def matches(lines: Iterable[str], pattern: str, after: float) -> Iterator[tuple[float, re.Match]]:
    """(time, match) of the lines matching ``pattern`` stamped at or after ``after`` (a line
    stamped to the second counts when its second ends after ``after``)."""
    wanted, year = re.compile(pattern), time.localtime(after).tm_year
    for line in lines:
        found = wanted.search(line)     # first: most lines do not match, and stamps cost
        stamped = _stamped(line, year) if found else None
        if stamped is not None and stamped[0] + stamped[1] >= after:
            yield stamped[0], found


def first_match(lines: Iterable[str], pattern: str, after: float) -> float | None:
    """Time of the first line matching ``pattern`` stamped at or after ``after``."""
    return next((t for t, _ in matches(lines, pattern, after)), None)


def fenced_in(lines: Iterable[str], after: float) -> dict[str, float]:
    """target -> first completed fencing since ``after``, from the fencer's log lines."""
    done: dict[str, float] = {}
    for t, found in matches(lines, FENCE_DONE, after):
        done.setdefault(found[1], t)
    return done


def decisions(logs: dict[str, Iterable[str]], after: float, limit: int = 20,
              pattern: str = DECISIONS) -> list[str]:
    """The first ``limit`` ``pattern`` lines (:data:`DECISIONS`) since ``after`` in the
    Pacemaker logs of each node (name -> its log lines), in time order, as ``node: message``
    (the log prefix cut)."""
    found = sorted((t, f"{node}: {_MESSAGE.sub('', m.string).strip()}")
                   for node, lines in logs.items() for t, m in matches(lines, pattern, after))
    return [text for _, text in found[:limit]]


def corosync_events(logs: dict[str, Iterable[str]], after: float,
                    pattern: str = f"{PROCESSOR_FAILED}|{MEMBERSHIP_FORMED}") -> list[str]:
    """The ``pattern`` lines (by default each membership change) since ``after`` in the
    corosync logs of each node (name -> its log lines), in time order, as ``node: message``."""
    found = sorted((t, f"{node}: {_COROSYNC_MESSAGE.sub('', m.string).strip()}")
                   for node, lines in logs.items() for t, m in matches(lines, pattern, after))
    return [text for _, text in found]


def membership_changes(events: Iterable[str]) -> int:
    """How many memberships :func:`corosync_events` lines tell of: every node logs the same
    new membership (one ring id), and a processor failure without one formed yet is one."""
    rings, failed = set(), False
    for line in events:
        formed = re.search(MEMBERSHIP_FORMED, line)
        rings |= {formed[1]} if formed else set()
        failed = failed or re.search(PROCESSOR_FAILED, line) is not None
    return len(rings) or int(failed)


def token_late_ms(logs: dict[str, Iterable[str]], after: float) -> list[int]:
    """How late each late token was (ms) since ``after``, from corosync's warnings (at 75% of
    the token timeout by default), over the corosync logs of each node."""
    return [int(m[1]) for lines in logs.values() for _, m in matches(lines, TOKEN_LATE, after)]


def _read_log(node: Node, path: str) -> list[str]:
    try:
        with open(node.root / path, errors="replace") as f:
            return f.readlines()
    except OSError:
        return []


def log_lines(nodes: Iterable[Node], path: str = PACEMAKER_LOG) -> dict[str, list[str]]:
    """Each lab node's Pacemaker log (or the log at ``path`` under each node's directory,
    :data:`COROSYNC_LOG`), read from its directory on the host."""
    return {node.name: _read_log(node, path) for node in nodes}


def detected_at(nodes: Iterable[Node], pattern: str, after: float) -> float | None:
    """Earliest detection of ``pattern`` in any of ``nodes``' Pacemaker logs."""
    found = [t for t in (first_match(_read_log(n, PACEMAKER_LOG), pattern, after)
                         for n in nodes) if t]
    return min(found) if found else None


def fenced(nodes: Iterable[Node], after: float) -> dict[str, float]:
    """target -> when its fencing completed since ``after``, by the logs of ``nodes``.

    Not ``stonith_admin --history``: seen here to drop events after partitions
    and reboots, and it stamps whole seconds.
    """
    out: dict[str, float] = {}
    for node in nodes:
        for target, t in fenced_in(_read_log(node, PACEMAKER_LOG), after).items():
            out[target] = min(t, out.get(target, t))
    return out
