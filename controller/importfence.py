"""A CIB's fence devices and fencing levels, as a description's ``fencing:`` section.

Part of ``pacemail import`` (``importer.py``). ``pcmk_host_list`` and
``pcmk_host_map`` become ``hosts:``. A description never holds a secret:
a parameter whose name looks like one (``description.SECRET_WORDS``) becomes
a ``secrets:`` entry naming the root-only file that holds it, and a warning
says which file that is and what to put there, never the value: the file
cibsecret keeps when the CIB has ``lrm://``, else a file under
``/etc/pacemail/secrets`` the admin writes before moving over.
"""

from __future__ import annotations

import re
from collections import defaultdict

from pacemail.controller import cibsecrets, description, stack, values
from pacemail.controller.importcib import Reading, name_of, pairs
from pacemail.controller.importops import Timings

SECRETS = "/etc/pacemail/secrets"
DEVICE_PARTS = {"id", "class", "type", "description", "instance_attributes", "operations"}
HOST_LIST = re.compile(r"[\s,;]+")
HOST_ENTRY = re.compile(r"([^\s:=;,]+)[:=]([^\s:=;,]+)")


def fencing(r: Reading, configuration, nodes, names: dict[str, str], timings: Timings) -> dict:
    """``{devices, levels}``; each device's id -> its name in ``names``."""
    known = {n for n, _ in nodes}
    devices = []
    for e in configuration.iterfind("resources/primitive[@class='stonith']"):
        device = _device(r, e, known, timings)
        if device:
            devices.append(device)
            names[e.get("id")] = device["name"]
    levels = _levels(r, configuration.find("fencing-topology"), names, known)
    return {k: v for k, v in (("devices", devices), ("levels", levels)) if v}


def _device(r: Reading, e, nodes: set[str], timings: Timings) -> dict | None:
    name, agent = name_of(e), e.get("type", "")
    if not values.FENCE_AGENT.fullmatch(agent) or not values.NAME.fullmatch(name):
        r.stays(e, f"a description's fence devices are named {values.NAME_TEXT} and run "
                   f"{values.FENCE_AGENT_TEXT}")
        return None
    params = pairs(r, e, "instance_attributes")
    listed, mapped = params.pop("pcmk_host_list", None), params.pop("pcmk_host_map", None)
    targets: list[str] | dict[str, str] = hosts(listed or "")
    if mapped is not None:
        targets = host_map(mapped) or {}
        if not targets or not all(values.HOST_PORT.fullmatch(p) for p in targets.values()):
            r.stays(e, "its pcmk_host_map cannot be written as hosts: {node: port}")
            return None
        if listed is not None:
            r.loses(e, "pcmk_host_list", "hosts: is the mapping of pcmk_host_map here")
    strangers = [t for t in targets if t not in nodes]
    if strangers:
        r.stays(e, f"it fences {', '.join(strangers)}, which the CIB does not list as nodes")
        return None
    secrets = {}
    for param in [p for p in params if description.SECRET_WORDS.search(p)]:
        value = params.pop(param)
        if value == stack.SECRET_VALUE:
            secrets[param] = str(cibsecrets.SECRETS_DIR / e.get("id") / param)
            r.warn(e, f"parameter {param} is a CIB secret: the description reads it from "
                      f"{secrets[param]}, where cibsecret keeps it on each node; keep that file "
                      "there, or name a root-only file of your own")
        else:
            secrets[param] = f"{SECRETS}/{name}-{param}"
            r.warn(e, f"parameter {param} is written in the CIB itself: a description never holds "
                      f"a secret, it names the root-only file holding it ({secrets[param]}); "
                      "write the value there on every node before moving over")
    odd = sorted(set(e.attrib) - DEVICE_PARTS) + [c.tag for c in e if isinstance(c.tag, str)
                                                  and c.tag not in DEVICE_PARTS]
    if odd:
        r.loses(e, ", ".join(odd), "a description's fence devices have hosts, params, secrets "
                                   "and operations.stonith")
    timings.add(e, "stonith", True)
    r.takes(e)
    out = {"name": name, "agent": agent, "hosts": targets}
    return out | {k: v for k, v in (("params", params), ("secrets", secrets)) if v}


def _levels(r: Reading, topology, names: dict[str, str], nodes: set[str]) -> dict:
    """``{node: [device or [devices], ...]}``: a description numbers a node's levels 1, 2, ..."""
    if topology is None:
        return {}
    found = defaultdict(list)
    for level in topology:
        if not isinstance(level.tag, str):
            continue
        devices = [names.get(d) for d in level.get("devices", "").split(",")]
        target, index = level.get("target"), level.get("index", "")
        if level.tag != "fencing-level" or set(level.attrib) - {"id", "target", "index", "devices"} \
                or target not in nodes or None in devices or not index.isdigit():
            r.stays(level, "a description's levels name a node and its fence devices (no patterns "
                           "or attributes), and only devices it holds")
            continue
        found[target].append((int(index), devices, level))
    out = {}
    for target, levels in found.items():
        levels.sort(key=lambda x: x[0])
        if [i for i, _, _ in levels] != list(range(1, len(levels) + 1)):
            r.note(f"fencing levels of {target}: numbered 1..{len(levels)} in their order")
        for _, _, level in levels:
            r.takes(level)
        out[target] = [d[0] if len(d) == 1 else d for _, d, _ in levels]
    return out


def hosts(value: str) -> list[str]:
    return [h for h in HOST_LIST.split(value) if h]


def host_map(value: str) -> dict[str, str] | None:
    """``pcmk_host_map`` (``node:port;node2:port2``, also ``=``, ``,`` or blanks) as a mapping."""
    entries = [e for e in HOST_LIST.split(value) if e]
    found = [HOST_ENTRY.fullmatch(e) for e in entries]
    if not entries or not all(found):
        return None
    return {m[1]: m[2] for m in found}
