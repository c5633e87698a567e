"""Facts about one network interface, read from /sys/class/net (exact, no subprocess)."""

from __future__ import annotations

import os

SYS_NET = "/sys/class/net"
IFF_UP = 0x1
NAME_MAX = 15  # IFNAMSIZ - 1


def valid_name(name: str) -> bool:
    """An interface name of letters, digits, '-', '_' and '.' (eth0, bond0.100, br-lan).

    Stricter than the kernel (which takes almost any byte): a name holding
    shell or ip(8) syntax is a configuration mistake worth reporting.
    """
    return (0 < len(name) <= NAME_MAX and name not in (".", "..")
            and all(c.isascii() and (c.isalnum() or c in "-_.") for c in name))


def _read(nic: str, leaf: str) -> str | None:
    try:
        with open(os.path.join(SYS_NET, nic, leaf), encoding="ascii") as f:
            return f.read().strip()
    except OSError:  # missing, or EINVAL for carrier of a down interface
        return None


def exists(nic: str) -> bool:
    return os.path.isdir(os.path.join(SYS_NET, nic))


def is_up(nic: str) -> bool:
    flags = _read(nic, "flags")
    return flags is not None and bool(int(flags, 16) & IFF_UP)


def has_carrier(nic: str) -> bool:
    return _read(nic, "carrier") == "1"


def mac(nic: str) -> bytes:
    text = _read(nic, "address") or ""
    return bytes.fromhex(text.replace(":", ""))


def problem(nic: str) -> str | None:
    """Why ``nic`` cannot carry an address now (absent, down, no carrier), or None."""
    if not exists(nic):
        return f"interface {nic} does not exist"
    if not is_up(nic):
        return f"interface {nic} is down"
    if not has_carrier(nic):
        return f"interface {nic} has no carrier"
    return None
