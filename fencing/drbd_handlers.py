"""DRBD's fence-peer and unfence-peer handlers, on Pacemaker's CIB.

``fence-peer`` (DRBD ``fencing resource-and-stonith``; called when this node
promotes, or loses a peer while Promoted) places one location constraint that
keeps the promotable clone from being Promoted anywhere but on the nodes whose
disk is known UpToDate, so an outdated peer cannot take over. ``unfence-peer``
(DRBD 9 ``unfence-peer``, DRBD 8.4 ``after-resync-target``) removes it again.

Exit codes of fence-peer, DRBD's contract (compare LINBIT's crm-fence-peer.9.sh):

====  ===================================================================  =========================
code  when                                                                 LINBIT's handler
====  ===================================================================  =========================
1     handler environment incomplete; CIB unreadable/unwritable after       same (generic error);
      retries; this node not UpToDate (DRBD 9 mask); no peer to exclude;    DRBD leaves IO frozen
      two_node peer lost and its fencing not confirmed (constraint not
      placed: IO stays frozen until someone fences)
3     never: the CIB does not show the peer's disk, so "already outdated"  never
      cannot be known here
4     constraint placed (or already there); every excluded peer is online  same
      in Pacemaker and its controller answers (only the replication link
      broke)
5     constraint placed; a peer is lost (offline, or shown online but      same (any quorum policy)
      silent past ``--peer-timeout``) and not confirmed fenced, but this
      partition has real quorum (not two_node), so the peer cannot promote
6     not placed: this node is not quorate / corosync is down, or an        1 (refuses, no quorum) /
      existing constraint already excludes this node (the peer fenced us    1 (rc 21)
      first): outdate yourself
7     constraint placed; every lost peer confirmed down: fenced by          same
      ``--stonith`` (stonith_admin) or Pacemaker shows it clean offline
====  ===================================================================  =========================

Quorum: corosync's (:mod:`pacemail.pacemaker.quorum`). With ``CIB_file`` set
(offline, like every Pacemaker tool) the file is the whole cluster: quorum
and node states come from it through crm_mon.

Every CIB change is one element (``--create``, element-scoped ``--replace``,
``--delete``), made under a node-wide lock, retried within a time bound;
a failure is logged to syslog and stderr and ends in exit code 1. The log is
the caller's (the command line passes the agents' syslog and stderr log): any
object with ``info``, ``warning`` and ``error`` does.
"""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Protocol

from pacemail.fencing import constraint, lock
from pacemail.fencing.guard import PacemakerView, pacemaker_view
from pacemail.fencing.constraint import Fence
from pacemail.fencing.handler_env import HandlerEnv
from pacemail.pacemaker import cib, nodes, quorum
from pacemail.pacemaker import fencing as stonith
from pacemail.pacemaker.quorum import Member, QuorumState
from pacemail.proc import CommandError

GENERIC, PEER_OUTDATED, PEER_UNREACHABLE, OUTDATE_YOURSELF, PEER_STONITHED = 1, 4, 5, 6, 7


class Log(Protocol):
    """Where a handler reports (the command line gives it the agents' syslog and stderr log)."""

    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


class HandlerError(Exception):
    """The handler could not do its job; the message says what and why."""


class Retry(HandlerError):
    """A transient conflict: another attempt may succeed."""


@dataclass(frozen=True)
class Options:
    clone: str | None = None            # promotable clone id; None: found by drbd_resource
    stonith: bool = False               # fence lost peers through Pacemaker before deciding
    stonith_action: str = "reboot"
    stonith_timeout: float = 90.0
    peer_timeout: float = 30.0          # for a lost peer to show as lost (corosync token + margin)
    cib_timeout: float = 60.0           # bound for all CIB attempts of one invocation
    lock_path: str = lock.DEFAULT_PATH


@dataclass(frozen=True)
class Verdict:
    code: int
    place: bool
    reason: str


