"""``stonith_admin``: have the fencer fence a node, and read a node's fencing history."""

from __future__ import annotations

from lxml import etree

from pacemail.pacemaker.runner import Runner, local, output
from pacemail.pacemaker.status import FenceEvent, fence_events

TIMEOUT = 30.0


def fence(node: str, *, action: str = "reboot", timeout: float = 90.0, run: Runner = local) -> None:
    """``stonith_admin --reboot|--fence NODE``: returns once the fencer confirms success."""
    flag = {"reboot": "--reboot", "off": "--fence"}[action]
    seconds = max(1, int(timeout))
    run(["stonith_admin", flag, node, "--timeout", str(seconds)], timeout=seconds + 15)


def history(node: str, *, run: Runner = local, timeout: float = TIMEOUT) -> tuple[FenceEvent, ...]:
    """``stonith_admin --history NODE --verbose``: the fencer's record of fencing ``node``,
    every recorded and pending operation (without --verbose, only the last successful one)."""
    done = run(["stonith_admin", "--history", node, "--verbose", "--output-as=xml"],
               timeout=timeout)
    return fence_events(etree.fromstring(output(done)))
