"""The namespace lab as a drill target: the adapter between the drill engine and pacemail.lab.

Faults go through the lab's power switch and its network (partitions at the
switch), the sampler reads the lab nodes' /proc from the host ten times a
second, the workload runs in the lab's client namespace, and detection and
fencing times come from the nodes' Pacemaker logs on the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pacemail.drills import events, why
from pacemail.drills.sampler import Sampler
from pacemail.drills.standin import Stack
from pacemail.lab import cluster, net, power, state, switchd
from pacemail.lab.nodes import NodeDown, node_run, node_runner
from pacemail.lab.provision import DRBD_RESOURCE
from pacemail.lab.topology import Lab
from pacemail.pacemaker import attributes
from pacemail.proc import CommandError

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Timeouts:
    """How long a drill waits, per phase (seconds), and how often it polls slow probes."""
    steady: float = 90.0
    answering: float = 30.0
    failover: float = 120.0
    answering_again: float = 60.0
    rejoin: float = 150.0
    whole_after_rejoin: float = 60.0
    fence_wait: float = 30.0
    settle: float = 30.0
    slow: float = 30.0      # a recovery slower than this is explained like a failure
    poll: float = 0.1
    slow_poll: float = 1.0


@dataclass(frozen=True)
class LabTarget:
    lab: Lab
    stack: Stack
    kinds: tuple[str, ...] = ("vip", "mount", "postfix", "dovecot")
    timeouts: Timeouts = field(default_factory=Timeouts)
    workload_options: dict = field(default_factory=dict)   # client.Workload keywords
    note: str = ""
    failback: bool = False

    @property
    def label(self) -> str:
        return f"lab {self.lab.name}"

    @property
    def size(self) -> int:
        return self.lab.size

    @property
    def two_node(self) -> bool:
        return self.lab.two_node

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.lab.nodes]

    @property
    def client_netns(self) -> str:
        return self.lab.client_netns

    @property
    def device(self) -> str:
        return state.facts(self.lab.name)["mail_device"]

    def sampler(self) -> Sampler:
        return Sampler(self.lab, self.device, self.stack.address)

    def wait_redundant(self, timeout: float) -> None:
        """No transition pending, and with pacemail's DRBD every node's replica UpToDate
        and connected to every peer: a rejoined node still syncing has no promotion score
        yet, and a fault then leaves fewer nodes able to take over."""
        up = [n.name for n in self.lab.nodes if power.is_on(self.lab, n)]
        cluster.settle(self.lab.name, up[0], timeout)
        if "drbd" not in self.kinds:
            return
        cluster.wait_for(lambda: all(_drbd_redundant(self.lab, n) for n in up), timeout,
                         "every DRBD replica UpToDate and connected", interval=self.timeouts.slow_poll)

    def inject(self, fault: str, node: str) -> None:
        inject(self.lab, fault, node)

    def why(self, since: float | None) -> list[str]:
        """What decides where the stack may run, from the cluster's own state (scores,
        failures, constraints, DRBD: :func:`why.explain`), and what the nodes' logs say
        the cluster decided since ``since`` (fencing and its reasons, failed operations)."""
        up = [n.name for n in self.lab.nodes if power.is_on(self.lab, n)]
        logged = events.decisions(events.log_lines(self.lab.nodes), since) if since else []
        return (why.explain(lambda node: node_runner(self.lab.name, node), up, DRBD_RESOURCE)
                + [f"log: {x}" for x in logged])

    def restore(self) -> list[str]:
        return restore(self.lab)

    def wait_rejoined(self, timeout: float) -> None:
        cluster.wait_for_quorum(self.lab.name, self.node_names, timeout)

    def fenced(self, after: float) -> dict[str, float]:
        return events.fenced(self.lab.nodes, after)

    def detected_at(self, nodes: list[str], pattern: str, after: float) -> float | None:
        return events.detected_at([self.lab.node(n) for n in nodes], pattern, after)

    def write_marker(self, node: str) -> str | None:
        """Data written on the active node before the fault: not checked on the lab (its
        volume is the lab's shared loop device, one kernel: nothing to lose)."""
        return None

    def read_marker(self, node: str, marker: str) -> bool | None:
        return None


def _drbd_redundant(lab: Lab, node: str) -> bool:
    """DRBD on ``node`` as its agent reads it (``drbdsetup status --json``): nothing that
    degrades it (a disk or a peer's not UpToDate, a peer not connected, no quorum)."""
    import json

    from pacemail.agents import drbd_policy, drbd_status

    try:
        out = node_run(lab.name, node, ["drbdsetup", "status", "--json", DRBD_RESOURCE],
                       timeout=TIMEOUT_S, check=False).stdout
        state = drbd_status.from_json(json.loads(out), DRBD_RESOURCE)
    except (NodeDown, ValueError):
        return False
    return state is not None and len(state.peers) == lab.size - 1 \
        and not drbd_policy.degradations(state)


def _power_off(lab: Lab, node: str) -> None:
    answer = switchd.request(str(lab.switch_socket), "off", node)
    if not answer.get("ok"):
        raise RuntimeError(f"power off {node}: {answer.get('error')}")


def _isolate(lab: Lab, node: str) -> None:
    isolated = lab.node(node)
    net.partition(lab, [isolated], [n for n in lab.nodes if n != isolated])


def _standby(lab: Lab, node: str, on: bool = True) -> None:
    other = next(n.name for n in lab.nodes if n.name != node and power.is_on(lab, n))
    attributes.set_standby(node, on, run=node_runner(lab.name, other), timeout=TIMEOUT_S)


def inject(lab: Lab, fault: str, node: str) -> None:
    if fault == "power-off":
        _power_off(lab, node)
    elif fault == "partition":
        _isolate(lab, node)
    elif fault == "standby":
        _standby(lab, node)
    elif fault.startswith("kill:"):
        node_run(lab.name, node, ["pkill", "-KILL", "-x", fault.split(":", 1)[1]],
                 timeout=TIMEOUT_S)
    else:
        raise ValueError(f"the lab cannot inject {fault!r}")


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
            if attributes.standby(node.name, run=node_runner(lab.name, up[0]), timeout=TIMEOUT_S):
                _standby(lab, node.name, on=False)
                done.append(f"took {node.name} out of standby")
        except (CommandError, NodeDown, IndexError):
            continue
    return done
