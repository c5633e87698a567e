"""The two-node fence race proof: a two_node lab fenced as a description says, split N times.

:func:`prepare` brings up a fresh two_node lab without the lab's own fence
device, puts a password on its power switch (root-only, like a BMC's) and
applies a cluster description through pacemail's own path: each node installs
the fence device secret (``pacemail fencing secrets``), then ``pacemail
apply`` pushes the devices and the fence-race choice (``fencerace.py``; the
description sets none, so pacemail picks). The drills' stand-in stack serves
mail and carries the description's ``placement.priority``; pacemail's own
stack resources stay banned (their agents do not run in the lab; their mount
point and VIP differ from the stand-in's, which pcs checks). Fencing
succeeds only if Pacemaker read the secret. :func:`rounds` cuts the link
``count`` times with the drills engine and counts single survivors.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pacemail.controller import apply, fencerace
from pacemail.controller.description import parse
from pacemail.controller.model import Description
from pacemail.controller.problems import errors
from pacemail.drills import engine, standin, target
from pacemail.drills.labtarget import LabTarget
from pacemail.drills.scenarios import SCENARIOS
from pacemail.lab import cluster, lifecycle
from pacemail.lab.fence_agent import PASSWORD_FILE
from pacemail.lab.nodes import node_run, node_runner
from pacemail.lab.topology import Lab
from pacemail.pacemaker import resources

PACEMAIL = str(Path(sys.executable).parent / "pacemail")
SECRET_FILE = "fence-password"   # in the lab's directory: the description's secret source

DESCRIPTION = """\
cluster:
  name: {cluster}
  options: {{stonith-enabled: true, no-quorum-policy: stop}}
nodes: [node1, node2]
storage: {{drbd_resource: mail, device: /dev/drbd0, mount_point: /srv/pacemail-unused}}
vips:
  mail: {{address: 198.18.0.99, prefix: 24}}
services:
  postfix: {{}}
placement: {{priority: 10}}
fencing:
  devices:
    - name: fence-node1
      agent: fence_pacemail_lab
      hosts: [node1]
      params: {{lab: {lab}}}
      secrets: {{password: {secret}}}
    - name: fence-node2
      agent: fence_pacemail_lab
      hosts: [node2]
      params: {{lab: {lab}}}
      secrets: {{password: {secret}}}
extra:
  constraints:
    - {{type: location, resource: drbd-clone, node: node1, score: -INFINITY, name: no-drbd-1}}
    - {{type: location, resource: drbd-clone, node: node2, score: -INFINITY, name: no-drbd-2}}
"""


@dataclass(frozen=True)
class Prepared:
    lab: Lab
    description: Description
    path: Path           # the description file (in the lab's directory)
    plan_output: str     # what `pacemail plan` printed before the apply


def prepare(name: str, secret: str) -> Prepared:
    """A fresh two_node lab ``name`` (a stale one cleared), fenced as :data:`DESCRIPTION` says."""
    lab = lifecycle.up(name, 2, two_node=True, fencing=False).lab
    _root_only(lab.dir / PASSWORD_FILE, secret)
    _root_only(lab.dir / SECRET_FILE, secret)
    path = lab.dir / "description.yaml"
    path.write_text(DESCRIPTION.format(lab=lab.name, cluster=lab.cluster_name,
                                      secret=lab.dir / SECRET_FILE))
    parsed = parse(path.read_text(), str(path))
    if parsed.description is None or errors(parsed.problems):
        raise ValueError("; ".join(map(str, parsed.problems)))
    for node in lab.nodes:
        node_run(lab.name, node.name, [PACEMAIL, "fencing", "secrets", str(path)], timeout=60)
    plan = node_run(lab.name, "node1", [PACEMAIL, "plan", str(path)], timeout=120, check=False)
    outcome = apply.apply(parsed.description, allow_restart=True,
                          run=node_runner(lab.name, "node1"))
    if outcome.refused:
        raise RuntimeError(f"pacemail apply refused: {outcome.refused}")
    return Prepared(lab, parsed.description, path, plan.stdout + plan.stderr)


def settled_standin(lab: Lab) -> LabTarget:
    """The stand-in stack, running, its fail counts cleared.

    The stand-in's postfix and dovecot are created before their constraints,
    so they may first try a node without the mail volume and fail there with
    'not installed', which bans them from that node; cleared once placed.
    """
    t = target.standin_target(lab.name)
    postfix = f"{standin.GROUP}-postfix"
    cluster.wait_for(lambda: cluster.crm_view(lab.name, "node1").resources.get(postfix),
                     90, "the stand-in's postfix running")
    resources.cleanup(run=node_runner(lab.name, "node1"))
    return t


def place_stack(p: Prepared) -> LabTarget:
    """The stand-in stack, weighing ``placement.priority`` like pacemail's stack would."""
    t = settled_standin(p.lab)
    priority = str(p.description.placement.priority)
    for rid in (standin.GROUP, f"{standin.GROUP}-postfix", f"{standin.GROUP}-dovecot"):
        resources.set_meta(rid, "priority", priority, run=node_runner(p.lab.name, "node1"))
    # Read the placement only once the cleanup's probes and the meta changes have
    # run their transitions (CI once saw the stand-in counted where it then was not).
    cluster.settle(p.lab.name, "node1", 120)
    return t


def rounds(t: LabTarget, count: int, say=lambda m: None) -> list[dict]:
    """``count`` link cuts, each with the stack away from the DC (the DC fences first by
    itself: it need not be elected); each result gains ``dc_before`` and
    ``single_survivor`` (one node fenced, the other serving the whole stack, no split
    brain, no mail lost)."""
    out = []
    for i in range(1, count + 1):
        say(f"round {i}/{count}")
        started = time.monotonic()
        dc = _stack_away_from_dc(t.lab)
        r = engine.run(t, SCENARIOS["two-node-split"], say)
        r["dc_before"] = dc
        r["round_s"] = round(time.monotonic() - started, 1)
        r["single_survivor"] = bool(
            r["passed"] and len(r["fenced"]) == 1 and r.get("active_after")
            and r["active_after"] not in r["fenced"])
        out.append(r)
        cluster.wait_for_quorum(t.lab.name, [n.name for n in t.lab.nodes], 150)
    return out


def _stack_away_from_dc(lab: Lab) -> str:
    """Move the stand-in off the DC (a move constraint, then cleared); returns the DC."""
    postfix = f"{standin.GROUP}-postfix"

    def away(view: cluster.ClusterView) -> bool:
        running = view.resources.get(postfix, [])
        return bool(view.dc) and len(running) == 1 and running != [view.dc]

    view = cluster.crm_view(lab.name, "node1")
    if away(view):
        return view.dc
    other = next(n.name for n in lab.nodes if n.name != view.dc)
    run = node_runner(lab.name, "node1")
    resources.move(standin.GROUP, other, run=run)
    try:
        cluster.wait_for(lambda: cluster.crm_view(lab.name, "node1").resources.get(postfix)
                         == [other], 90, f"the stand-in moved to {other}")
    finally:
        resources.clear(standin.GROUP, run=run)
    cluster.settle(lab.name, "node1", 120)
    view = cluster.crm_view(lab.name, "node1")
    if not away(view):
        raise RuntimeError(f"the stand-in is not away from the DC after the move: {view}")
    return view.dc


def race_note(p: Prepared) -> str:
    return fencerace.note(p.description.fence_race)


def _root_only(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
