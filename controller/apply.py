"""Applying a description to the live cluster: read, plan, gate, push one versioned patch.

Epoch safety: the patch is ``crm_diff --cib`` of the CIB as read and the
merged CIB, so it names the version it was computed against (admin_epoch,
epoch, num_updates); the CIB manager refuses it once the live CIB has moved
(``live.Conflict``). Then the plan is computed again against the new CIB: if it
is the same list of changes (only the status moved, or someone changed only
what pacemail does not own, which the merge keeps), it is pushed against the
new version (up to ``ATTEMPTS`` pushes) and the outcome says it was re-planned; otherwise nothing is pushed and the
outcome carries the new plan. A concurrent change is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacemail.controller import live
from pacemail.controller.model import Description
from pacemail.controller.plan import Plan, make_plan
from pacemail.proc import run as local_run


# Status updates (num_updates) also move the version a patch names; the same
# plan against the moved CIB is pushed again, up to this many times in all.
ATTEMPTS = 3


@dataclass(frozen=True)
class Outcome:
    plan: Plan                   # what was pushed, or the latest plan when nothing was
    pushed: bool
    refused: str | None = None   # why nothing was pushed; None when pushed or nothing to do
    replanned: bool = False      # the CIB moved after it was read and the plan was recomputed


def plan_live(description: Description, *, run: live.Runner = local_run) -> Plan:
    """The plan against the CIB the cluster (reached through ``run``) has now."""
    return make_plan(description, live.get_cib(run=run))


def apply(description: Description, *, allow_restart: bool = False,
          run: live.Runner = local_run) -> Outcome:
    return push(plan_live(description, run=run), description, allow_restart=allow_restart, run=run)


def push(plan: Plan, description: Description, *, allow_restart: bool = False,
         run: live.Runner = local_run) -> Outcome:
    """Push ``plan`` (made earlier by :func:`plan_live`) if its base is still the live CIB."""
    refused = gate(plan, allow_restart)
    if refused or not plan.changes:
        return Outcome(plan, False, refused)
    current = plan
    for _ in range(ATTEMPTS):
        try:
            live.push_patch(live.diff(current.live, current.merged), run=run)
            return Outcome(current, True, replanned=current is not plan)
        except live.Conflict:
            pass
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


def gate(plan: Plan, allow_restart: bool) -> str | None:
    """Why ``plan`` must not be pushed, or None."""
    if not plan.ok:
        return "the merged CIB has errors; nothing was pushed"
    if plan.disruptions and not allow_restart:
        which = ", ".join(f"{i.resource} ({i.effect})" for i in plan.disruptions)
        return f"running resources would be disrupted: {which}; pass --allow-restart to accept"
    return None


def _v(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))
