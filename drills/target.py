"""What a drill drills: the lab and the mail stack on it.

With a cluster description the stack is pacemail's own (applied with
``pacemail apply`` through node1 of the lab: DRBD, mount, VIPs, postfix,
dovecot, ProxySQL when described); without one it is the stand-in (:mod:`pacemail.drills.standin`),
placed if it is not there yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pacemail.drills import standin
from pacemail.drills.labtarget import LabTarget
from pacemail.lab import cluster, proxysql, state
from pacemail.lab.nodes import node_runner

if TYPE_CHECKING:
    from pacemail.controller.model import Description

STANDIN_VIP = "198.18.0.100"
# A fenced lab node is power-cycled in an instant (real hardware takes minutes) and wins the
# promotion back before the survivors' DRBD does; powered off it stays down, as a dead machine.
LAB_OPTIONS = (("stonith-action", "off"),)
LAB_PROXYSQL = (
    "ProxySQL is the lab's test double (the real binary is not packaged for Debian), run as "
    "binary=<lab>/bin/proxysql with config " + proxysql.CONFIG + " (each node's own), in front "
    "of one MariaDB in the client namespace"
)


def standin_target(lab_name: str, address: str = STANDIN_VIP) -> LabTarget:
    lab = state.load(lab_name)
    view = cluster.crm_view(lab.name, next(n.name for n in lab.nodes))
    ids = (f"{standin.GROUP}-vip", f"{standin.GROUP}-fs", f"{standin.GROUP}-postfix",
           f"{standin.GROUP}-dovecot")
    if ids[0] in view.resources:
        return LabTarget(lab, standin.Stack(address, ids, "stand-in"))
    return LabTarget(lab, standin.place(lab, address))


def description_target(lab_name: str, path: Path) -> LabTarget:
    """Apply the description file to the lab as the lab runs it (:func:`as_lab_runs`) and
    drill its stack."""
    from pacemail.controller.description import load
    from pacemail.controller.problems import errors

    parsed = load(str(path))
    if errors(parsed.problems):
        raise ValueError("; ".join(str(p) for p in errors(parsed.problems)))
    d = as_lab_runs(parsed.description, lab_name)
    if d.proxysql:
        proxysql.start_database(state.load(lab_name))
    return pacemail_target(lab_name, d)


def as_lab_runs(d: Description, lab_name: str) -> Description:
    """``d`` as lab ``lab_name`` can run it: fencing powers off (:data:`LAB_OPTIONS`) and
    ProxySQL, when described, is the lab's double with each node's config
    (:data:`LAB_PROXYSQL`); the drill report says so."""
    import dataclasses

    options = tuple(o for o in d.options if o[0] not in dict(LAB_OPTIONS)) + LAB_OPTIONS
    d = dataclasses.replace(d, options=options)
    if not d.proxysql:
        return d
    params = tuple(p for p in d.proxysql.params if p[0] != "binary")
    params += (("binary", str(proxysql.binary(state.load(lab_name)))),)
    return dataclasses.replace(d, proxysql=dataclasses.replace(
        d.proxysql, config=proxysql.CONFIG, params=params))


def pacemail_target(lab_name: str, d: Description) -> LabTarget:
    """Apply ``d`` to the lab through node1 (no-op when applied already) and drill its stack."""
    from pacemail.controller import apply

    lab = state.load(lab_name)
    outcome = apply.apply(d, allow_restart=True, run=node_runner(lab.name, "node1"))
    if outcome.refused:
        raise RuntimeError(f"pacemail apply refused: {outcome.refused}")
    return LabTarget(lab, standin.Stack(d.vips[0].address, stack_ids(d), "pacemail"),
                     kinds=("vip", "mount", "drbd", "postfix", "dovecot"),
                     failback=bool(d.placement.preferred_node and d.placement.failback))


def stack_ids(d: Description) -> tuple[str, ...]:
    """The mail stack's resource ids that run on the storage node (the DRBD clone aside)."""
    from pacemail.controller import cibxml, stack

    names = [stack.MOUNT, *map(stack.vip_name, d.vips),
             *(stack.postfix_name(p.name) for p in d.postfix)]
    names += ["dovecot"] if d.dovecot else []
    names += [stack.PROXYSQL_VIP, stack.PROXYSQL] if d.proxysql else []
    return tuple(cibxml.PREFIX + n for n in names)
