"""ocf:pacemail:vip: a floating IPv4/IPv6 address, a drop-in for ocf:heartbeat:IPaddr2.

Parameters keep IPaddr2's names, meanings and defaults, so replacing the agent
name is the whole migration. Interface, prefix and broadcast are found as
IPaddr2's findif finds them: the longest connected route covering the
address (with cidr_netmask, one at most that long; with nic, one on it)
gives what the parameters leave open, its address's broadcast included; with
both nic and cidr_netmask no route is needed; no route where one is needed is
OCF_ERR_GENERIC, a fact of this node. Exit codes are IPaddr2's in every case
resource-agents' ocft suite sets up (tests/test_agents_ocft.py). Differences
on purpose:
- routes through a gateway never count, and where several interfaces share
  the longest covering route start fails (OCF_ERR_GENERIC: set nic) instead
  of taking the last one listed;
- with nic and cidr_netmask forced and no covering route, the broadcast is
  derived from the prefix ('+'), where IPaddr2 adds the address without one;
- start refuses an address another host already answers for
  (``check_duplicate``: an RFC 5227 ARP probe for IPv4, the kernel's DAD for
  IPv6), and the monitor fails an address whose interface is down or has
  lost its carrier, or whose DAD failed;
- a missing interface is OCF_ERR_INSTALLED (this node only), not
  OCF_ERR_CONFIGURED (every node);
- the monitor looks at the address and its interface only: it does not search
  the routes again, so a running address stays running when its route goes;
- no subprocess: reads are one rtnetlink dump and /sys, changes one rtnetlink
  request each, announcements go through raw sockets.
"""

from __future__ import annotations

import _socket  # not socket.py: see pacemail.agents.rtnl
import time

from pacemail.agents import netif, rtnl
from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_NOT_RUNNING, OCF_SUCCESS,
    Agent, OCFError, Param, show,
)

IFA_F_NODAD, IFA_F_NOPREFIXROUTE = 0x02, 0x200
DAD_POLL_S = 0.05
ROUTE_FLUSH = {_socket.AF_INET: "/proc/sys/net/ipv4/route/flush",
               _socket.AF_INET6: "/proc/sys/net/ipv6/route/flush"}
CLUSTERIP_HASHES = ("sourceip", "sourceip-sourceport", "sourceip-sourceport-destport")
COMPAT_ONLY = ("Accepted so IPaddr2 configurations work unchanged; it has no effect here: "
               "pacemail sends the announcements itself, the first during start and "
               "the rest in the background.")


# -- parameter checks (pure) ------------------------------------------------

def parse_ip(text: str) -> tuple[int, bytes]:
    """(address family, packed address) of an IPv4 or IPv6 address in text form."""
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            return family, _socket.inet_pton(family, text)
        except OSError:
            continue
    raise ValueError("is not an IPv4 or IPv6 address")


def _check_ip(text: str) -> None:
    family, packed = parse_ip(text)
    if family == _socket.AF_INET:
        if packed[0] in (0, 127) or packed[0] >= 224:
            raise ValueError("is not a unicast address a host can take over")
    elif not any(packed) or packed == bytes(15) + b"\1" or packed[0] == 0xFF or \
            (packed[0] == 0xFE and packed[1] & 0xC0 == 0x80):
        raise ValueError("is not a global or unique-local IPv6 unicast address")


def _check_prefixlen(text: str) -> str | None:
    """A prefix length; an IPv4 netmask (255.255.255.0) gives its length, as IPaddr2 takes it."""
    if "." in text:
        try:
            mask = int.from_bytes(_socket.inet_pton(_socket.AF_INET, text), "big")
        except OSError:
            mask = 0
        ones = bin(mask).count("1")
        if ones == 0 or mask != ((1 << ones) - 1) << (32 - ones):
            raise ValueError("is not a netmask (contiguous ones, as 255.255.255.0)")
        return str(ones)
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 128):
        raise ValueError("is not a prefix length (1-32 for IPv4, 1-128 for IPv6)")
    return None