def fence_peer(env: HandlerEnv, opts: Options, log: Log) -> int:
    log.info(f"fence-peer {env.resource}: I am {env.me}, peers {', '.join(env.peers) or 'none'}, "
             f"UpToDate {'unknown' if env.up_to_date is None else sorted(env.up_to_date)}")
    try:
        offline = bool(os.environ.get("CIB_file"))
        state = None if offline else quorum.read()
        if state is not None and not (state.running and state.quorate):
            return _refuse(judge(env, state, None, set()), log)
        view, silent = _settled_view(env, opts, log, offline)
        state = _file_quorum(view) if offline else quorum.read()  # after the wait: still quorate?
        if not (state.running and state.quorate):
            return _refuse(judge(env, state, None, set()), log)
        fenced = _stonith_lost_peers(env, view, silent, opts, log) if opts.stonith else set()
        verdict = judge(env, state, view, fenced, silent)
        if not verdict.place:
            return _refuse(verdict, log)
        with lock.held(opts.lock_path, opts.cib_timeout):
            outcome = _retried(lambda: _place(env, opts), "place the fencing constraint",
                               opts, log)
    except (HandlerError, lock.LockTimeout) as exc:
        log.error(f"fence-peer {env.resource} FAILED, constraint not placed: {exc}")
        return GENERIC
    cid = constraint.constraint_id(env.resource, outcome.clone)
    if outcome.rejects(env.me):
        log.warning(f"{cid} already keeps {env.me} from promoting (allows "
                    f"{', '.join(sorted(outcome.allowed))}): the peer fenced us first; "
                    "outdate ourselves")
        return OUTDATE_YOURSELF
    log.info(f"{verdict.reason}; constraint {cid} allows Promoted only on "
             f"{', '.join(sorted(outcome.allowed))}; exit {verdict.code}")
    return verdict.code


def _refuse(verdict: Verdict, log: Log) -> int:
    (log.error if verdict.code == GENERIC else log.warning)(verdict.reason)
    return verdict.code


def judge(env: HandlerEnv, state: QuorumState, view: PacemakerView | None,
          fenced: set[str], silent: set[str] = frozenset()) -> Verdict:
    """Which exit code, and whether to place the constraint (see the table above).

    ``fenced``: peers whose fence we saw confirmed; ``silent``: peers Pacemaker
    still shows online that did not answer (their loss not noticed yet).
    """
    if not state.running or not state.quorate:
        return Verdict(OUTDATE_YOURSELF, False, f"not placing the constraint: {state.summary()}")
    if env.me not in env.allowed:
        return Verdict(GENERIC, False, f"{env.me} is not UpToDate itself (UP_TO_DATE_NODES); "
                                       "not placing the constraint")
    if not env.excluded:
        return Verdict(GENERIC, False, "every peer is UpToDate: nothing to fence")
    online = [p for p in env.excluded
              if p in view.nodes and view.nodes[p].online and p not in silent]
    down = [p for p in env.excluded if p in fenced or p in view.nodes and view.nodes[p].down]
    lost = [p for p in env.excluded if p not in online and p not in down]
    if lost and state.two_node:
        return Verdict(GENERIC, False, f"two_node cluster and peer {', '.join(lost)} lost without "
                                       "confirmed fencing: not placing the constraint, IO stays "
                                       "frozen until a fence succeeds")
    if lost:
        return Verdict(PEER_UNREACHABLE, True,
                       f"peer {', '.join(lost)} unreachable, not confirmed fenced; "
                       f"this partition has quorum")
    if down:
        return Verdict(PEER_STONITHED, True, f"peer {', '.join(down)} confirmed down")
    return Verdict(PEER_OUTDATED, True, f"peer {', '.join(online)} online in the cluster")


def unfence_peer(env: HandlerEnv, opts: Options, log: Log) -> int:
    try:
        with lock.held(opts.lock_path, opts.cib_timeout):
            removed = _retried(lambda: _remove(env.resource, opts), "remove the fencing constraint",
                               opts, log)
    except (HandlerError, lock.LockTimeout) as exc:
        log.error(f"unfence-peer {env.resource} FAILED, the fencing constraint may still keep "
                  f"the peer from promoting: {exc}")
        return GENERIC
    log.info(f"removed {removed}" if removed else
             f"no fencing constraint for {env.resource}: nothing to do")
    return 0


def _settled_view(env: HandlerEnv, opts: Options, log: Log,
                  offline: bool) -> tuple[PacemakerView, set[str]]:
    """Pacemaker's view once every excluded peer it shows online answers, or has left it.

    DRBD notices a broken link before corosync does: right after a split the
    lost peer still looks online. Each such peer must answer ``crmadmin``
    through the cluster; until then poll, and after ``opts.peer_timeout``
    the ones still silent count as lost (returned). Offline: the file is the truth.
    """
    deadline = time.monotonic() + opts.peer_timeout
    while True:
        view = _retried(_cluster_view, "read the cluster state (crm_mon)", opts, log)
        shown = [p for p in env.excluded if p in view.nodes and view.nodes[p].online]
        if offline or not shown:
            return view, set()
        left = deadline - time.monotonic()
        silent = {p for p in shown
                  if not nodes.controller_reachable(p, timeout=max(1.0, min(5.0, left)))}
        if not silent:
            return view, set()
        if time.monotonic() >= deadline:
            log.warning(f"peer {', '.join(sorted(silent))} shown online but silent for "
                        f"{opts.peer_timeout:.0f}s: counting it as lost")
            return view, silent
        log.info(f"peer {', '.join(sorted(silent))} shown online but not answering: "
                 "waiting for the membership to settle")
        time.sleep(1.0)


