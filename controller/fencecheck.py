"""Fence device parameters checked against the fence agent's own metadata.

The agent is the one place that knows its parameters: ``/usr/sbin/fence_X -o
metadata`` (fence-agents) declares each one with ``required``, ``deprecated``,
``obsoletes`` and, for choices, its options; Pacemaker's fencer declares the
``pcmk_*`` parameters it handles itself (``pacemaker-fenced metadata``). An
agent not installed where the description is checked gives a WARNING and its
parameters go unchecked. ``action`` and the node argument (``port``/``plug``)
are filled in by the fencer, so they are never required of a description.
Only a fence agent by name (``values.FENCE_AGENT``: ``fence_*``, no path) is
looked up, and only in ``AGENT_DIR``: loading a description runs no program
the description could point anywhere else.

Running an agent for its metadata costs 30-40 ms each, which every plan and
apply would pay: the XML is cached under ``METADATA_CACHE`` (when writable),
keyed by the executable's path, inode, size and mtime, so an upgraded agent
is asked again.
"""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from pacemail.controller.model import FenceDevice
from pacemail.controller.problems import Location, Problem, Severity
from pacemail.controller.values import FENCE_AGENT, shown
from pacemail.proc import CommandError, run

AGENT_DIR = Path("/usr/sbin")
FENCER = (Path("/usr/lib/pacemaker/pacemaker-fenced"), Path("/usr/libexec/pacemaker/pacemaker-fenced"))
TIMEOUT_S = 10.0
METADATA_CACHE = Path("/var/cache/pacemail/metadata")
FILLED_BY_FENCER = {"action", "port", "plug", "nodename"}


@dataclass(frozen=True)
class Param:
    name: str
    required: bool = False
    deprecated: bool = False
    obsoletes: str | None = None          # the deprecated name this one replaces
    options: tuple[str, ...] = ()         # allowed values of a "select"


def parse_metadata(xml: str) -> dict[str, Param]:
    """name -> :class:`Param` from an agent's (or the fencer's) metadata XML."""
    out = {}
    for p in ET.fromstring(xml).iter("parameter"):
        content = p.find("content")
        options = tuple(o.get("value", "") for o in content.iter("option")) \
            if content is not None and content.get("type") == "select" else ()
        out[p.get("name")] = Param(p.get("name"), p.get("required") == "1",
                                   p.get("deprecated") == "1", p.get("obsoletes"), options)
    return out


def check_device(f: FenceDevice, agent: dict[str, Param], fencer: dict[str, Param] | None
                 ) -> list[Problem]:
    """Problems of one device's parameters against the agent's and the fencer's declarations."""
    where = f.where or Location("<description>")
    given = dict(f.params) | dict(f.secrets)
    out = []

    def say(severity: Severity, message: str) -> None:
        out.append(Problem(severity, where, f"fence device {f.name} ({f.agent}): {message}"))

    replaced_by = {p.obsoletes: p.name for p in agent.values() if p.obsoletes}
    for name, value in given.items():
        if name.startswith("pcmk_"):
            if fencer is not None and name not in fencer:
                say(Severity.ERROR, f"{name!r} is not a fencer parameter "
                                    f"(known: {', '.join(sorted(fencer))})")
            continue
        p = agent.get(name)
        if p is None:
            say(Severity.ERROR, f"{name!r} is not a parameter of {f.agent} "
                                f"(its metadata lists: {', '.join(sorted(agent))})")
        elif p.deprecated:
            say(Severity.WARNING, f"{name!r} is deprecated" +
                (f"; use {replaced_by[name]!r}" if name in replaced_by else ""))
        elif p.options and name in dict(f.params) and value not in p.options:
            say(Severity.ERROR, f"{name}: expected one of {', '.join(p.options)}, got {shown(value)}")
    for p in agent.values():
        if not p.required or p.deprecated or p.name in FILLED_BY_FENCER:
            continue
        if p.name not in given and (p.obsoletes is None or p.obsoletes not in given):
            say(Severity.ERROR, f"{p.name!r} is required by {f.agent}")
    return out


def check(devices: tuple[FenceDevice, ...]) -> list[Problem]:
    """Every device against its installed agent; agents not installed are a WARNING each."""
    out: list[Problem] = []
    known: dict[str, dict[str, Param] | None] = {}
    fencer_path = next((p for p in FENCER if p.is_file()), None)
    fencer = _metadata([str(fencer_path), "metadata"]) if devices and fencer_path else None
    for f in devices:
        if f.agent not in known:
            path = AGENT_DIR / f.agent
            installed = FENCE_AGENT.fullmatch(f.agent) is not None and path.is_file()
            known[f.agent] = _metadata([str(path), "-o", "metadata"]) if installed else None
            if known[f.agent] is None:
                out.append(Problem(Severity.WARNING, f.where or Location("<description>"),
                                   f"parameters of fence agent {f.agent} not checked: "
                                   f"{AGENT_DIR / f.agent} is not installed here (or its "
                                   f"metadata is unreadable)"))
        if known[f.agent] is not None:
            out += check_device(f, known[f.agent], fencer)
    return out


def _metadata(argv: list[str]) -> dict[str, Param] | None:
    try:
        return parse_metadata(_metadata_xml(argv, METADATA_CACHE))
    except (CommandError, ET.ParseError, OSError):
        return None


def _metadata_xml(argv: list[str], cache: Path) -> str:
    st = os.stat(argv[0])
    key = hashlib.sha256(repr((argv, st.st_ino, st.st_size, st.st_mtime_ns)).encode()).hexdigest()
    path = cache / f"{Path(argv[0]).name}-{key[:16]}.xml"
    try:
        return path.read_text()
    except OSError:
        pass
    xml = run(argv, timeout=TIMEOUT_S).stdout
    ET.fromstring(xml)                          # only well-formed metadata is kept
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(xml)
        os.replace(tmp, path)
    except OSError:                             # not writable here (not root): no cache
        pass
    return xml
