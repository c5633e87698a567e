"""Applying a description to the live cluster: read, plan, gate, push one versioned patch.

Epoch safety: the patch (``patch.py``) names the configuration version the plan
was computed against (admin_epoch, epoch) and the ``num_updates`` read just
before the push; the CIB manager refuses it once the live CIB has moved
(``pacemail.pacemaker.cib.Conflict``). A status update in between (same epoch) only needs a fresh
header and a new patch of the same plan. When the epoch moved, the plan is
computed again against the new CIB: if it is the same list of changes (someone
changed only what pacemail does not own, which the merge keeps), it is pushed
against the new version (up to ``ATTEMPTS`` plans) and the outcome says it was
re-planned; otherwise nothing is pushed and the outcome carries the new plan.
A concurrent configuration change is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from pacemail.controller import merge, patch
from pacemail.controller.build import SCHEMA
from pacemail.controller.model import Description
from pacemail.controller.plan import Plan, make_plan
from pacemail.controller.problems import errors
from pacemail.pacemaker import cib
from pacemail.pacemaker.runner import Runner, local


# Plans pushed in all when the epoch keeps moving; patches of one plan when only
# the status (num_updates) moves between the header read and the push.
ATTEMPTS = 3
STATUS_ATTEMPTS = 10


@dataclass(frozen=True)
class Outcome:
    plan: Plan                   # what was pushed, or the latest plan when nothing was
    pushed: bool
    refused: str | None = None   # why nothing was pushed; None when pushed or nothing to do
    replanned: bool = False      # the CIB moved after it was read and the plan was recomputed


def plan_live(description: Description, *, run: Runner = local) -> Plan:
    """The plan against the CIB the cluster (reached through ``run``) has now.

    Whether there is anything to do needs only the configuration, read after the
    header (so a configuration newer than the header's epoch can only make a
    later push refuse, never let a stale one through); the whole CIB, status
    included for the impact, is read only when there is.
    """
    header = cib.header(run=run)
    configuration = etree.fromstring(cib.get("configuration", run=run))
    skeleton = etree.Element("cib", header)
    skeleton.append(configuration)
    etree.SubElement(skeleton, "status")
    quick = make_plan(description, etree.tostring(skeleton), check=False)
    if quick.ok and not quick.changes:
        return quick
    return make_plan(description, cib.get(run=run))


def apply(description: Description, *, allow_restart: bool = False,
          run: Runner = local) -> Outcome:
    return push(plan_live(description, run=run), description, allow_restart=allow_restart, run=run)


def push(plan: Plan, description: Description, *, allow_restart: bool = False,
         run: Runner = local) -> Outcome:
    """Push ``plan`` (made earlier by :func:`plan_live`) if its base is still the live CIB."""
    refused = gate(plan, allow_restart)
    if refused or not plan.changes:
        return Outcome(plan, False, refused)
    current = plan
    for _ in range(ATTEMPTS):
        if push_at_epoch(current.live, current.merged, run=run):
            return Outcome(current, True, replanned=current is not plan)
        fresh = plan_live(description, run=run)
        moved = f"the live CIB moved from version {_v(plan.base)} to {_v(fresh.base)} after it was read"
        if fresh.changes != plan.changes:
            return Outcome(fresh, False, f"{moved} and the plan is no longer the same; nothing "
                                         "was pushed: review the new plan", replanned=True)
        refused = gate(fresh, allow_restart)
        if refused:
            return Outcome(fresh, False, refused, replanned=True)
        current = fresh
    return Outcome(current, False, f"the live CIB kept moving ({ATTEMPTS} attempts); nothing was pushed",
                   replanned=True)


def push_at_epoch(old: bytes, new: bytes, *, run: Runner = local) -> bool:
    """Push the change from CIB ``old`` to CIB ``new`` while the live configuration is still
    ``old``'s; False when the epoch moved (or the status kept moving)."""
    before, after = etree.fromstring(old), etree.fromstring(new)
    for _ in range(STATUS_ATTEMPTS):
        header = cib.header(run=run)
        if merge.version(header)[:2] != merge.version(before)[:2]:
            return False
        try:
            cib.push_patch(patch.patchset(before, after, header), run=run)
            return True
        except cib.Conflict:
            continue
    return False


def remove_owned(*, attempts: int = 10, run: Runner = local) -> bool:
    """Remove every element pacemail owns (and nothing else), epoch-safe like an apply.

    The merge with an empty configuration drops exactly the owned elements; the
    push is retried on a fresh read while the epoch moves. False when it kept moving.
    """
    empty = etree.Element("cib", {"validate-with": SCHEMA})
    configuration = etree.SubElement(empty, "configuration")
    for section in merge.SECTIONS:
        etree.SubElement(configuration, section)
    for _ in range(attempts):
        current = cib.get(run=run)
        merged = merge.merge(etree.fromstring(current), empty)
        if not merged.edits or push_at_epoch(current, etree.tostring(merged.cib), run=run):
            return True
    return False


def gate(plan: Plan, allow_restart: bool) -> str | None:
    """Why ``plan`` must not be pushed, or None."""
    if not plan.ok:
        return "the merged CIB has errors; nothing was pushed: " + "; ".join(
            str(p) for p in errors(list(plan.problems)))
    if plan.disruptions and not allow_restart:
        which = ", ".join(f"{i.resource} ({i.effect})" for i in plan.disruptions)
        return f"running resources would be disrupted: {which}; pass --allow-restart to accept"
    return None


def _v(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))
