"""When the cluster noticed a fault and when it fenced, from the nodes' Pacemaker logs.

Both from the Pacemaker detail log, which stamps lines ``Nov 22 04:12:28.411
node1 ...`` (local time, milliseconds, no year). The parsers are pure; the
readers are thin edges (a node's log is read from its directory on the host).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from datetime import datetime

from pacemail.lab.topology import Node

PACEMAKER_LOG = "var/log/pacemaker/pacemaker.log"
_STAMP = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d\.\d{3}) ")
_MESSAGE = re.compile(r"^.*?\(\w+\) +")   # stamp, host, daemon [pid], (function): cut
# What detection looks like, by kind of fault.
MEMBERSHIP_LOST = r"Node \S+ state is now lost"
MONITOR_FAILED = r"Result of monitor operation for \S+ on \S+: not running"
PLANNED_STOP = r"Initiating stop operation"
FENCE_DONE = r"Operation '\w+' targeting (\S+) by \S+ for \S+: OK"
# Why the scheduler fenced a node or could not place a resource, and operations that failed.
DECISIONS = (r"will be fenced|Scheduling node \S+ for fencing|cannot run anywhere"
             r"|Result of \w+ operation for \S+ on \S+: (?!ok\b|not running\b)")
DECISIONS_GREP = "will be fenced|for fencing|cannot run anywhere|Result of "   # grep -E: wider


def log_time(line: str, year: int) -> float | None:
    match = _STAMP.match(line)
    if not match:
        return None
    stamp = datetime.strptime(f"{year} {match[1]}", "%Y %b %d %H:%M:%S.%f")
    return stamp.timestamp()


def matches(lines: Iterable[str], pattern: str, after: float) -> Iterator[tuple[float, re.Match]]:
    """(time, match) of the lines matching ``pattern`` stamped at or after ``after``."""
    wanted, year = re.compile(pattern), time.localtime(after).tm_year
    for line in lines:
        t = log_time(line, year)
        if t is not None and t >= after - 0.001:
            found = wanted.search(line)
            if found:
                yield t, found


def first_match(lines: Iterable[str], pattern: str, after: float) -> float | None:
    """Time of the first line matching ``pattern`` stamped at or after ``after``."""
    return next((t for t, _ in matches(lines, pattern, after)), None)


def fenced_in(lines: Iterable[str], after: float) -> dict[str, float]:
    """target -> first completed fencing since ``after``, from the fencer's log lines."""
    done: dict[str, float] = {}
    for t, found in matches(lines, FENCE_DONE, after):
        done.setdefault(found[1], t)
    return done


def _log_lines(node: Node) -> list[str]:
    try:
        with open(node.root / PACEMAKER_LOG, errors="replace") as f:
            return f.readlines()
    except OSError:
        return []


def decisions(logs: dict[str, Iterable[str]], after: float, limit: int = 20) -> list[str]:
    """The first ``limit`` :data:`DECISIONS` lines since ``after`` in the logs of each node
    (name -> its log lines), in time order, as ``node: message`` (the log prefix cut)."""
    found = sorted((t, f"{node}: {_MESSAGE.sub('', m.string).strip()}")
                   for node, lines in logs.items() for t, m in matches(lines, DECISIONS, after))
    return [text for _, text in found[:limit]]


def log_lines(nodes: Iterable[Node]) -> dict[str, list[str]]:
    """Each lab node's Pacemaker log, read from its directory on the host."""
    return {node.name: _log_lines(node) for node in nodes}


def detected_at(nodes: Iterable[Node], pattern: str, after: float) -> float | None:
    """Earliest detection of ``pattern`` in any of ``nodes``' Pacemaker logs."""
    found = [t for t in (first_match(_log_lines(n), pattern, after) for n in nodes) if t]
    return min(found) if found else None


def fenced(nodes: Iterable[Node], after: float) -> dict[str, float]:
    """target -> when its fencing completed since ``after``, by the logs of ``nodes``.

    Not ``stonith_admin --history``: seen here to drop events after partitions
    and reboots, and it stamps whole seconds.
    """
    out: dict[str, float] = {}
    for node in nodes:
        for target, t in fenced_in(_log_lines(node), after).items():
            out[target] = min(t, out.get(target, t))
    return out