def _check_nic(text: str) -> None:
    name, colon, label = text.partition(":")
    if not netif.valid_name(name) or (colon and not _label_ok(label)):
        raise ValueError("is not an interface name (at most 15 letters, digits, '-', "
                         "'_' or '.'), with a label after ':' or not")


def _label_ok(text: str) -> bool:
    return bool(text) and all(c.isascii() and (c.isalnum() or c in "_-.") for c in text)


def _check_label(text: str) -> None:
    if not _label_ok(text):
        raise ValueError("may hold only letters, digits, '_', '-' and '.'")


def _check_broadcast(text: str) -> None:
    if text not in ("+", "-"):
        try:
            _socket.inet_pton(_socket.AF_INET, text)
        except OSError:
            raise ValueError("is not an IPv4 address, '+' or '-'") from None


def _check_positive(value: int) -> None:
    if value < 1:
        raise ValueError("must be at least 1")


def _check_not_negative(value: int) -> None:
    if value < 0:
        raise ValueError("must not be negative")


def _check_lifetime(text: str) -> None:
    if text != "forever" and not (text.isascii() and text.isdigit() and int(text) < 2**32 - 1):
        raise ValueError("is not 'forever' or a number of seconds")


def _check_empty(feature: str):
    def check(value) -> None:
        if value:
            raise ValueError(f"is not supported by ocf:pacemail:vip ({feature})")
    return check


