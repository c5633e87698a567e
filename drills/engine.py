"""Running one drill: workload and sampler on, fault in, recovery watched, target restored, figures.

Phases: steady (the stack whole on one node, SMTP and IMAP answering), fault,
failover (the stack broken, then whole again, and both services answering),
restore (the scenario undone, every node back in a quorate cluster), drain
(the sender stops, the inbox is read until every accepted message is there).
Whatever happens, the ``finally`` stops the workload and sampler and restores
the target; a Ctrl-C during that cleanup is held until it is done.

The engine drives a :class:`DrillTarget` and does not know what it is made
of: the namespace lab (:class:`pacemail.drills.labtarget.LabTarget`) or
Vagrant VMs (:class:`pacemail.drills.vmtarget.VagrantTarget`). The workload
runs from the target's client network namespace against the stack's VIP.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Protocol

from pacemail.controller.cibxml import PREFIX
from pacemail.controller.stack import DRBD
from pacemail.drills import checks, client, events, figure, timing
from pacemail.drills.labtarget import Timeouts
from pacemail.drills.sampler import Sample
from pacemail.drills.scenarios import Scenario
from pacemail.drills.standin import Stack
from pacemail.lab import cluster

WARMUP_S = 2.0
# Before a fault the stack must have stayed on one node this long (a move meanwhile is
# a transition still running, and striking a moving stack measures nothing).
STABLE_S = 3.0

class Sampling(Protocol):
    samples: list[Sample]

    def stop(self) -> list[Sample]: ...


class DrillTarget(Protocol):
    """What the engine needs from the thing it drills."""
    stack: Stack
    kinds: tuple[str, ...]
    timeouts: Timeouts
    workload_options: dict
    note: str
    failback: bool          # the description lets the stack go back to its preferred node

    @property
    def label(self) -> str: ...
    @property
    def node_names(self) -> list[str]: ...
    @property
    def client_netns(self) -> str: ...
    def sampler(self) -> Sampling: ...
    def wait_redundant(self, timeout: float) -> None: ...
    def inject(self, fault: str, node: str) -> None: ...
    def restore(self) -> list[str]: ...
    def wait_rejoined(self, timeout: float) -> None: ...
    def fenced(self, after: float) -> dict[str, float]: ...
    def detected_at(self, nodes: list[str], pattern: str, after: float) -> float | None: ...
    def write_marker(self, node: str) -> str | None: ...
    def read_marker(self, node: str, marker: str) -> bool | None: ...
    def why(self, since: float | None) -> list[str]: ...


class Progress:
    """Phase, elapsed time and messages accepted, printed every 2 s and on each phase change."""

    def __init__(self, say, started: float):
        self.say, self.started, self.phase, self.workload = say, started, "starting", None
        self._stop = threading.Event()
        threading.Thread(target=self._tick, daemon=True).start()

    def __call__(self, phase: str) -> None:
        self.phase = phase
        self._show()

    def _show(self) -> None:
        accepted = self.workload.accepted() if self.workload else 0
        self.say(f"[{time.time() - self.started:6.1f}s] {self.phase} | accepted {accepted}")

    def _tick(self) -> None:
        while not self._stop.wait(2.0):
            self._show()

    def close(self) -> None:
        self._stop.set()


@contextmanager
def sigint_held():
    """Hold Ctrl-C while cleaning up; re-raise it afterwards."""
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(1)) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


def _wait(probe, timeout: float, what: str, interval: float):
    return cluster.wait_for(probe, timeout, what, interval=interval)


def run(target: DrillTarget, scenario: Scenario, say=lambda m: None) -> dict:
    stack, tmo = target.stack, target.timeouts
    started = time.time()
    progress = Progress(say, started)
    run_id = uuid.uuid4().hex[:12]
    result = {"scenario": scenario.name, "run_id": run_id, "stack": stack.kind,
              "target": target.label, "violations": [], "recovered": False}
    sampler = target.sampler()
    workload = None
    fault_at = back_at = None
    marker = None
    try:
        progress("steady: waiting for the stack on one node, settled and redundant")
        _wait(lambda: sampler.samples and checks.holder(sampler.samples[-1], target.kinds),
              tmo.steady, "the mail stack whole on one node", tmo.poll)
        settling = time.time()
        target.wait_redundant(tmo.steady)
        active = _wait(lambda: settled(sampler.samples, target.kinds), tmo.steady,
                       f"the mail stack on one node for {STABLE_S:.0f}s", tmo.poll)
        result["settle_s"] = round(time.time() - settling, 1)
        progress(f"settled: the stack on {active}, nothing pending, every replica redundant, "
                 f"unmoved for {STABLE_S:.0f}s (waited {result['settle_s']}s)")
        workload = client.Workload(target.client_netns, stack.address, run_id,
                                   **target.workload_options)
        progress.workload = workload
        _wait(lambda: workload.answered_since("smtp", started) and
              workload.answered_since("imap", started), tmo.answering, "SMTP and IMAP answering",
              tmo.poll)
        marker = target.write_marker(active)
        time.sleep(WARMUP_S)
        # Strike the node that holds the stack now (an unforced move meanwhile is reported).
        active = checks.holder(sampler.samples[-1], target.kinds) or active
        progress(f"fault: {scenario.name} on {active}")
        result["active_before"] = active
        fault_at = time.time()
        result["fault_time"] = round(fault_at, 3)   # Unix time: when, for the daemon's metrics
        target.inject(scenario.fault, active)
        progress("failover: waiting for the stack and both services again")
        back_at, active_after = _wait(lambda: _back(target, scenario, sampler.samples, fault_at),
                                      tmo.failover,
                                      f"the mail stack whole again after {scenario.name}",
                                      tmo.poll)
        _wait(lambda: workload.answered_since("smtp", back_at) and
              workload.answered_since("imap", back_at), tmo.answering_again,
              "SMTP and IMAP answering again", tmo.poll)
        result.update(recovered=True, active_before=active, active_after=active_after,
                      recover_s=round(back_at - fault_at, 2))
        if marker is not None:
            result["data_intact"] = target.read_marker(active_after, marker)
            if not result["data_intact"]:
                result["violations"].append(
                    f"data written on {active} before the fault not read back on {active_after}")
        progress("restore: undoing the fault, waiting for every node to rejoin")
        for action in target.restore():
            say(f"restore: {action}")
        target.wait_rejoined(tmo.rejoin)
        _wait(lambda: checks.holder(sampler.samples[-1], target.kinds), tmo.whole_after_rejoin,
              "the mail stack whole after the rejoin", tmo.poll)
    except TimeoutError as exc:
        result["violations"].append(str(exc))
        result["why"] = target.why(fault_at)   # as the cluster is now, before the restore
    finally:
        with sigint_held():
            progress("cleanup: stopping the workload, restoring the target")
            workload_events = workload.stop() if workload else []
            for action in target.restore():
                say(f"restore: {action}")
            samples = sampler.stop()
            progress.close()
    progress("drain: reading the inbox")
    accepted = checks.accepted(workload_events)
    mailbox = client.settle_mailbox(target.client_netns, stack.address, run_id, accepted,
                                    wait_s=tmo.settle)
    result.update(_figures(target, scenario, result, workload_events, samples, mailbox,
                           fault_at, back_at, accepted))
    if not result["passed"] or (result.get("recover_s") or 0) > tmo.slow:
        result.setdefault("why", target.why(fault_at))
        for line in result["why"]:
            say(f"why: {line}")
    say(f"[{time.time() - started:6.1f}s] done: {'PASS' if result['passed'] else 'FAIL'}")
    return result


def settled(samples, kinds) -> str | None:
    """The node the whole stack has been on, without a break, for the last STABLE_S."""
    if not samples or samples[-1].t - samples[0].t < STABLE_S:
        return None
    recent = [checks.holder(s, kinds) for s in samples if s.t >= samples[-1].t - STABLE_S]
    return recent[0] if recent[0] is not None and len(set(recent)) == 1 else None


def _back(target: DrillTarget, scenario: Scenario, samples, fault_at: float):
    """(time, node) the fault was over: the stack broken and whole again, or, where it may
    stay put (a fencing race), whole on a node that survived the fencing."""
    back = checks.recovered_at(samples, target.kinds, fault_at)
    if back or scenario.moves is not None or not samples:
        return back
    node = checks.holder(samples[-1], target.kinds)
    fenced = target.fenced(fault_at) if node else {}
    return (max(fenced.values()), node) if fenced and node not in fenced else None


def _figures(target, scenario, result, workload_events, samples, mailbox, fault_at, back_at,
             accepted):
    d = checks.delivery(accepted, mailbox)
    out = {"accepted": d.accepted, "delivered": d.delivered, "lost": len(d.lost),
           "lost_numbers": list(d.lost), "duplicates": d.duplicates,
           "downtime_s": {s: checks.downtime(workload_events, s, fault_at) if fault_at else None
                          for s in ("smtp", "imap")},
           "detect_s": None, "fence_requested_s": None, "fence_s": None, "promoted_s": None,
           "fenced": []}
    violations = result["violations"] + checks.split_brain(samples, fault_at or time.time())
    violations += checks.unforced_moves(samples, target.kinds, fault_at, back_at,
                                        target.failback)
    fenced = {}
    if fault_at:
        active = result.get("active_before")
        names = target.node_names
        survivors = [n for n in names if n != active]
        detected = target.detected_at(survivors if scenario.fence else names,
                                      scenario.detect, fault_at)
        out["detect_s"] = round(detected - fault_at, 2) if detected else None
        out.update(_steps(target, fault_at))
        fenced = _fenced(target, fault_at, scenario.fence)
        out["fenced"] = sorted(fenced)
        if fenced:
            out["fence_s"] = round(min(fenced.values()) - fault_at, 2)
        violations += _expectations(scenario, result, fenced)
        out["back_s"] = timing.kinds_back(samples, target.kinds, fault_at,
                                          result.get("active_after"))
    out["violations"] = violations
    out["passed"] = bool(result["recovered"] and not violations and not d.lost
                         and out["downtime_s"]["smtp"] is not None)
    out["timeline"] = figure.timeline_data(samples, workload_events, fault_at,
                                           fence_at=min(fenced.values()) if fenced else None,
                                           recover_at=(fault_at + result["recover_s"])
                                           if result.get("recover_s") is not None else None,
                                           nodes=target.node_names)
    return out


def _steps(target: DrillTarget, fault_at: float) -> dict[str, float | None]:
    """Seconds from the fault to the first fencing request (the scheduler's decision carried
    out by the controller) and to DRBD's first promotion, from the nodes' Pacemaker logs."""
    requested = target.detected_at(target.node_names, events.FENCE_REQUESTED, fault_at)
    promoted = (target.detected_at(target.node_names, events.promoted(PREFIX + DRBD), fault_at)
                if "drbd" in target.kinds else None)
    return {"fence_requested_s": round(requested - fault_at, 2) if requested else None,
            "promoted_s": round(promoted - fault_at, 2) if promoted else None}


def _fenced(target: DrillTarget, fault_at: float, expected: str | None) -> dict[str, float]:
    """Fencing since the fault; waits a little for the logs when fencing is expected."""
    if not expected:
        return target.fenced(fault_at)
    try:
        return cluster.wait_for(lambda: target.fenced(fault_at), target.timeouts.fence_wait,
                                "a completed fencing in the logs",
                                interval=target.timeouts.slow_poll)
    except TimeoutError:
        return {}


def _expectations(scenario: Scenario, result: dict, fenced: dict[str, float]) -> list[str]:
    out = []
    before, after = result.get("active_before"), result.get("active_after")
    if scenario.fence == "active" and before not in fenced:
        out.append(f"{before} was not fenced")
    if scenario.fence == "any" and not fenced:
        out.append("no node was fenced")
    if scenario.fence is None and fenced:
        out.append(f"unexpected fencing of {', '.join(sorted(fenced))}")
    if result["recovered"] and scenario.moves is True and after == before:
        out.append(f"the stack stayed on {before}")
    if result["recovered"] and scenario.moves is False and after != before:
        out.append(f"the stack moved from {before} to {after}")
    return out
