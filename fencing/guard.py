"""The quorum guard: may this node promote DRBD or mount the mail volume now?

Two nodes writing one store after a split lose mail, and two nodes cannot
vote their way out of a split (each half is one vote of two). So:

* no promotion or mount in a partition without quorum (or without corosync);
* with votequorum ``two_node`` both halves of a split stay "quorate", so there
  every configured node that is not a member must be confirmed down by
  Pacemaker (see :func:`pacemaker_view`), reported with its last successful
  fence from the fencing history.

The agents log the reason of a refusal. Importing this module costs only the
standard library, :mod:`pacemail.proc` and corosync's reader
(:mod:`pacemail.pacemaker.quorum`); the Pacemaker view (crm_mon's XML, read
with lxml) is read only when a two_node peer is missing.

Agents import this module (the DRBD agent asks it before a promotion), so
pacemail.fencing never imports pacemail.agents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pacemail.pacemaker import quorum as quorum_mod
from pacemail.pacemaker.quorum import QuorumState
from pacemail.proc import CommandError

TIMEOUT = 10.0


@dataclass(frozen=True)
class PeerState:
    """Pacemaker's word on one node."""

    online: bool
    down: bool                  # offline, and Pacemaker needs no fence of it (fenced or left)
    last_fenced: str | None     # completion time of its last successful fence


@dataclass(frozen=True)
class PacemakerView:
    quorate: bool
    dc: str | None
    stonith_enabled: bool
    nodes: Mapping[str, PeerState]


def may_take_over(timeout: float = TIMEOUT) -> tuple[bool, str]:
    """Read corosync (and Pacemaker, for a missing two_node peer) and decide."""
    state = quorum_mod.read(timeout=timeout)
    if not (state.running and state.quorate and state.two_node):
        return decide(state, {})
    try:
        configured = quorum_mod.configured_nodes(timeout=timeout)
    except CommandError as exc:
        return False, f"refused: two_node cluster, cannot read corosync's nodelist: {exc}"
    missing = sorted(set(configured.values()) - set(state.member_names))
    if not missing:
        return decide(state, {})
    try:
        view = pacemaker_view(timeout)
    except CommandError as exc:
        return False, (f"refused: two_node peer {', '.join(missing)} missing and Pacemaker "
                       f"unreadable: {exc}")
    return decide(state, {peer: view.nodes.get(peer) for peer in missing})


def decide(state: QuorumState, missing: Mapping[str, PeerState | None]) -> tuple[bool, str]:
    """The rule itself: ``missing`` holds Pacemaker's word on absent two_node peers."""
    if not state.running:
        return False, f"refused: {state.summary()}"
    if not state.quorate:
        return False, f"refused: this partition is {state.summary()}"
    if not state.two_node or not missing:
        return True, f"allowed: {state.summary()}"
    for peer, down in sorted(missing.items()):
        if down is None or not down.down:
            return False, (f"refused: two_node cluster and peer {peer} is not a member and not "
                           "confirmed fenced (Pacemaker: no DC, STONITH off, or unclean)")
    how = "; ".join(f"{p} fenced at {d.last_fenced}" if d.last_fenced else f"{p} stopped cleanly"
                    for p, d in sorted(missing.items()))
    return True, f"allowed: two_node cluster, peer down and confirmed: {how}"


def pacemaker_view(timeout: float = TIMEOUT) -> PacemakerView:
    """crm_mon's nodes, quorum and fencing history (raises CommandError without Pacemaker).

    A node is ``down`` only when Pacemaker, with STONITH enabled and a DC,
    shows it offline and not unclean: it marks a lost node unclean until a
    fence of it succeeds, so this means fenced after its loss, or shut down
    cleanly. Without STONITH nothing is ever confirmed.
    """
    from pacemail.pacemaker import status  # lxml: not on the agents' common path

    view = status.read(timeout=timeout)
    stonith = view.stonith_enabled
    nodes = {}
    for node in view.nodes:
        fenced = [e.when for e in view.fencing if e.target == node.name and e.status == "success"]
        down = bool(stonith and view.dc and not node.online and not node.unclean)
        nodes[node.name] = PeerState(node.online, down, max(fenced) if fenced else None)
    return PacemakerView(view.quorate, view.dc, stonith, nodes)