AGENT = Agent(
    name="vip",
    version="1.0",
    shortdesc="Floating IPv4 or IPv6 address (drop-in for IPaddr2)",
    longdesc=(
        "Adds an IPv4 or IPv6 address to a network interface and announces it "
        "(gratuitous ARP / unsolicited neighbour advertisements), so clients "
        "follow it when it moves to another node. Parameters keep the names, "
        "meanings and defaults of ocf:heartbeat:IPaddr2. Before adding, it "
        "checks that no other host answers for the address (check_duplicate). "
        "The monitor reports a failure when the address sits on an interface "
        "that is down or has no carrier, or when IPv6 duplicate address "
        "detection failed. Interface, prefix and broadcast are found as IPaddr2 finds "
        "them, with two differences: routes through a gateway never count, and when "
        "several interfaces share the longest connected route covering the address, "
        "start fails (set nic) instead of picking one. A missing nic is "
        "OCF_ERR_INSTALLED (this node), not OCF_ERR_CONFIGURED. Load-sharing clones "
        "(CLUSTERIP), LVS options and network namespaces of IPaddr2 are not supported."
    ),
    params=[
        Param("ip", required=True, unique_group="ip", check=_check_ip,
              shortdesc="IPv4 or IPv6 address",
              longdesc="The address, e.g. 192.0.2.10 or 2001:db8::10."),
        Param("nic", check=_check_nic, shortdesc="Network interface",
              longdesc="The interface to put the address on; nic=eth0:web also gives "
                       "the label (iflabel=web), as IPaddr2 takes it. Empty: the interface of "
                       "the longest connected route covering the address (none: start "
                       "fails here; several interfaces with that route: start fails, set "
                       "nic)."),
        Param("cidr_netmask", check=_check_prefixlen, shortdesc="CIDR netmask",
              longdesc="Prefix length, e.g. 24 (a netmask such as 255.255.255.0 is taken "
                       "as its length, as IPaddr2 does). Empty: the prefix of the longest "
                       "connected route covering the address. Set, without nic: only "
                       "routes at most this long count."),
        Param("broadcast", check=_check_broadcast, shortdesc="Broadcast address",
              longdesc="IPv4 only: the broadcast address, or '+' (host bits set) or '-' "
                       "(host bits cleared). Empty: the broadcast of the address whose "
                       "connected route covers this one, as IPaddr2 takes it; without such "
                       "a route (nic and cidr_netmask forced) '+', where IPaddr2 sets none."),
        Param("iflabel", check=_check_label, shortdesc="Interface label",
              longdesc="IPv4 only: a label appended to the interface name (nic:label, at "
                       "most 15 characters in all); a label given in nic wins."),
        Param("lvs_support", "boolean", default=False, check=_check_empty("LVS DR"),
              shortdesc="Enable support for LVS DR", longdesc="Not supported: must be false."),
        Param("lvs_ipv6_addrlabel", "boolean", default=False, check=_check_empty("LVS DR"),
              shortdesc="Enable adding IPv6 address label",
              longdesc="Not supported: must be false."),
        Param("lvs_ipv6_addrlabel_value", "integer", default=99,
              shortdesc="IPv6 address label value",
              longdesc="Accepted for compatibility; used only with lvs_ipv6_addrlabel."),
        Param("mac", check=_check_empty("CLUSTERIP"), shortdesc="Cluster IP MAC address",
              longdesc="Not supported (load-sharing clones): must be empty."),
        Param("clusterip_hash", values=CLUSTERIP_HASHES, default="sourceip-sourceport",
              shortdesc="Cluster IP hashing function",
              longdesc="Accepted for compatibility; load-sharing clones are not supported."),
        Param("unique_clone_address", "boolean", default=False,
              check=_check_empty("clone addresses"),
              shortdesc="Create a unique address for cloned instances",
              longdesc="Not supported: must be false."),
        Param("arp_interval", "integer", default=200, check=_check_positive,
              shortdesc="ARP/NA packet interval in ms",
              longdesc="Milliseconds between the gratuitous ARPs (IPv4) or unsolicited "
                       "neighbour advertisements (IPv6) sent at start."),
        Param("arp_count", "integer", default=5, check=_check_positive,
              shortdesc="ARP/NA packet count sent during initialization",
              longdesc="How many announcements start sends: the first before start "
                       "returns, the rest from a detached background process that stops "
                       "early if the address goes away."),
        Param("arp_count_refresh", "integer", default=0, check=_check_not_negative,
              shortdesc="ARP packet count sent during monitoring",
              longdesc="IPv4: gratuitous ARPs each monitor sends, against stale neighbour "
                       "caches after a split brain."),
        Param("arp_bg", shortdesc="ARP/NA from background", longdesc=COMPAT_ONLY),
        Param("arp_sender", shortdesc="ARP sender", longdesc=COMPAT_ONLY),
        Param("send_arp_opts", shortdesc="Options for ARP sender", longdesc=COMPAT_ONLY),
        Param("flush_routes", "boolean", default=False,
              shortdesc="Flush kernel routing table on stop",
              longdesc="Flush the kernel's route cache after removing the address, so "
                       "local applications stop using it at once."),
        Param("run_arping", "boolean", default=False,
              shortdesc="Run arping for IPv4 collision detection check",
              longdesc="IPaddr2's switch for the IPv4 duplicate check; true forces the "
                       "check even with check_duplicate=false."),
        Param("nodad", "boolean", default=False, shortdesc="Use nodad flag",
              longdesc="IPv6: add the address without duplicate address detection (so "
                       "without the IPv6 duplicate check)."),
        Param("noprefixroute", "boolean", default=False, shortdesc="Use noprefixroute flag",
              longdesc="Add the address without its prefix route."),
        Param("preferred_lft", default="forever", check=_check_lifetime,
              shortdesc="IPv6 preferred lifetime",
              longdesc="IPv6: the preferred lifetime in seconds, or forever; 0 keeps the "
                       "address from being chosen as a source address."),
        Param("network_namespace", check=_check_empty("network namespaces"),
              shortdesc="Network namespace to use", longdesc="Not supported: must be empty."),
        Param("check_duplicate", "boolean", default=True,
              shortdesc="Refuse an address another host uses",
              longdesc="Before adding the address, make sure no other host answers for "
                       "it: IPv4 sends RFC 5227 ARP probes (0.1 s), IPv6 waits "
                       "for the kernel's duplicate address detection. false skips both "
                       "(IPv6 addresses are then added with nodad)."),
    ],
)


# -- where the address goes (pure) -----------------------------------------

class Target:
    """The address as it should be configured on this node (``broadcast``: IPv4 text or None)."""

    __slots__ = ("family", "packed", "text", "nic", "ifindex", "prefixlen", "broadcast")

    def __init__(self, family, packed, text, nic, ifindex, prefixlen, broadcast=None):
        self.family, self.packed, self.text = family, packed, text
        self.nic, self.ifindex, self.prefixlen = nic, ifindex, prefixlen
        self.broadcast = broadcast

    def __str__(self) -> str:
        return f"{self.text}/{self.prefixlen} on {self.nic}"


