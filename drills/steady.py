"""The steady drill: the drill's mail workload for minutes with no fault, and nothing may happen.

A shorter corosync token detects a dead node sooner, and declares a node that
is merely slow dead too: it is fenced, and the mail stack moves for nothing.
This drill is the proof that the token in effect does not: on a lab already up
with the stack settled on one node (as ``drill run`` waits for it), the
client sends mail over SMTP and reads it over IMAP for the whole window while
the invariant sampler watches who holds what. It fails on any fencing, any
corosync membership change, a failed resource operation or fencing decision
in the Pacemaker logs, any move or break of the stack, two holders of one
part, or a message accepted and never delivered. It restores nothing it did
not break: after a fencing the fenced node is powered on again, as after a
drill.

:func:`run` is the edge (sampler, workload, logs); :func:`verdict` turns what
it observed into the report's figures and violations (pure).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pacemail.drills import checks, client, engine, events
from pacemail.drills.labtarget import LabTarget
from pacemail.drills.sampler import Sample
from pacemail.lab import cluster, power
from pacemail.lab.nodes import NodeDown, node_runner
from pacemail.lab.topology import Lab
from pacemail.pacemaker import totem
from pacemail.proc import CommandError

PROGRESS_S = 30.0
BACKSTOP_S = 60.0     # the workload stops itself this long after the window, if never told
NO_CAP = 10**9        # messages: the window's end stops the sender, not a count


@dataclass(frozen=True)
class Observed:
    """What a steady window saw, from the sampler, the client and the nodes' logs."""
    started: float
    ended: float
    samples: Sequence[Sample]
    client: Sequence[dict]                  # the workload's events
    delivery: checks.Delivery | None        # None: the inbox could not be read
    fenced: dict[str, float]                # node -> when its fencing completed
    membership: Sequence[str]               # corosync membership events, "node: message"
    token_late_ms: Sequence[int]
    failed_ops: Sequence[str]               # events.TROUBLE lines, "node: message"
    silent: Sequence[str] = ()              # nodes whose corosync log holds no line at all
    problems: Sequence[str] = ()            # what stopped the window early, or the inbox read


def corosync_timing(lab: Lab) -> totem.Totem:
    """corosync's timing in effect, read from the first powered-on node of ``lab``."""
    up = [n.name for n in lab.nodes if power.is_on(lab, n)]
    if not up:
        return totem.Totem(error="every node is powered off")
    try:
        return totem.read(run=node_runner(lab.name, up[0]))
    except NodeDown as exc:
        return totem.Totem(error=str(exc))


def run(t: LabTarget, minutes: float, say=lambda m: None) -> dict:
    """Settle, then ``minutes`` of workload with no fault; the report's figures (:func:`verdict`)
    with the corosync timing in effect and the machine's load at the start and the end."""
    tmo, window = t.timeouts, minutes * 60
    sampler = t.sampler()
    workload, problems, out = None, [], {"minutes": minutes}
    started = time.time()
    try:
        say("waiting for the stack on one node, settled and redundant")
        cluster.wait_for(lambda: sampler.samples and checks.holder(sampler.samples[-1], t.kinds),
                         tmo.steady, "the mail stack whole on one node", tmo.poll)
        settling = time.time()
        t.wait_redundant(tmo.steady)
        active = cluster.wait_for(lambda: engine.settled(sampler.samples, t.kinds), tmo.steady,
                                  f"the mail stack on one node for {engine.STABLE_S:.0f}s",
                                  tmo.poll)
        timing = corosync_timing(t.lab)
        out.update(active=active, settle_s=round(time.time() - settling, 1),
                   corosync=timing.summary(), totem=timing.as_dict(), load_start=os.getloadavg())
        say(f"settled on {active} after {out['settle_s']}s; corosync: {timing.summary()}; "
            f"{minutes:g} min of mail, no fault")
        started = time.time()
        run_id = uuid.uuid4().hex[:12]
        workload = client.Workload(t.client_netns, t.stack.address, run_id,
                                   **{"messages": NO_CAP, **t.workload_options,
                                      "duration": window + BACKSTOP_S})
        cluster.wait_for(lambda: workload.answered_since("smtp", started) and
                         workload.answered_since("imap", started), tmo.answering,
                         "SMTP and IMAP answering", tmo.poll)
        _watch(t, sampler, workload, started, window, say)
    except TimeoutError as exc:
        problems.append(str(exc))
    except KeyboardInterrupt:
        problems.append(f"interrupted after {(time.time() - started) / 60:.1f} of {minutes:g} min")
    finally:
        with engine.sigint_held():
            ended = time.time()
            client_events = workload.stop() if workload else []
            samples = sampler.stop()
    out["load_end"] = os.getloadavg()
    delivery = None
    if workload:
        say("reading the inbox")
        accepted = checks.accepted(client_events)
        try:
            delivery = checks.delivery(accepted, client.settle_mailbox(
                t.client_netns, t.stack.address, run_id, accepted, wait_s=tmo.settle))
        except CommandError as exc:
            problems.append(f"the inbox could not be read: {exc}")
    seen = _logs(t, started)
    if seen["fenced"]:
        for action in t.restore():
            say(f"restore: {action}")
    out.update(verdict(Observed(started, ended, samples, client_events, delivery,
                                problems=problems, **seen), t.kinds))
    say(f"done: {'PASS' if out['passed'] else 'FAIL'}")
    return out


