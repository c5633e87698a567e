"""Reading addresses and routes from the kernel with one rtnetlink dump, stdlib only.

A monitor runs every few seconds: importing pyroute2 costs ~190 ms, a raw
``AF_NETLINK`` socket and ``struct`` cost nothing measurable. The socket is
the C module ``_socket`` itself: ``socket.py`` around it builds enum classes
on import, 5-10 ms of a monitor that otherwise takes 20. Parsing is pure
(bytes in, tuples out); :func:`dump` (reads) and :func:`request` (the changes
:mod:`pacemail.agents.addrconf` builds) are the socket adapters.
"""

from __future__ import annotations

import os
import _socket
import struct

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RTM_NEWADDR, RTM_GETADDR = 20, 22
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 3, 4, 8
IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 7, 9, 15
RT_TABLE_MAIN, RTN_UNICAST = 254, 1
NLMSG = struct.Struct("=IHHII")
RTATTR = struct.Struct("=HH")
IFADDRMSG = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")
TIMEOUT_S = 2.0


class Address:
    """One address on an interface: ``flags`` include the 32-bit IFA_FLAGS;
    ``broadcast`` is packed, or None (IPv6, or an IPv4 address without one)."""

    __slots__ = ("family", "address", "prefixlen", "ifindex", "flags", "label", "broadcast")

    def __init__(self, family, address, prefixlen, ifindex, flags, label, broadcast=None):
        self.family, self.address, self.prefixlen = family, address, prefixlen
        self.ifindex, self.flags, self.label = ifindex, flags, label
        self.broadcast = broadcast

    @property
    def tentative(self) -> bool:
        return bool(self.flags & IFA_F_TENTATIVE)

    @property
    def dadfailed(self) -> bool:
        return bool(self.flags & IFA_F_DADFAILED)


class Route:
    """A connected (on-link, gateway-less) prefix route of the main table; ``prefsrc``
    (packed, or None) is the address of this node the kernel made it for."""

    __slots__ = ("family", "network", "prefixlen", "ifindex", "prefsrc")

    def __init__(self, family, network, prefixlen, ifindex, prefsrc=None):
        self.family, self.network, self.prefixlen, self.ifindex = family, network, prefixlen, ifindex
        self.prefsrc = prefsrc


def messages(data: bytes):
    """(type, payload) of each netlink message in ``data``; OSError for an error message."""
    offset = 0
    while offset + NLMSG.size <= len(data):
        length, kind, _flags, _seq, _pid = NLMSG.unpack_from(data, offset)
        if length < NLMSG.size:
            break
        payload = data[offset + NLMSG.size:offset + length]
        if kind == NLMSG_ERROR:
            errno = -struct.unpack_from("=i", payload)[0]
            if errno:
                raise OSError(errno, f"rtnetlink: {os.strerror(errno)}")
        yield kind, payload
        offset += (length + 3) & ~3


def attributes(data: bytes, offset: int) -> dict[int, bytes]:
    """The rtattr type -> value map starting at ``offset`` (nested attributes left raw)."""
    found = {}
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size:
            break
        found[kind & 0x3FFF] = data[offset + RTATTR.size:offset + length]
        offset += (length + 3) & ~3
    return found


def parse_address(payload: bytes) -> Address:
    family, prefixlen, flags, _scope, ifindex = IFADDRMSG.unpack_from(payload)
    attrs = attributes(payload, IFADDRMSG.size)
    if IFA_FLAGS in attrs:
        flags = struct.unpack("=I", attrs[IFA_FLAGS])[0]
    label = attrs.get(IFA_LABEL, b"").rstrip(b"\0").decode("utf-8", "replace")
    return Address(family, attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS, b""), prefixlen,
                   ifindex, flags, label, attrs.get(IFA_BROADCAST))


def parse_route(payload: bytes) -> Route | None:
    """The route if it is a connected prefix route of the main table, else None."""
    family, dst_len, _src, _tos, table, _proto, _scope, kind, _flags = RTMSG.unpack_from(payload)
    attrs = attributes(payload, RTMSG.size)
    if RTA_TABLE in attrs:
        table = struct.unpack("=I", attrs[RTA_TABLE])[0]
    if (table != RT_TABLE_MAIN or kind != RTN_UNICAST or dst_len == 0 or RTA_OIF not in attrs
            or RTA_GATEWAY in attrs or RTA_MULTIPATH in attrs):
        return None
    size = 4 if family == _socket.AF_INET else 16
    return Route(family, attrs.get(RTA_DST, bytes(size)), dst_len,
                 struct.unpack("=i", attrs[RTA_OIF])[0], attrs.get(RTA_PREFSRC))


def dump(request_type: int, reply_type: int, body: bytes) -> list[bytes]:
    """Payloads of every ``reply_type`` message the kernel sends for one dump request."""
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        sock.settimeout(TIMEOUT_S)
        sock.bind((0, 0))
        sock.send(NLMSG.pack(NLMSG.size + len(body), request_type, NLM_F_REQUEST | NLM_F_DUMP,
                             1, 0) + body)
        found = []
        while True:
            for kind, payload in messages(sock.recv(1 << 16)):
                if kind == NLMSG_DONE:
                    return found
                if kind == reply_type:
                    found.append(payload)
    finally:
        sock.close()


def request(kind: int, flags: int, body: bytes) -> None:
    """Send one change request and wait for the kernel's acknowledgement; OSError when it refuses."""
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        sock.settimeout(TIMEOUT_S)
        sock.bind((0, 0))
        sock.send(NLMSG.pack(NLMSG.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, 1, 0)
                  + body)
        while True:
            for reply, _ in messages(sock.recv(1 << 16)):   # an error reply raises here
                if reply == NLMSG_ERROR:
                    return
    finally:
        sock.close()


def addresses(family: int) -> list[Address]:
    return [parse_address(p) for p in dump(RTM_GETADDR, RTM_NEWADDR,
                                           IFADDRMSG.pack(family, 0, 0, 0, 0))]


def connected_routes(family: int) -> list[Route]:
    routes = (parse_route(p) for p in dump(RTM_GETROUTE, RTM_NEWROUTE,
                                           RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)))
    return [r for r in routes if r is not None and r.family == family]


def covers(network: bytes, prefixlen: int, address: bytes) -> bool:
    """Whether ``network``/``prefixlen`` contains ``address`` (same family, packed)."""
    bits = len(address) * 8
    mask = ((1 << bits) - 1) ^ ((1 << (bits - prefixlen)) - 1)
    return int.from_bytes(network, "big") & mask == int.from_bytes(address, "big") & mask