def covering(routes, packed: bytes, ifindex: int | None, prefixlen: int | None) -> list:
    """Connected routes that cover the address, longest prefix first.

    As ``ip route list match ADDRESS/PREFIXLEN`` (IPaddr2's findif): with a
    prefix length, only routes at most that long count; with ``ifindex``,
    only routes on that interface.
    """
    found = [r for r in routes if rtnl.covers(r.network, r.prefixlen, packed)
             and (prefixlen is None or r.prefixlen <= prefixlen)
             and (ifindex is None or r.ifindex == ifindex)]
    return sorted(found, key=lambda r: -r.prefixlen)


def choose(routes, packed: bytes, ifindex: int | None, prefixlen: int | None, names):
    """(interface index, prefix length, covering route or None), found as IPaddr2 finds them.

    The longest covering route gives what the parameters leave open; with
    both ``ifindex`` and ``prefixlen`` set none is needed. No covering route,
    or (without ``ifindex``) several interfaces sharing the longest one, is
    OCFError(1): a fact of this node, which another node may not share.
    ``names`` maps an interface index to its name, for the messages.
    """
    found = covering(routes, packed, ifindex, prefixlen)
    best = found[0] if found else None
    if ifindex is not None and prefixlen is not None:
        return ifindex, prefixlen, best
    if best is None:
        where = f" on {names(ifindex)}" if ifindex is not None else ""
        wider = f" with a prefix of at most {prefixlen} bits" if prefixlen is not None else ""
        raise OCFError(OCF_ERR_GENERIC, f"no connected route{where}{wider} covers the address "
                       "on this node: set nic and cidr_netmask to put it there anyway")
    if ifindex is None:
        tied = sorted({r.ifindex for r in found if r.prefixlen == best.prefixlen})
        if len(tied) > 1:
            listed = ", ".join(names(i) for i in tied)
            raise OCFError(OCF_ERR_GENERIC, f"several interfaces have a connected /{best.prefixlen} "
                           f"route covering the address ({listed}): set nic")
    return best.ifindex, prefixlen if prefixlen is not None else best.prefixlen, best


def broadcast_of(packed: bytes, prefixlen: int, spec: str | None) -> str | None:
    """The IPv4 broadcast address for ``spec`` ('+', '-', an address, or None for '+')."""
    if spec not in (None, "+", "-"):
        return spec
    if prefixlen >= 31:
        return None
    host = (1 << (32 - prefixlen)) - 1
    value = int.from_bytes(packed, "big") & ~host & 0xFFFFFFFF
    if spec != "-":
        value |= host
    return _socket.inet_ntop(_socket.AF_INET, value.to_bytes(4, "big"))


def inherited_broadcast(route, addresses) -> str | None:
    """The broadcast of the address ``route`` was made for, as IPaddr2 reuses it; None if none."""
    if route is None or route.prefsrc is None:
        return None
    for a in addresses:
        if a.address == route.prefsrc and a.broadcast:
            return _socket.inet_ntop(_socket.AF_INET, a.broadcast)
    return None


# -- reading the node (rtnetlink dump, /sys) --------------------------------

def _name(ifindex: int) -> str:
    try:
        return _socket.if_indextoname(ifindex)
    except OSError:
        return f"interface #{ifindex}"


def held(family: int, packed: bytes, nic: str | None) -> list[rtnl.Address]:
    """Entries of the address on this node (on ``nic`` only, when given)."""
    found = [a for a in rtnl.addresses(family) if a.address == packed]
    if nic:
        found = [a for a in found if _name(a.ifindex) == nic]
    return found


def _address(ctx) -> tuple[int, bytes]:
    try:
        return parse_ip(ctx.params["ip"])
    except ValueError as exc:
        raise OCFError(OCF_ERR_CONFIGURED, f"parameter ip: {show(ctx.params['ip'])} {exc}") from None


def nic_and_label(ctx) -> tuple[str | None, str | None]:
    """(interface, label) from nic and iflabel: nic=eth0:web gives the label too, and wins."""
    nic, _, label = (ctx.params["nic"] or "").partition(":")
    return nic or None, label or ctx.params["iflabel"]


