"""Drill scenarios as data: how to inject the fault, how to undo it, what must happen.

``inject(lab, active)`` hits the node running the mail stack; ``recover``
puts the lab back (every scenario ends with :func:`restore`, which is also
what a failed or interrupted drill runs). ``fence`` is who must be fenced
("active", "any" or None for nobody), ``moves`` whether the stack must end on
another node (None: either), ``detect`` the Pacemaker log line that marks
detection of the fault.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from pacemail.drills import events
from pacemail.lab import net, power, switchd
from pacemail.lab.nodes import NodeDown, node_run
from pacemail.lab.topology import Lab
from pacemail.proc import CommandError

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    inject: Callable[[Lab, str], None]
    fence: str | None
    moves: bool | None
    detect: str
    labs: str = "any"       # "any", "three" (needs a majority) or "two" (two_node labs only)

    def fits(self, lab: Lab) -> bool:
        return {"any": True, "three": lab.size >= 3, "two": lab.two_node}[self.labs]


def _power_off(lab: Lab, node: str) -> None:
    answer = switchd.request(str(lab.switch_socket), "off", node)
    if not answer.get("ok"):
        raise RuntimeError(f"power off {node}: {answer.get('error')}")


def _isolate(lab: Lab, node: str) -> None:
    isolated = lab.node(node)
    net.partition(lab, [isolated], [n for n in lab.nodes if n != isolated])


def _kill(process: str) -> Callable[[Lab, str], None]:
    def inject(lab: Lab, node: str) -> None:
        node_run(lab.name, node, ["pkill", "-KILL", "-x", process], timeout=TIMEOUT_S)
    return inject


def _standby(lab: Lab, node: str, on: bool = True) -> None:
    other = next(n.name for n in lab.nodes if n.name != node and power.is_on(lab, n))
    node_run(lab.name, other, ["crm_attribute", "--type", "nodes", "--node", node, "--name",
                               "standby", "--update", "on" if on else "off"], timeout=TIMEOUT_S)


def restore(lab: Lab) -> list[str]:
    """Heal partitions, power every node on, take every node out of standby. Returns what it did."""
    done = []
    if net.partitions(lab):
        net.heal(lab)
        done.append("healed the partition")
    for node in lab.nodes:
        if not power.is_on(lab, node):
            answer = switchd.request(str(lab.switch_socket), "on", node.name)
            done.append(f"powered {node.name} on" if answer.get("ok")
                        else f"could not power {node.name} on: {answer.get('error')}")
    up = [n.name for n in lab.nodes if power.is_on(lab, n)]
    for node in lab.nodes:
        try:
            out = node_run(lab.name, up[0], ["crm_attribute", "--type", "nodes", "--node",
                                             node.name, "--name", "standby", "--query",
                                             "--quiet"], timeout=TIMEOUT_S, check=False).stdout
            if out.strip() == "on":
                _standby(lab, node.name, on=False)
                done.append(f"took {node.name} out of standby")
        except (CommandError, NodeDown, IndexError):
            continue
    return done


SCENARIOS = {s.name: s for s in (
    Scenario("power-off-active", "pull the plug on the node running the mail stack",
             _power_off, "active", True, events.MEMBERSHIP_LOST),
    Scenario("partition-active", "cut the active node off from the others at the switch",
             _isolate, "active", True, events.MEMBERSHIP_LOST, labs="three"),
    Scenario("kill-postfix", "SIGKILL postfix's master on the active node",
             _kill("master"), None, False, events.MONITOR_FAILED),
    Scenario("kill-dovecot", "SIGKILL dovecot's master on the active node",
             _kill("dovecot"), None, False, events.MONITOR_FAILED),
    Scenario("kill-corosync", "SIGKILL corosync on the active node",
             _kill("corosync"), "active", True, events.MEMBERSHIP_LOST),
    Scenario("standby-active", "planned move: put the active node in standby",
             _standby, None, True, events.PLANNED_STOP),
    Scenario("two-node-split", "cut the two nodes of a two_node cluster apart: one fences the other",
             _isolate, "any", None, events.MEMBERSHIP_LOST, labs="two"),
)}
RANDOM = "random"


def names() -> list[str]:
    return list(SCENARIOS) + [RANDOM]


def sequence(name: str, lab: Lab, count: int, seed: int) -> list[Scenario]:
    """The scenarios of one ``drill run``: ``count`` times the named one, or a seeded random mix."""
    if name != RANDOM:
        scenario = SCENARIOS[name]
        if not scenario.fits(lab):
            raise ValueError(f"{name} needs a {scenario.labs}-node lab; {lab.name} has "
                             f"{lab.size} nodes{' (two_node)' if lab.two_node else ''}")
        return [scenario] * count
    pool = [s for s in SCENARIOS.values() if s.fits(lab)]
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(count)]
