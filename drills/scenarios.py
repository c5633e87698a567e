"""Drill scenarios as data: which fault, what must happen.

``fault`` names the fault a target injects into the node running the mail
stack (:meth:`pacemail.drills.engine.DrillTarget.inject`): ``power-off``,
``partition``, ``kill:PROCESS``, ``standby``; every target also knows how to
undo them (``restore``, which is also what a failed or interrupted drill
runs). ``fence`` is who must be fenced ("active", "any" or None for nobody),
``moves`` whether the stack must end on another node (None: either),
``detect`` the Pacemaker log line that marks detection of the fault.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pacemail.drills import events


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    fault: str
    fence: str | None
    moves: bool | None
    detect: str
    labs: str = "any"       # "any", "three" (needs a majority) or "two" (two_node labs only)

    def fits(self, target) -> bool:
        """Whether ``target`` (a drill target or a lab: ``size``, ``two_node``) can run this
        scenario."""
        return {"any": True, "three": target.size >= 3, "two": target.two_node}[self.labs]


SCENARIOS = {s.name: s for s in (
    Scenario("power-off-active", "pull the plug on the node running the mail stack",
             "power-off", "active", True, events.MEMBERSHIP_LOST),
    Scenario("partition-active", "cut the active node off from the others (its cluster network)",
             "partition", "active", True, events.MEMBERSHIP_LOST, labs="three"),
    Scenario("kill-postfix", "SIGKILL postfix's master on the active node",
             "kill:master", None, False, events.MONITOR_FAILED),
    Scenario("kill-dovecot", "SIGKILL dovecot's master on the active node",
             "kill:dovecot", None, False, events.MONITOR_FAILED),
    Scenario("kill-corosync", "SIGKILL corosync on the active node",
             "kill:corosync", "active", True, events.MEMBERSHIP_LOST),
    Scenario("standby-active", "planned move: put the active node in standby",
             "standby", None, True, events.PLANNED_STOP),
    Scenario("two-node-split", "cut the two nodes of a two_node cluster apart: one fences the other",
             "partition", "any", None, events.MEMBERSHIP_LOST, labs="two"),
)}
RANDOM = "random"


def names() -> list[str]:
    return list(SCENARIOS) + [RANDOM]


def sequence(name: str, target, count: int, seed: int) -> list[Scenario]:
    """The scenarios of one ``drill run``: ``count`` times the named one, or a seeded random mix
    of those that fit ``target`` (a drill target or a lab)."""
    if name != RANDOM:
        scenario = SCENARIOS[name]
        if not scenario.fits(target):
            label = getattr(target, "label", None) or getattr(target, "name", "the target")
            needs = (f"a {scenario.labs}-node lab" if scenario.labs != "any"
                     else f"a target that can inject {scenario.fault}")
            raise ValueError(f"{name} needs {needs}; {label} has {target.size} nodes"
                             f"{' (two_node)' if target.two_node else ''}")
        return [scenario] * count
    pool = [s for s in SCENARIOS.values() if s.fits(target)]
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(count)]
