"""What applying a description to a live CIB would do, as data.

:func:`make_plan` takes a parsed description and the live CIB (bytes, as
``cibadmin --query`` gives it) and returns a :class:`Plan`: the merged CIB
(``merge.py``), the changes grouped by kind, the problems (id collisions,
crm_verify errors, shadowed options, unknown nodes) and the impact on running
resources, from crm_simulate of the live CIB against crm_simulate of the
merged one. It reads no cluster: everything comes from its arguments.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lxml import etree

from pacemail.agents import alert as alert_agent
from pacemail.controller import cibxml, fencerace, merge
from pacemail.controller.build import build_cib
from pacemail.controller.model import Description
from pacemail.controller.problems import Location, Problem, Severity, errors
from pacemail.pacemaker.simulate import Action, transition
from pacemail.pacemaker.verify import verify

# section of the configuration -> the kind a change is listed under
KINDS = {"resources": "resources", "constraints": "constraints", "fencing-topology": "fencing",
         "crm_config": "options", "rsc_defaults": "options", "op_defaults": "options",
         "alerts": "alerts"}
KIND_ORDER = ("resources", "constraints", "fencing", "options", "alerts")
DISRUPTIVE = ("stop", "restart", "move", "demote")
EFFECTS = ("stop", "start", "demote", "promote")   # the transition actions an impact is made of
MERGED = Location("merged CIB")


@dataclass(frozen=True)
class Change:
    action: str                  # add | change | remove
    kind: str                    # resources | constraints | fencing | options | alerts
    id: str
    what: str                    # e.g. "primitive ocf:pacemaker:Dummy"
    fields: tuple[tuple[str, str | None, str | None], ...]  # (key, old, new); None: absent


@dataclass(frozen=True)
class Impact:
    """What the transition does to one resource beyond what the cluster would do anyway."""

    resource: str
    effect: str                  # start | stop | restart | move | promote | demote
    before: tuple[str, ...]      # nodes it stops (or demotes) on
    after: tuple[str, ...]       # nodes it starts (or promotes) on

    @property
    def disruptive(self) -> bool:
        return self.effect in DISRUPTIVE


@dataclass(frozen=True)
class Plan:
    base: merge.Version          # version of the live CIB the plan was computed against
    live: bytes = field(repr=False)
    merged: bytes = field(repr=False)
    changes: tuple[Change, ...] = ()
    impact: tuple[Impact, ...] = ()
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()  # choices pacemail made for the description, explained

    @property
    def ok(self) -> bool:
        return not errors(list(self.problems))

    @property
    def disruptions(self) -> tuple[Impact, ...]:
        return tuple(i for i in self.impact if i.disruptive)


def make_plan(description: Description, live_cib: bytes, *, check: bool = True) -> Plan:
    """The plan for ``description`` against ``live_cib``; ``check=False`` skips crm_verify and
    crm_simulate (the changes and the merged CIB only)."""
    current = etree.fromstring(live_cib)
    merged = merge.merge(current, build_cib(description))
    merged_xml = etree.tostring(merged.cib, encoding="UTF-8")
    changes = tuple(sorted((_change(e) for e in merged.edits),
                           key=lambda c: KIND_ORDER.index(c.kind)))
    problems = [Problem(Severity.ERROR, Location("live CIB", key=i),
                        "this id belongs to an element pacemail does not manage "
                        "(no 'managed by pacemail' mark); rename or remove it first")
                for i in merged.collisions]
    problems += _shadowed_options(merged.cib) + _unknown_nodes(description, current)
    impact: tuple[Impact, ...] = ()
    if changes and check:
        with ThreadPoolExecutor(max_workers=1) as pool:   # crm_simulate beside crm_verify
            simulated = pool.submit(transition, merged_xml)
            verification = verify(merged_xml)
        problems += [Problem(Severity.ERROR, MERGED, e) for e in verification.errors]
        problems += [Problem(Severity.WARNING, MERGED, w) for w in verification.warnings]
        if verification.ok:
            impact = _impact(live_cib, simulated.result())
    notes = (fencerace.note(description.fence_race),) if description.fence_race else ()
    return Plan(merge.version(current), live_cib, merged_xml, changes, impact, tuple(problems),
                notes)


# -- changes ------------------------------------------------------------------

def _change(edit: merge.Edit) -> Change:
    element = edit.new if edit.new is not None else edit.old
    old = _fields(edit.old) if edit.old is not None else {}
    new = _fields(edit.new) if edit.new is not None else {}
    keys = list(old) + [k for k in new if k not in old]
    fields = tuple((k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k))
    return Change(edit.action, KINDS[edit.section], edit.id, _what(element), fields)


def _fields(element: etree._Element, prefix: str = "") -> dict[str, str]:
    """An element flattened to ``key: value`` (``params.ip``, ``op monitor 10s.timeout``)."""
    implied = ("id", "name", "interval", "role") if element.tag == "op" else ("id",)
    out = {prefix + k: v for k, v in element.attrib.items()
           if k not in implied and (k, v) != ("description", cibxml.MARK)}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "nvpair":
            out[prefix + child.get("name", "")] = child.get("value", "")
        elif child.tag == "recipient":        # an alert's: one field, all in order
            key = prefix + "recipients"
            out[key] = ", ".join(filter(None, (out.get(key), child.get("value", ""))))
        elif child.tag == "select":
            out[prefix + "select"] = " ".join(c.tag.removeprefix("select_") for c in child
                                              if isinstance(c.tag, str))
        elif child.tag == "operations":
            out.update(_fields(child, prefix))
        else:
            out.update(_fields(child, f"{prefix}{_label(child)}."))
    return out


def _label(element: etree._Element) -> str:
    if element.tag == "op":
        parts = [element.get("name"), element.get("interval"), element.get("role")]
        return "op " + " ".join(p for p in parts if p)
    short = {"instance_attributes": "params", "meta_attributes": "meta"}
    return short.get(element.tag) or element.get("id") or element.tag


def _what(e: etree._Element) -> str:
    if e.tag == "primitive":
        return "primitive " + ":".join(e.get(a) for a in ("class", "provider", "type") if e.get(a))
    if e.tag == "group":
        return "group of " + ", ".join(m.get("id") for m in e.iterfind("primitive"))
    if e.tag == "clone":
        member = next((m.get("id") for m in e if m.tag in ("primitive", "group")), "?")
        promotable = e.find("meta_attributes/nvpair[@name='promotable'][@value='true']") is not None
        return f"{'promotable ' if promotable else ''}clone of {member}"
    if e.tag == "rsc_location":
        return f"location {e.get('rsc')} on {e.get('node')} ({e.get('score')})"
    if e.tag == "rsc_colocation":
        return f"colocation {e.get('rsc')} with {e.get('with-rsc')} ({e.get('score')})"
    if e.tag == "rsc_order":
        return f"order {e.get('first')} then {e.get('then')} ({e.get('kind', 'Mandatory')})"
    if e.tag == "fencing-level":
        return f"fencing level {e.get('index')} of {e.get('target')}: {e.get('devices')}"
    if e.tag == "alert":
        kind = e.find(f"instance_attributes/nvpair[@name='{alert_agent.KIND}']")
        to = ", ".join(r.get("value", "") for r in e.iterfind("recipient"))
        return f"{kind.get('value') if kind is not None else ''} alert to {to}".lstrip()
    return f"{e.getparent().tag if e.getparent() is not None else ''} {e.tag}".strip()


# -- problems -------------------------------------------------------------------

def _shadowed_options(cib: etree._Element) -> list[Problem]:
    """Pacemaker reads ``cib-bootstrap-options`` first: the same option there wins over ours."""
    bootstrap = {p.get("name"): p.get("value") for p in
                 cib.iterfind("configuration/crm_config/cluster_property_set[@id='cib-bootstrap-options']/nvpair")}
    ours = cib.iterfind("configuration/crm_config/cluster_property_set[@id='pm-cluster-options']/nvpair")
    return [Problem(Severity.WARNING, Location("live CIB", key=f"cib-bootstrap-options.{p.get('name')}"),
                    f"{bootstrap[p.get('name')]!r} there overrides pacemail's {p.get('value')!r}")
            for p in ours if p.get("name") in bootstrap and bootstrap[p.get("name")] != p.get("value")]


def _unknown_nodes(description: Description, cib: etree._Element) -> list[Problem]:
    known = {n.get("uname") for n in cib.iterfind("configuration/nodes/node")}
    return [Problem(Severity.WARNING, Location("description", key="nodes"),
                    f"{n.name} is not a node of this cluster (known: {', '.join(sorted(known))})")
            for n in description.nodes if known and n.name not in known]


# -- impact ---------------------------------------------------------------------

def _impact(live_cib: bytes, then: tuple[Action, ...]) -> tuple[Impact, ...]:
    """Actions the merged CIB causes that the live one would not, per resource; the live CIB's
    transition is computed only when the merged one starts, stops, promotes or demotes anything."""
    if not any(a.op in EFFECTS for a in then):
        return ()
    now = set(transition(live_cib))
    extra = [a for a in then if a not in now]
    out = []
    for resource in dict.fromkeys(a.resource for a in extra if a.resource):
        ops = {op: tuple(sorted({a.node for a in extra if a.resource == resource and a.op == op}))
               for op in EFFECTS}
        if ops["stop"]:
            effect = ("stop" if not ops["start"] else
                      "restart" if set(ops["start"]) == set(ops["stop"]) else "move")
            out.append(Impact(resource, effect, ops["stop"], ops["start"]))
        elif ops["start"]:
            out.append(Impact(resource, "start", (), ops["start"]))
        if ops["demote"]:
            out.append(Impact(resource, "demote", ops["demote"], ops["promote"]))
        elif ops["promote"]:
            out.append(Impact(resource, "promote", (), ops["promote"]))
    return tuple(out)
