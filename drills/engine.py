"""Running one drill: workload and sampler on, fault in, recovery watched, lab restored, figures.

Phases: steady (the stack whole on one node, SMTP and IMAP answering), fault,
failover (the stack broken, then whole again, and both services answering),
restore (the scenario undone, every node back in a quorate cluster), drain
(the sender stops, the inbox is read until every accepted message is there).
Whatever happens, the ``finally`` stops the workload and sampler and restores
the lab; a Ctrl-C during that cleanup is held until it is done.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from pacemail.drills import checks, client, events, figure
from pacemail.drills.sampler import Sampler
from pacemail.drills.scenarios import Scenario, restore
from pacemail.drills.standin import Stack
from pacemail.lab import cluster, state
from pacemail.lab.topology import Lab

STEADY_TIMEOUT_S = 90.0
WARMUP_S = 2.0
FAILOVER_TIMEOUT_S = 120.0
REJOIN_TIMEOUT_S = 150.0
FENCE_WAIT_S = 30.0


@dataclass(frozen=True)
class Target:
    lab: Lab
    stack: Stack
    kinds: tuple[str, ...] = ("vip", "mount", "postfix", "dovecot")

    @property
    def device(self) -> str:
        return state.facts(self.lab.name)["mail_device"]


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


def _wait(probe, timeout: float, what: str):
    return cluster.wait_for(probe, timeout, what, interval=0.1)


def run(target: Target, scenario: Scenario, say=lambda m: None) -> dict:
    lab, stack = target.lab, target.stack
    started = time.time()
    progress = Progress(say, started)
    run_id = uuid.uuid4().hex[:12]
    result = {"scenario": scenario.name, "run_id": run_id, "stack": stack.kind,
              "violations": [], "recovered": False}
    sampler = Sampler(lab, target.device, stack.address)
    workload = None
    fault_at = None
    try:
        progress("steady: waiting for the stack on one node")
        active = _wait(lambda: sampler.samples and checks.holder(sampler.samples[-1], target.kinds),
                       STEADY_TIMEOUT_S, "the mail stack whole on one node")
        workload = client.Workload(lab.client_netns, stack.address, run_id)
        progress.workload = workload
        _wait(lambda: workload.answered_since("smtp", started) and
              workload.answered_since("imap", started), 30, "SMTP and IMAP answering")
        time.sleep(WARMUP_S)
        progress(f"fault: {scenario.name} on {active}")
        fault_at = time.time()
        scenario.inject(lab, active)
        progress("failover: waiting for the stack and both services again")
        back_at, active_after = _wait(lambda: _back(target, scenario, sampler.samples, fault_at),
                                      FAILOVER_TIMEOUT_S,
                                      f"the mail stack whole again after {scenario.name}")
        _wait(lambda: workload.answered_since("smtp", back_at) and
              workload.answered_since("imap", back_at), 60, "SMTP and IMAP answering again")
        result.update(recovered=True, active_before=active, active_after=active_after,
                      recover_s=round(back_at - fault_at, 2))
        progress("restore: undoing the fault, waiting for every node to rejoin")
        restore(lab)
        cluster.wait_for_quorum(lab.name, [n.name for n in lab.nodes], REJOIN_TIMEOUT_S)
        _wait(lambda: checks.holder(sampler.samples[-1], target.kinds), 60,
              "the mail stack whole after the rejoin")
    except TimeoutError as exc:
        result["violations"].append(str(exc))
    finally:
        with sigint_held():
            progress("cleanup: stopping the workload, restoring the lab")
            workload_events = workload.stop() if workload else []
            for action in restore(lab):
                say(f"restore: {action}")
            samples = sampler.stop()
            progress.close()
    progress("drain: reading the inbox")
    accepted = checks.accepted(workload_events)
    mailbox = client.settle_mailbox(lab.client_netns, stack.address, run_id, accepted)
    result.update(_figures(target, scenario, result, workload_events, samples, mailbox,
                           fault_at, accepted))
    say(f"[{time.time() - started:6.1f}s] done: {'PASS' if result['passed'] else 'FAIL'}")
    return result


def _back(target: Target, scenario: Scenario, samples, fault_at: float):
    """(time, node) the fault was over: the stack broken and whole again, or, where it may
    stay put (a fencing race), whole on a node that survived the fencing."""
    back = checks.recovered_at(samples, target.kinds, fault_at)
    if back or scenario.moves is not None or not samples:
        return back
    node = checks.holder(samples[-1], target.kinds)
    fenced = events.fenced(target.lab.nodes, fault_at) if node else {}
    return (max(fenced.values()), node) if fenced and node not in fenced else None


def _figures(target, scenario, result, workload_events, samples, mailbox, fault_at, accepted):
    lab = target.lab
    d = checks.delivery(accepted, mailbox)
    out = {"accepted": d.accepted, "delivered": d.delivered, "lost": len(d.lost),
           "lost_numbers": list(d.lost), "duplicates": d.duplicates,
           "downtime_s": {s: checks.downtime(workload_events, s, fault_at) if fault_at else None
                          for s in ("smtp", "imap")},
           "detect_s": None, "fence_s": None, "fenced": []}
    violations = result["violations"] + checks.split_brain(samples, fault_at or time.time())
    if fault_at:
        active = result.get("active_before")
        survivors = [n for n in lab.nodes if n.name != active]
        detected = events.detected_at(survivors if scenario.fence else lab.nodes,
                                      scenario.detect, fault_at)
        out["detect_s"] = round(detected - fault_at, 2) if detected else None
        fenced = _fenced(lab, fault_at, scenario.fence)
        out["fenced"] = sorted(fenced)
        if fenced:
            out["fence_s"] = round(min(fenced.values()) - fault_at, 2)
        violations += _expectations(scenario, result, fenced)
    out["violations"] = violations
    out["passed"] = bool(result["recovered"] and not violations and not d.lost
                         and out["downtime_s"]["smtp"] is not None)
    out["timeline"] = figure.timeline_data(samples, workload_events, fault_at,
                                           fence_at=min(fenced.values()) if fault_at and fenced
                                           else None,
                                           recover_at=(fault_at + result["recover_s"])
                                           if result.get("recover_s") is not None else None,
                                           nodes=[n.name for n in lab.nodes])
    return out


def _fenced(lab: Lab, fault_at: float, expected: str | None) -> dict[str, float]:
    """Fencing since the fault; waits a little for the logs when fencing is expected."""
    if not expected:
        return events.fenced(lab.nodes, fault_at)
    try:
        return cluster.wait_for(lambda: events.fenced(lab.nodes, fault_at), FENCE_WAIT_S,
                                "a completed fencing in the logs", interval=1.0)
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
