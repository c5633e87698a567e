"""Raw-socket ARP and neighbour discovery: announcing an address, and asking who else has it.

Frames are built and read by pure functions; the senders are thin socket
adapters. IPv4 uses ARP on an ``AF_PACKET`` socket (RFC 5227 probes and
gratuitous ARP requests, which neighbours with an entry for the address
update even with arp_accept=0); IPv6 sends unsolicited neighbour
advertisements (RFC 4861 7.2.6) on a raw ICMPv6 socket, whose checksum the
kernel fills in.
"""

from __future__ import annotations

import socket
import struct
import time

ETH_P_ARP = 0x0806
ARP_REQUEST, ARP_REPLY = 1, 2
BROADCAST = b"\xff" * 6
ZERO_MAC, ZERO_IP = b"\0" * 6, b"\0" * 4
ETHER = struct.Struct("!6s6sH")
ARP = struct.Struct("!HHBBH6s4s6s4s")
PACKET_OUTGOING = 4
ALL_NODES = "ff02::1"
ND_NEIGHBOR_ADVERT = 136
NA_OVERRIDE = 0x20000000
ND_OPT_TARGET_LLADDR = 2
# Probe timing. RFC 5227 spaces probes 1-2 s apart for hosts joining a
# network; a failover cannot wait that long, and a LAN answers in well under
# a millisecond (the kernel answers ARP in softirq, even on a loaded host), so
# three probes 25 ms apart and 50 ms of listening after the last (50 times a
# loaded LAN's answer) bound the check to 0.1 s: it is part of every
# failover's downtime.
PROBES, PROBE_SPACING_S, PROBE_LISTEN_S = 3, 0.025, 0.05


def arp_frame(op: int, sender_mac: bytes, sender_ip: bytes, target_ip: bytes) -> bytes:
    """A broadcast ARP frame (the target hardware address is left zero)."""
    return (ETHER.pack(BROADCAST, sender_mac, ETH_P_ARP)
            + ARP.pack(1, 0x0800, 6, 4, op, sender_mac, sender_ip, ZERO_MAC, target_ip))


def gratuitous_arp(mac: bytes, ip: bytes) -> bytes:
    return arp_frame(ARP_REQUEST, mac, ip, ip)


def arp_probe(mac: bytes, ip: bytes) -> bytes:
    """RFC 5227 probe: sender address 0.0.0.0, so no neighbour learns anything from it."""
    return arp_frame(ARP_REQUEST, mac, ZERO_IP, ip)


def claimant(frame: bytes, mac: bytes, ip: bytes) -> bytes | None:
    """The MAC of another host this ARP frame shows using or probing for ``ip``, else None.

    RFC 5227 2.1.1: any ARP packet whose sender address is ``ip``, or a probe
    for ``ip`` from another interface, means a conflict.
    """
    if len(frame) < ETHER.size + ARP.size:
        return None
    _dst, _src, kind = ETHER.unpack_from(frame)
    if kind != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = ARP.unpack_from(frame, ETHER.size)
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4) or sha == mac:
        return None
    if spa == ip or (op == ARP_REQUEST and spa == ZERO_IP and tpa == ip):
        return sha
    return None


def unsolicited_na(mac: bytes, ip6: bytes) -> bytes:
    """ICMPv6 neighbour advertisement for ``ip6`` with the Override flag (checksum left to the kernel)."""
    return (struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, NA_OVERRIDE) + ip6
            + struct.pack("!BB", ND_OPT_TARGET_LLADDR, 1) + mac)


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _arp_socket(nic: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.bind((nic, ETH_P_ARP))
    return sock


def send_frames(nic: str, frames) -> None:
    with _arp_socket(nic) as sock:
        for frame in frames:
            sock.send(frame)


def send_na(nic: str, mac: bytes, ip6: bytes) -> None:
    """One unsolicited NA from ``ip6`` (which must not be tentative) to all nodes on ``nic``."""
    index = socket.if_nametoindex(nic)
    text = socket.inet_ntop(socket.AF_INET6, ip6)
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.bind((text, 0, 0, index))
        sock.sendto(unsolicited_na(mac, ip6), (ALL_NODES, 0, 0, index))


def announce(nic: str, mac: bytes, family: int, ip: bytes) -> None:
    """One gratuitous ARP (IPv4) or unsolicited NA (IPv6) for ``ip`` on ``nic``."""
    if family == socket.AF_INET:
        send_frames(nic, [gratuitous_arp(mac, ip)])
    else:
        send_na(nic, mac, ip)


def arp_claimant(nic: str, mac: bytes, ip: bytes, clock=time.monotonic) -> bytes | None:
    """Probe ``nic`` for another host using ``ip``; its MAC, or None after 0.1 s of silence."""
    with _arp_socket(nic) as sock:
        start = clock()
        sent = 0
        end = start + (PROBES - 1) * PROBE_SPACING_S + PROBE_LISTEN_S
        while True:
            now = clock()
            if sent < PROBES and now >= start + sent * PROBE_SPACING_S:
                sock.send(arp_probe(mac, ip))
                sent += 1
                continue
            if now >= end:
                return None
            due = start + sent * PROBE_SPACING_S if sent < PROBES else end
            sock.settimeout(max(0.001, due - now))
            try:
                frame, where = sock.recvfrom(2048)
            except TimeoutError:
                continue
            if where[2] != PACKET_OUTGOING:
                other = claimant(frame, mac, ip)
                if other is not None:
                    return other
