"""Running commands inside a lab node (nsenter into its init's namespaces)."""

from __future__ import annotations

import functools
import os

from pacemail.lab import power
from pacemail.lab.topology import STATE_ROOT
from pacemail.pacemaker.runner import Runner
from pacemail.proc import run


class NodeDown(Exception):
    pass


def enter_argv(lab: str, node: str, argv: list[str]) -> list[str]:
    pid = power.init_pid(lab, node)
    if pid is None:
        raise NodeDown(f"{node} of lab {lab} is powered off")
    return ["nsenter", "--target", str(pid), "--all", "--"] + list(argv)


def node_env(lab: str) -> dict[str, str]:
    path = f"{STATE_ROOT / lab / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return dict(os.environ, PATH=path)


def node_run(lab: str, node: str, argv: list[str], *, timeout: float, check: bool = True,
             input: str | None = None):
    """Run ``argv`` inside ``node`` and return the completed process."""
    return run(enter_argv(lab, node, argv), timeout=timeout, check=check, input=input,
               env=node_env(lab))


def node_runner(lab: str, node: str) -> Runner:
    """:func:`node_run` bound to ``node``: how pacemail.pacemaker's calls reach a lab node
    (NodeDown when it is powered off)."""
    return functools.partial(node_run, lab, node)