def _watch(t: LabTarget, sampler, workload, started: float, window: float, say) -> None:
    """Wait out the window, saying how it goes every PROGRESS_S."""
    end = started + window
    while (now := time.time()) < end:
        time.sleep(min(PROGRESS_S - (now - started) % PROGRESS_S, end - now))
        seen = _logs(t, started)
        holder = checks.holder(sampler.samples[-1], t.kinds) if sampler.samples else None
        where = f"on {holder}" if holder else "NOT whole on one node"
        failed = {s: sum(1 for e in list(workload.events) if e["ev"] == s and not e["ok"])
                  for s in ("smtp", "imap")}
        say(f"[{time.time() - started:5.0f}s of {window:.0f}s] stack {where} | accepted "
            f"{workload.accepted()}, failed smtp {failed['smtp']} imap {failed['imap']} | "
            f"fenced {len(seen['fenced'])} | membership changes "
            f"{events.membership_changes(seen['membership'])} | failed ops "
            f"{len(seen['failed_ops'])} | load {os.getloadavg()[0]:.2f}")


def _logs(t: LabTarget, since: float) -> dict:
    """What the nodes' logs say since ``since``: fencings, membership changes, late tokens,
    failed operations, and the nodes whose corosync log is empty (changes unseen there)."""
    corosync = events.log_lines(t.lab.nodes, events.COROSYNC_LOG)
    return {"fenced": t.fenced(since),
            "membership": events.corosync_events(corosync, since),
            "token_late_ms": events.token_late_ms(corosync, since),
            "failed_ops": events.decisions(events.log_lines(t.lab.nodes), since, limit=50,
                                           pattern=events.TROUBLE),
            "silent": [node for node, lines in corosync.items() if not lines]}


def verdict(o: Observed, kinds: Sequence[str]) -> dict:
    """The figures of a steady window and what broke the steadiness (pure)."""
    window = [s for s in o.samples if o.started <= s.t <= o.ended]
    d = o.delivery
    moves = [f"the stack moved from {a} to {b} at +{t - o.started:.1f}s"
             for t, a, b in checks.moves(window, kinds)]
    breaks = not_whole(window, kinds, o.started)
    changes = events.membership_changes(o.membership)
    violations = list(o.problems)
    violations += [f"{node} was fenced at +{t - o.started:.1f}s" for node, t in sorted(
        o.fenced.items(), key=lambda item: item[1])]
    violations += [f"corosync logged no line on {node}: its membership changes are unseen"
                   for node in o.silent]
    violations += [f"corosync membership changed {changes} time(s)"] if changes else []
    violations += [f"failed operation or fencing decision: {line}" for line in o.failed_ops]
    violations += moves + breaks + checks.split_brain(window, o.started)
    if d is not None and d.lost:
        violations.append(f"{len(d.lost)} accepted message(s) never delivered")
    if d is not None and not d.accepted:
        violations.append("no message was accepted")
    return {
        "window_s": round(o.ended - o.started, 1),
        "accepted": d.accepted if d else None, "delivered": d.delivered if d else None,
        "lost": len(d.lost) if d else None, "lost_numbers": list(d.lost) if d else [],
        "duplicates": d.duplicates if d else None,
        "client_failures": {s: sum(1 for e in o.client if e["ev"] == s and not e["ok"])
                            for s in ("smtp", "imap")},
        "fences": len(o.fenced), "fenced": {n: round(t - o.started, 1)
                                             for n, t in o.fenced.items()},
        "membership_changes": changes, "membership_log": list(o.membership),
        "token_late": len(o.token_late_ms), "token_late_max_ms": max(o.token_late_ms, default=None),
        "failed_ops": list(o.failed_ops), "moves": moves, "breaks": breaks,
        "samples": len(window), "sample_gap_max_s": _longest_gap(window),
        "violations": violations,
        "passed": not violations and d is not None,
    }


def not_whole(samples: Sequence[Sample], kinds: Sequence[str], t0: float) -> list[str]:
    """One line per stretch of samples in which the stack was not whole on one node, with
    where each part was when the stretch began."""
    out, start = [], None
    for s in list(samples) + [None]:
        whole = s is None or checks.holder(s, kinds) is not None
        if not whole and start is None:
            start = s
        elif whole and start is not None:
            end = "the end" if s is None else f"+{s.t - t0:.1f}s"
            held = ", ".join(f"{k} on {'+'.join(start.holders.get(k, ())) or 'no node'}"
                             for k in kinds)
            out.append(f"the stack not whole on one node from +{start.t - t0:.1f}s to {end} "
                       f"({held})")
            start = None
    return out


def _longest_gap(samples: Sequence[Sample]) -> float | None:
    """The longest time between two samples: how long the sampler may have seen nothing."""
    gaps = [b.t - a.t for a, b in zip(samples, samples[1:])]
    return round(max(gaps), 2) if gaps else None
