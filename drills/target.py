"""What a drill drills: the lab and the mail stack on it.

With a cluster description the stack is pacemail's own (applied with
``pacemail apply`` through node1 of the lab: DRBD, mount, VIP, postfix,
dovecot); without one it is the stand-in (:mod:`pacemail.drills.standin`),
placed if it is not there yet.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pacemail.drills import standin
from pacemail.drills.engine import Target
from pacemail.lab import cluster, state
from pacemail.lab.nodes import node_run

STANDIN_VIP = "198.18.0.100"


def standin_target(lab_name: str, address: str = STANDIN_VIP) -> Target:
    lab = state.load(lab_name)
    view = cluster.crm_view(lab.name, next(n.name for n in lab.nodes))
    ids = (f"{standin.GROUP}-vip", f"{standin.GROUP}-fs", f"{standin.GROUP}-postfix",
           f"{standin.GROUP}-dovecot")
    if ids[0] in view.resources:
        return Target(lab, standin.Stack(address, ids, "stand-in"))
    return Target(lab, standin.place(lab, address))


def description_target(lab_name: str, path: Path) -> Target:
    """Apply the description to the lab (no-op when applied already) and drill its stack."""
    from pacemail.controller import apply, cibxml, stack
    from pacemail.controller.description import load
    from pacemail.controller.problems import errors

    lab = state.load(lab_name)
    parsed = load(str(path))
    if errors(parsed.problems):
        raise ValueError("; ".join(str(p) for p in errors(parsed.problems)))
    d = parsed.description
    outcome = apply.apply(d, allow_restart=True, run=functools.partial(node_run, lab.name, "node1"))
    if outcome.refused:
        raise RuntimeError(f"pacemail apply refused: {outcome.refused}")
    vip = d.vips[0]
    ids = tuple(cibxml.PREFIX + n for n in (stack.vip_name(vip), stack.MOUNT))
    return Target(lab, standin.Stack(vip.address, ids, "pacemail"),
                  kinds=("vip", "mount", "drbd", "postfix", "dovecot"))
