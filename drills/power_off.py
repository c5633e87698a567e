"""The power-off-active drill: pull the plug on the node running a service, measure the failover.

Figures, all from one clock (unix time): ``downtime_s`` is what a client saw
(last answer before the fault to first answer after it), ``fence_s`` is when
Pacemaker confirmed fencing of the lost node, ``recover_s`` is when every
resource of the service was active on a survivor again.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import datetime

from pacemail.drills.reachability import Pinger
from pacemail.lab import cluster, switchd
from pacemail.lab.nodes import node_run
from pacemail.lab.topology import Lab
from pacemail.proc import CommandError

RECOVERY_TIMEOUT_S = 120.0
FENCE_HISTORY_WAIT_S = 30.0


@dataclass
class Result:
    scenario: str
    resources: list[str]
    address: str
    active_before: str
    active_after: str | None = None
    downtime_s: float | None = None
    fence_s: float | None = None
    recover_s: float | None = None
    fenced: bool = False
    violations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (self.active_after is not None and self.fenced and not self.violations
                and self.downtime_s is not None)

    def as_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def run(lab: Lab, resources: list[str], address: str, progress=lambda msg: None) -> Result:
    """Power off the node running ``resources`` (colocated); ``address`` is what clients use."""
    view = cluster.wait_for(lambda: _together(lab, resources), 90,
                            f"{', '.join(resources)} running together")
    active = view
    result = Result("power-off-active", resources, address, active)
    survivors = [n.name for n in lab.nodes if n.name != active]
    pinger = Pinger(lab.client_netns, address)
    try:
        cluster.wait_for(lambda: pinger.timeline.answered_since(0), 10, f"{address} answering")
        progress(f"{', '.join(resources)} run on {active}; pulling its plug")
        fault_at = time.time()
        answer = switchd.request(str(lab.switch_socket), "off", active)
        if not answer.get("ok"):
            raise RuntimeError(f"power off {active}: {answer.get('error')}")
        moved = cluster.wait_for(
            lambda: (n := _together(lab, resources, survivors[0])) and n != active and n,
            RECOVERY_TIMEOUT_S, f"{', '.join(resources)} running on a survivor", interval=0.2)
        result.active_after = moved
        result.recover_s = round(time.time() - fault_at, 2)
        progress(f"recovered on {moved} after {result.recover_s:.1f}s; waiting for clients")
        cluster.wait_for(lambda: pinger.timeline.answered_since(fault_at), 20,
                         f"{address} answering again")
        timeline = pinger.stop()
        last_ok, first_ok = timeline.outage_around(fault_at)
        if last_ok and first_ok:
            result.downtime_s = round(first_ok - last_ok, 2)
        try:  # the history may lag the recovery a little on a loaded machine
            completed = cluster.wait_for(
                lambda: (t := _fenced_at(lab, survivors[0], active)) and t >= fault_at - 1 and t,
                FENCE_HISTORY_WAIT_S, f"a successful fencing of {active} in the history")
            result.fenced = True
            result.fence_s = round(completed - fault_at, 2)
        except TimeoutError:
            result.violations.append(f"{active} was not fenced before recovery")
    finally:
        pinger.stop()
        if not switchd.request(str(lab.switch_socket), "status", active).get("status") == "on":
            switchd.request(str(lab.switch_socket), "on", active)
    progress(f"{active} powered on again; waiting for it to rejoin")
    cluster.wait_for_quorum(lab.name, [n.name for n in lab.nodes], 120)
    return result


def _together(lab: Lab, resources: list[str], node: str = "node1") -> str | None:
    """The node where all ``resources`` are active, seen from ``node``."""
    view = cluster.crm_view(lab.name, node)
    where = {tuple(view.resources.get(r, [])) for r in resources}
    if len(where) == 1:
        (nodes,) = where
        if len(nodes) == 1:
            return nodes[0]
    return None


def _fenced_at(lab: Lab, node: str, target: str) -> float | None:
    """When Pacemaker last completed fencing ``target`` successfully (unix time)."""
    try:
        out = node_run(lab.name, node, ["stonith_admin", "--history", target,
                                        "--output-as=xml"], timeout=20).stdout
    except CommandError:
        return None
    times = []
    for event in ET.fromstring(out).iter("fence_event"):
        if event.get("status") == "success" and event.get("completed"):
            times.append(datetime.fromisoformat(event.get("completed")).timestamp())
    return max(times) if times else None
