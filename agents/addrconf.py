"""Adding and removing addresses, and setting a link up: the start/stop adapter of ocf:pacemail:vip.

Raw rtnetlink requests through :mod:`pacemail.agents.rtnl`, stdlib only: a
start is on every failover's critical path, and pyroute2 (which this module
used) cost ~210 ms to import, half of a VIP's start. Building the messages is
pure (:func:`new_address`, :func:`del_address`, :func:`link_up`);
:func:`rtnl.request` is the one socket call, and the kernel's answer (an
errno) comes back as OSError.
"""

from __future__ import annotations

import _socket
import struct

from pacemail.agents import rtnl

FOREVER = 0xFFFFFFFF
RTM_NEWLINK, RTM_DELADDR = 16, 21
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
IFA_CACHEINFO = 6
IFF_UP = 0x1
IFINFOMSG = struct.Struct("=BxHiII")
CACHEINFO = struct.Struct("=IIII")


def _attr(kind: int, value: bytes) -> bytes:
    length = rtnl.RTATTR.size + len(value)
    return rtnl.RTATTR.pack(length, kind) + value + b"\0" * (-length % 4)


def _packed(address: str) -> tuple[int, bytes]:
    family = _socket.AF_INET6 if ":" in address else _socket.AF_INET
    return family, _socket.inet_pton(family, address)


def new_address(ifindex: int, address: str, prefixlen: int, *, broadcast: str | None = None,
                label: str | None = None, flags: int = 0,
                preferred_lft: int | None = None) -> bytes:
    """The RTM_NEWADDR body adding ``address``/``prefixlen`` on ``ifindex``."""
    family, packed = _packed(address)
    body = rtnl.IFADDRMSG.pack(family, prefixlen, flags & 0xFF, 0, ifindex)
    body += _attr(rtnl.IFA_LOCAL, packed) + _attr(rtnl.IFA_ADDRESS, packed)
    if broadcast:
        body += _attr(rtnl.IFA_BROADCAST, _packed(broadcast)[1])
    if label:
        body += _attr(rtnl.IFA_LABEL, label.encode() + b"\0")
    if flags > 0xFF:
        body += _attr(rtnl.IFA_FLAGS, struct.pack("=I", flags))
    if preferred_lft is not None:
        body += _attr(IFA_CACHEINFO, CACHEINFO.pack(preferred_lft, FOREVER, 0, 0))
    return body


def del_address(ifindex: int, address: str, prefixlen: int) -> bytes:
    family, packed = _packed(address)
    return (rtnl.IFADDRMSG.pack(family, prefixlen, 0, 0, ifindex)
            + _attr(rtnl.IFA_LOCAL, packed) + _attr(rtnl.IFA_ADDRESS, packed))


def link_up(ifindex: int) -> bytes:
    return IFINFOMSG.pack(_socket.AF_UNSPEC, 0, ifindex, IFF_UP, IFF_UP)


def add(ifindex: int, address: str, prefixlen: int, **options) -> None:
    """Add the address (see :func:`new_address`); OSError(EEXIST) when it is there already."""
    rtnl.request(rtnl.RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
                 new_address(ifindex, address, prefixlen, **options))


def remove(ifindex: int, address: str, prefixlen: int) -> None:
    rtnl.request(RTM_DELADDR, 0, del_address(ifindex, address, prefixlen))


def set_up(ifindex: int) -> None:
    rtnl.request(RTM_NEWLINK, 0, link_up(ifindex))
