"""Adding and removing addresses through pyroute2: the start/stop adapter of ocf:pacemail:vip.

pyroute2 costs ~190 ms to import, so only the actions that change something
import this module.
"""

from __future__ import annotations

FOREVER = 0xFFFFFFFF


def add(ifindex: int, address: str, prefixlen: int, *, broadcast: str | None = None,
        label: str | None = None, flags: int = 0, preferred_lft: int | None = None) -> None:
    from pyroute2 import IPRoute
    extra = {}
    if broadcast:
        extra["broadcast"] = broadcast
    if label:
        extra["label"] = label
    if flags:
        extra["flags"] = flags
    if preferred_lft is not None:
        extra.update(preferred_lft=preferred_lft, valid_lft=FOREVER)
    with IPRoute() as ipr:
        ipr.addr("add", index=ifindex, address=address, prefixlen=prefixlen, **extra)


def remove(ifindex: int, address: str, prefixlen: int) -> None:
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        ipr.addr("del", index=ifindex, address=address, prefixlen=prefixlen)


def set_up(ifindex: int) -> None:
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        ipr.link("set", index=ifindex, state="up")