def target(ctx) -> Target:
    """Resolve interface, prefix and broadcast from the parameters and the routing table."""
    family, packed = _address(ctx)
    p = ctx.params
    prefixlen = int(p["cidr_netmask"]) if p["cidr_netmask"] else None
    if prefixlen is not None and prefixlen > len(packed) * 8:
        raise OCFError(OCF_ERR_CONFIGURED, f"parameter cidr_netmask: {prefixlen} is more than "
                       f"{len(packed) * 8}, the length of an IPv{4 if len(packed) == 4 else 6} address")
    ifindex = None
    nic, _ = nic_and_label(ctx)
    if nic:
        if not netif.exists(nic):
            raise OCFError(OCF_ERR_INSTALLED, f"interface {nic} (parameter nic) does not exist "
                           "on this node")
        ifindex = _socket.if_nametoindex(nic)
    ifindex, prefixlen, route = choose(rtnl.connected_routes(family), packed, ifindex, prefixlen, _name)
    broadcast = None
    if family == _socket.AF_INET:
        broadcast = broadcast_of(packed, prefixlen, p["broadcast"]) if p["broadcast"] else \
            inherited_broadcast(route, rtnl.addresses(family)) or broadcast_of(packed, prefixlen, "+")
    return Target(family, packed, p["ip"], _name(ifindex), ifindex, prefixlen, broadcast)


# -- actions ------------------------------------------------------------------

@AGENT.running_check
def is_running(ctx) -> bool:
    family, packed = _address(ctx)
    return bool(held(family, packed, nic_and_label(ctx)[0]))


@AGENT.action("validate-all", timeout=20)
def validate(ctx) -> int:
    family, _ = _address(ctx)
    p = ctx.params
    label = nic_and_label(ctx)[1]
    if family == _socket.AF_INET6 and (p["broadcast"] or label):
        raise OCFError(OCF_ERR_CONFIGURED, "parameters broadcast and iflabel are for IPv4 addresses only")
    if ctx.clone is not None and (ctx.clone.max or 1) > 1:
        raise OCFError(OCF_ERR_CONFIGURED, "load-sharing clones (CLUSTERIP) are not supported: "
                       "run the address as a primitive")
    where = target(ctx)
    if label and len(f"{where.nic}:{label}") > netif.NAME_MAX:
        raise OCFError(OCF_ERR_CONFIGURED, f"parameter iflabel: {where.nic}:{label} is "
                       f"longer than {netif.NAME_MAX} characters")
    return OCF_SUCCESS


def _wait_for_dad(ctx, where: Target) -> None:
    """Until the kernel's duplicate address detection is over; OCFError(1) if it failed."""
    while True:
        entries = held(where.family, where.packed, where.nic)
        if not entries:
            raise OCFError(OCF_ERR_GENERIC, f"{where} vanished during duplicate address detection")
        if entries[0].dadfailed:
            from pacemail.agents import addrconf
            addrconf.remove(where.ifindex, where.text, where.prefixlen)
            raise OCFError(OCF_ERR_GENERIC, f"another host on {where.nic} already uses "
                           f"{where.text} (IPv6 duplicate address detection failed)")
        if not entries[0].tentative:
            return
        if ctx.remaining() < DAD_POLL_S:
            raise OCFError(OCF_ERR_GENERIC, f"{where}: duplicate address detection did not "
                           "finish within the start timeout")
        time.sleep(DAD_POLL_S)


def _announce_rest(where: Target, mac: bytes, count: int, interval_s: float) -> None:
    """Background part of the announcements: stops early once the address is gone."""
    from pacemail.agents.announce import announce
    for _ in range(count):
        time.sleep(interval_s)
        if not held(where.family, where.packed, where.nic):
            return
        announce(where.nic, mac, where.family, where.packed)


