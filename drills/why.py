"""Why the stack is where it is, read from the cluster's own state: what a FAIL lists.

One reading for every target (the lab's nodes, the VMs): the scheduler's
promotion and placement scores, failed actions with their fail counts, bans and
fence constraints, and DRBD on every node. ``runner(node)`` is the
:class:`~pacemail.pacemaker.runner.Runner` that runs a tool on a node; a node
whose tools fail (CommandError) does not answer.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from pacemail.pacemaker import cib, simulate, status
from pacemail.pacemaker.runner import Runner
from pacemail.proc import CommandError

TIMEOUT = 60.0


def explain(runner: Callable[[str], Runner], nodes: list[str], drbd_resource: str) -> list[str]:
    """Each line prefixed with where it comes from; the cluster's view from the first node
    that answers."""
    for node in nodes:
        try:
            scores = simulate.live_scores(run=runner(node), timeout=TIMEOUT)
        except CommandError:
            continue
        break
    else:
        return ["no node answers" if nodes else "no node is on"]
    out = [f"score: {line}" for line in scores
           if "promotion score" in line or (" pm-mount " in f" {line} " and "allocation" in line)]
    run = runner(node)
    try:
        out += [f"crm_mon: {line}" for line in status.failures_text(run=run, timeout=TIMEOUT)]
    except CommandError:
        pass
    try:
        constraints = cib.get("constraints", run=run, timeout=TIMEOUT)
    except CommandError:
        constraints = b"<constraints/>"
    out += [f"constraint: {line}" for line in hard_locations(constraints)]
    for each in nodes:
        try:
            drbd = runner(each)(["drbdadm", "status", drbd_resource], timeout=TIMEOUT)
        except CommandError:
            continue
        if drbd.stdout.strip():
            out.append(f"drbd on {each}: {' '.join(drbd.stdout.split())}")
    return out


def hard_locations(constraints: bytes) -> list[str]:
    """The location constraints with an INFINITY score, on the constraint or in its rules
    (bans, ``cli-prefer-*``, DRBD fence constraints), but not pacemail's own ``-avoids-``
    ones, which only say where a resource can never run."""
    try:
        root = etree.fromstring(constraints)
    except etree.XMLSyntaxError as exc:
        return [f"unreadable constraints ({exc})"]
    out = []
    for element in root.iter("rsc_location"):
        rid = element.get("id", "")
        scores = [element.get("score", "")] + [r.get("score", "") for r in element.iter("rule")]
        if "-avoids-" in rid or not any("INFINITY" in s for s in scores):
            continue
        rules = [" ".join(f"{e.get('attribute')} {e.get('operation')} {e.get('value', '')}".split())
                 for e in element.iter("expression")]
        where = element.get("node") or " and ".join(rules)
        role = element.get("role") or next((r.get("role") for r in element.iter("rule")
                                            if r.get("role")), None)
        score = next(s for s in scores if "INFINITY" in s)
        out.append(f"{rid}: {element.get('rsc')}{f' ({role})' if role else ''} {score} on {where}")
    return out
