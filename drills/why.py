"""Why the stack is where it is, read from the cluster's own state: what a FAIL lists.

One reading for every target (the lab's nodes, the VMs): the scheduler's
promotion and placement scores, failed actions with their fail counts, bans and
fence constraints, and DRBD on every node. ``run(node, argv)`` runs a tool on
a node and gives its stdout, or None when the node could not answer.
"""

from __future__ import annotations

from collections.abc import Callable

Run = Callable[[str, list[str]], str | None]


def explain(run: Run, nodes: list[str], drbd_resource: str) -> list[str]:
    """Each line prefixed with where it comes from; the cluster's view from the first node
    that answers."""
    for node in nodes:
        scores = run(node, ["crm_simulate", "--live-check", "--show-scores"])
        if scores:
            break
    else:
        return ["no node answers" if nodes else "no node is on"]
    out = [f"score: {line.strip()}" for line in scores.splitlines()
           if "promotion score" in line or (" pm-mount " in f" {line} " and "allocation" in line)]
    mon = run(node, ["crm_mon", "-1", "--include=failcounts,failures",
                     "--exclude=summary,nodes,resources"]) or ""
    out += [f"crm_mon: {line.strip()}" for line in mon.splitlines() if line.strip()]
    constraints = run(node, ["cibadmin", "--query", "--scope", "constraints"])
    out += [f"constraint: {line}" for line in hard_locations(constraints or "<constraints/>")]
    for each in nodes:
        drbd = run(each, ["drbdadm", "status", drbd_resource])
        if drbd:
            out.append(f"drbd on {each}: {' '.join(drbd.split())}")
    return out


def hard_locations(constraints: str) -> list[str]:
    """The location constraints with an INFINITY score, on the constraint or in its rules
    (bans, ``cli-prefer-*``, DRBD fence constraints), but not pacemail's own ``-avoids-``
    ones, which only say where a resource can never run."""
    from lxml import etree   # a FAIL's path only

    try:
        root = etree.fromstring(constraints.encode())
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