def _cluster_view() -> PacemakerView:
    view = pacemaker_view()
    if not view.nodes:  # crm_mon "succeeds" on an unreadable CIB file, showing nothing
        raise Retry("crm_mon shows no cluster nodes: the CIB is unreadable")
    return view


def _file_quorum(view: PacemakerView) -> QuorumState:
    """Offline (``CIB_file``): the quorum the file records, its online nodes as members."""
    members = tuple(Member(0, name, 1, False) for name, n in view.nodes.items() if n.online)
    return QuorumState(running=True, quorate=view.quorate, members=members,
                       total_votes=len(members), expected_votes=len(view.nodes))


def _stonith_lost_peers(env: HandlerEnv, view: PacemakerView, silent: set[str],
                        opts: Options, log: Log) -> set[str]:
    """Ask Pacemaker to fence each excluded peer that is lost; the confirmed ones."""
    fenced = set()
    for peer in env.excluded:
        node = view.nodes.get(peer)
        if node is not None and peer not in silent and (node.online or node.down):
            continue
        log.warning(f"asking Pacemaker to {opts.stonith_action} lost peer {peer}")
        try:
            stonith.fence(peer, action=opts.stonith_action, timeout=opts.stonith_timeout)
        except CommandError as exc:
            log.error(f"fencing {peer} not confirmed: {exc}")
            continue
        log.warning(f"peer {peer} fenced ({opts.stonith_action}), confirmed by the fencer")
        fenced.add(peer)
    return fenced


def _place(env: HandlerEnv, opts: Options) -> Fence:
    """Create the constraint, or restrict an existing one further; the fence now in the CIB."""
    clone = _clone(env.resource, opts)
    wanted = Fence(env.resource, clone, frozenset(env.allowed))
    path = constraint.xpath(env.resource, clone)
    existing = cib.element(path, timeout=_step(opts))
    if existing is None:
        if cib.create("constraints", wanted.xml(), timeout=_step(opts)):
            return wanted
        raise Retry(f"{path} was created by someone else meanwhile")
    have = constraint.parse(env.resource, existing.decode("utf-8", "surrogateescape"))
    if have is None:
        raise HandlerError(f"{path} exists but is not a fencing constraint; leaving it alone")
    if have.rejects(env.me) or have.allowed == wanted.allowed:
        return have
    narrower = Fence(env.resource, clone, have.allowed & wanted.allowed)  # keeps env.me
    cib.replace(path, narrower.xml(), timeout=_step(opts))
    return narrower


def _remove(resource: str, opts: Options) -> str | None:
    """Delete the constraint, check it is gone; its id, or None when there was none."""
    clone = _clone(resource, opts)
    path = constraint.xpath(resource, clone)
    if cib.element(path, timeout=_step(opts)) is None:
        return None
    cib.delete(path, timeout=_step(opts))
    if cib.element(path, timeout=_step(opts)) is not None:
        raise Retry(f"{path} still in the CIB after cibadmin --delete")
    return constraint.constraint_id(resource, clone)


def _clone(resource: str, opts: Options) -> str:
    """``--clone``, or the promotable clone whose primitive has ``drbd_resource=resource``."""
    if opts.clone:
        return opts.clone
    found = cib.element(
        "/cib/configuration/resources/*[self::clone or self::master]"
        f"[primitive/instance_attributes/nvpair[@name='drbd_resource' and @value='{resource}']]",
        timeout=_step(opts))
    if found is None:
        raise HandlerError(f"no promotable clone in the CIB runs DRBD resource {resource} "
                           "(name it with --clone)")
    root = ET.fromstring(found)
    element = root if root.tag in ("clone", "master") else root.find("*")
    return element.get("id")


def _retried(action, what: str, opts: Options, log: Log):
    """``action()`` until it succeeds, at most 5 attempts within ``opts.cib_timeout``."""
    deadline = time.monotonic() + opts.cib_timeout
    delay, attempts = 0.5, 5
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (CommandError, Retry, SyntaxError) as exc:   # SyntaxError: unreadable XML
            last = exc
            left = deadline - time.monotonic()
            log.warning(f"attempt {attempt}/{attempts} to {what} failed: {exc}")
            if attempt == attempts or left <= delay:
                break
            time.sleep(delay)
            delay *= 2
    raise HandlerError(f"could not {what} after {attempt} attempts: {last}")


def _step(opts: Options) -> float:
    return min(30.0, opts.cib_timeout)