@AGENT.action("start", timeout=20)
def start(ctx) -> int:
    from pacemail.agents import addrconf, announce
    p, label = ctx.params, nic_and_label(ctx)[1]
    where = target(ctx)
    if held(where.family, where.packed, where.nic):
        ctx.log.info(f"{where.text} is already on {where.nic}")
        return OCF_SUCCESS
    elsewhere = held(where.family, where.packed, None)
    if elsewhere:
        raise OCFError(OCF_ERR_GENERIC, f"{where.text} is already on {_name(elsewhere[0].ifindex)} "
                       f"of this node, not on {where.nic}")
    if not netif.is_up(where.nic):
        ctx.log.info(f"bringing {where.nic} up")
        addrconf.set_up(where.ifindex)
    problem = netif.problem(where.nic)
    if problem:
        raise OCFError(OCF_ERR_GENERIC, f"cannot start {where}: {problem}")
    mac = netif.mac(where.nic)
    v4 = where.family == _socket.AF_INET
    if v4 and (p["check_duplicate"] or p["run_arping"]):
        other = announce.arp_claimant(where.nic, mac, where.packed)
        if other is not None:
            raise OCFError(OCF_ERR_GENERIC, f"{where.text} is already in use on {where.nic} by "
                           f"another host (MAC {announce.format_mac(other)}): not taking it over")
    dad = not v4 and p["check_duplicate"] and not p["nodad"]
    flags = (0 if v4 or dad else IFA_F_NODAD) | (IFA_F_NOPREFIXROUTE if p["noprefixroute"] else 0)
    lifetime = p["preferred_lft"]
    ctx.log.info(f"adding {where}")
    addrconf.add(where.ifindex, where.text, where.prefixlen, flags=flags,
                 broadcast=where.broadcast,
                 label=f"{where.nic}:{label}" if v4 and label else None,
                 preferred_lft=None if v4 or lifetime == "forever" else int(lifetime))
    if dad:
        _wait_for_dad(ctx, where)
    try:
        announce.announce(where.nic, mac, where.family, where.packed)
    except OSError as exc:
        ctx.log.warning(f"could not announce {where.text} on {where.nic}: {exc}")
    rest, interval_s = p["arp_count"] - 1, p["arp_interval"] / 1000
    if rest > 0:
        from pacemail.agents.detach import detach
        detach(lambda: _announce_rest(where, mac, rest, interval_s), rest * interval_s + 2)
    return OCF_SUCCESS


@AGENT.action("stop", timeout=20)
def stop(ctx) -> int:
    family, packed = _address(ctx)
    entries = held(family, packed, nic_and_label(ctx)[0])
    if not entries:
        return OCF_SUCCESS
    from pacemail.agents import addrconf
    for entry in entries:
        ctx.log.info(f"removing {ctx.params['ip']}/{entry.prefixlen} from {_name(entry.ifindex)}")
        addrconf.remove(entry.ifindex, ctx.params["ip"], entry.prefixlen)
    if ctx.params["flush_routes"]:
        with open(ROUTE_FLUSH[family], "w", encoding="ascii") as f:
            f.write("1\n")
    return OCF_SUCCESS


@AGENT.action("monitor", timeout=20, interval=10, depth=0)
def monitor(ctx) -> int:
    family, packed = _address(ctx)
    entries = held(family, packed, nic_and_label(ctx)[0])
    if not entries:
        return OCF_NOT_RUNNING
    entry = entries[0]
    nic = _name(entry.ifindex)
    if entry.dadfailed:
        raise OCFError(OCF_ERR_GENERIC, f"{ctx.params['ip']} on {nic}: another host uses it "
                       "(IPv6 duplicate address detection failed)")
    if entry.tentative:
        raise OCFError(OCF_ERR_GENERIC, f"{ctx.params['ip']} on {nic} is tentative "
                       "(IPv6 duplicate address detection not finished), so unusable")
    problem = netif.problem(nic)
    if problem:
        raise OCFError(OCF_ERR_GENERIC, f"{ctx.params['ip']} is on {nic}, but {problem}")
    refresh = ctx.params["arp_count_refresh"] or 0
    if refresh and family == _socket.AF_INET:
        from pacemail.agents.announce import gratuitous_arp, send_frames
        send_frames(nic, [gratuitous_arp(netif.mac(nic), packed)] * refresh)
    return OCF_SUCCESS
