"""The two-node fence race, resolved by configuration and explained.

After a link failure each of two nodes sees the other lost and keeps quorum
(two_node), so both ask to fence at once; without a delay both can die. Two
ways out, chosen here when the description sets neither:

* ``priority-fencing-delay`` (cluster option) when the mail stack carries a
  resource priority (``placement.priority``, default 10): the fencing aimed at
  the node whose resources weigh most waits, so the node running the mail
  stack shoots first and survives, and mail does not move at all.
* ``pcmk_delay_max`` on every fence device when the priority is 0: a random
  delay per fencing; one side wins, which one is chance.

An explicit choice in the description is kept and named. The choice is data
(``Description.fence_race``); ``pacemail plan`` prints its :func:`note`.
"""

from __future__ import annotations

from dataclasses import replace

from pacemail.controller.model import Description, FenceRace as Race

PRIORITY_DELAY = "15s"
RANDOM_DELAY_MAX = "15s"
DEVICE_DELAYS = ("pcmk_delay_base", "pcmk_delay_max")


def note(race: Race) -> str:
    """The plan's one-line explanation of the choice."""
    how = "pacemail chose" if race.automatic else "the description sets"
    return f"fence race (two nodes): {how} {race.method}: {race.why}"


def resolve(d: Description) -> Description:
    """``d`` with the fence race resolved (two fencing nodes only) and the choice recorded."""
    options = dict(d.options)
    if len(d.nodes) != 2 or options.get("stonith-enabled") != "true" or not d.fence_devices:
        return d
    given = [p for f in d.fence_devices for p, _ in f.params if p in DEVICE_DELAYS]
    if _set(options.get("priority-fencing-delay")) or given:
        named = ["priority-fencing-delay"] * _set(options.get("priority-fencing-delay")) + \
            sorted(set(given))
        return replace(d, fence_race=Race(" and ".join(named), False, _explain_given(d, named)))
    if d.placement.priority:
        return replace(
            d, options=d.options + (("priority-fencing-delay", PRIORITY_DELAY),),
            fence_race=Race(f"priority-fencing-delay={PRIORITY_DELAY}", True,
                            f"the mail stack has priority {d.placement.priority}, so fencing "
                            f"aimed at the node running it waits {PRIORITY_DELAY}: that node "
                            f"fences the other first and keeps serving mail without a move; "
                            f"the cost: a real failure of that node is fenced "
                            f"{PRIORITY_DELAY} later"))
    devices = tuple(replace(f, params=f.params + (("pcmk_delay_max", RANDOM_DELAY_MAX),))
                    for f in d.fence_devices)
    return replace(d, fence_devices=devices,
                   fence_race=Race(f"pcmk_delay_max={RANDOM_DELAY_MAX}", True,
                                   "placement.priority is 0, so no node weighs more: every "
                                   f"fencing waits a random 0-{RANDOM_DELAY_MAX} and one side "
                                   "wins by chance (set a priority to make the mail node win)"))


def priority_without_weight(d: Description) -> bool:
    """priority-fencing-delay set while no resource has a priority: the delay never applies."""
    return _set(dict(d.options).get("priority-fencing-delay")) and not d.placement.priority


def _explain_given(d: Description, named: list[str]) -> str:
    if priority_without_weight(d):
        return ("but placement.priority is 0: no resource weighs anything, so the delay "
                "never applies and the race stays open")
    if "priority-fencing-delay" in named:
        return "the node running the mail stack (higher priority) fences first and survives"
    return "the fencing delays on the devices decide which node shoots first"


def _set(value: str | None) -> bool:
    return bool(value) and value.strip() not in ("0", "0s", "0ms")
