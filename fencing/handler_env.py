"""What DRBD tells a fence-peer / unfence-peer handler, read from its environment.

drbdadm runs handlers with the resource described in environment variables.
Read here, and nothing else:

========================  =====  =================================================
variable                  DRBD   meaning
========================  =====  =================================================
``DRBD_RESOURCE``         8.4/9  resource name (required)
``DRBD_MINOR``            8.4/9  device minor(s), space separated (informational)
``DRBD_VOLUME``           9      volume number (informational)
``DRBD_MY_NODE_ID``       9      this node's DRBD node id
``DRBD_PEER_NODE_ID``     9      node id of the peer whose connection was lost
``DRBD_NODE_ID_<n>``      9      host name of DRBD node id ``n``, for every node
``UP_TO_DATE_NODES``      9      hex bit mask of node ids whose disk is UpToDate
``DRBD_PEERS``            8.4    host names of the peers, space separated
``DRBD_PEER``             8.3    host name of the peer
========================  =====  =================================================

This node's name is ``DRBD_NODE_ID_<DRBD_MY_NODE_ID>`` when DRBD 9 gives it,
else the host name (``uname -n``), which is what Pacemaker calls the node.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

_NODE_ID_VAR = re.compile(r"DRBD_NODE_ID_(\d{1,2})")


class EnvError(ValueError):
    """The handler environment is missing something or holds garbage."""


@dataclass(frozen=True)
class HandlerEnv:
    resource: str
    me: str                               # this node's name
    peers: tuple[str, ...]                # every other DRBD node, by name
    up_to_date: frozenset[str] | None     # DRBD 9: nodes with an UpToDate disk; else None
    lost_peer: str | None = None          # DRBD 9: the peer of the connection that was lost
    minors: tuple[str, ...] = ()
    volume: str | None = None

    @property
    def allowed(self) -> tuple[str, ...]:
        """Nodes that may stay Promoted: the UpToDate ones (DRBD 9) or just this node."""
        if self.up_to_date is None:
            return (self.me,)
        return tuple(sorted(self.up_to_date))

    @property
    def excluded(self) -> tuple[str, ...]:
        return tuple(p for p in self.peers if p not in self.allowed)


def parse(environ: Mapping[str, str], hostname: str | None = None) -> HandlerEnv:
    """The handler environment of DRBD 9 or 8.4 (``hostname`` defaults to ``uname -n``)."""
    resource = environ.get("DRBD_RESOURCE", "").strip()
    if not resource:
        raise EnvError("DRBD_RESOURCE is not set (drbdadm sets it for its handlers)")
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", resource):
        raise EnvError(f"DRBD_RESOURCE={resource!r} is not a DRBD resource name")
    minors = tuple(environ.get("DRBD_MINOR", "").split())
    volume = environ.get("DRBD_VOLUME") or None
    names = _node_names(environ)
    if names or "DRBD_MY_NODE_ID" in environ:
        my_id = _node_id(environ, "DRBD_MY_NODE_ID")
        if my_id not in names:
            raise EnvError(f"DRBD_MY_NODE_ID={my_id} but DRBD_NODE_ID_{my_id} is not set")
        me = names[my_id]
        mask = _mask(environ.get("UP_TO_DATE_NODES"))
        up_to_date = None if mask is None else frozenset(
            name for node_id, name in names.items() if mask >> node_id & 1)
        lost = environ.get("DRBD_PEER_NODE_ID")
        lost_peer = names.get(_node_id(environ, "DRBD_PEER_NODE_ID")) if lost else None
        peers = tuple(name for node_id, name in sorted(names.items()) if node_id != my_id)
        return HandlerEnv(resource, me, peers, up_to_date, lost_peer, minors, volume)
    me = hostname or os.uname().nodename
    listed = environ.get("DRBD_PEERS") or environ.get("DRBD_PEER") or ""
    peers = tuple(p for p in listed.split() if p != me)
    return HandlerEnv(resource, me, peers, None, peers[0] if len(peers) == 1 else None,
                      minors, volume)


def _node_names(environ: Mapping[str, str]) -> dict[int, str]:
    names = {}
    for key, value in environ.items():
        match = _NODE_ID_VAR.fullmatch(key)
        if match and value.strip():
            names[int(match.group(1))] = value.strip()
    return names


def _node_id(environ: Mapping[str, str], key: str) -> int:
    value = environ.get(key, "").strip()
    if not re.fullmatch(r"\d{1,2}", value) or int(value) > 31:
        raise EnvError(f"{key}={value!r} is not a DRBD node id (0..31)")
    return int(value)


def _mask(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    if not re.fullmatch(r"0x[0-9a-fA-F]+", value.strip()):
        raise EnvError(f"UP_TO_DATE_NODES={value!r} is not a hex bit mask (0x...)")
    return int(value.strip(), 16)
