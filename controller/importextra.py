"""The CIB's other resources and its constraints, as a description's ``extra:``.

Part of ``pacemail import`` (``importer.py``). Resources keep their agents,
parameters, meta attributes and operations; each takes its id as its name
(pacemail's own without ``pm-``; another name when the id is no name or is
taken, noted). Constraints are held against the ones pacemail makes itself
(the mail stack's tree, fence devices' locations): one equal to one of those
is reproduced; one between the same resources that says something else
gives way to pacemail's (noted); any other becomes an ``extra:`` constraint.
A group pacemail dissolved into its tree stands, in a constraint, for its
first member, or its last where the group is done starting (order ``first``
start, ``then`` stop). Moves and bans (``cli-*``) and DRBD's fence constraints
are commands' work, not configuration, and stay in the CIB.
"""

from __future__ import annotations

from dataclasses import replace

from pacemail.controller import cibxml, values
from pacemail.controller.importcib import Reading, constraint, name_of, pairs
from pacemail.controller.importops import ops
from pacemail.controller.importstack import Stack
from pacemail.controller.model import Colocation, Constraint, Order, RscLocation

# Constraints a command made, not the configuration: moves and bans, DRBD's fence-peer.
OPERATIONAL = ("cli-prefer-", "cli-ban-", "drbd-fence-by-handler-")


def refs(configuration, s: Stack, names: dict[str, str]):
    """How a constraint's resource id becomes a description name: a group dissolved into the
    tree stands for its first member, or its last where the group is done starting."""
    members = {m.get("id") for c in configuration.iterfind("resources/*") if c.tag in ("clone", "master")
               for m in c.iter("primitive", "group") if m is not c}

    def ref(rid: str, attribute: str, action: str) -> str | None:
        if rid in s.dissolved:
            last = (attribute == "first") == (action in ("start", "promote"))
            rid = s.dissolved[rid][-1 if last else 0]
        return None if rid in members else names.get(rid)
    return ref


class Extra:
    """The CIB's other resources and its constraints, as ``extra:``."""

    def __init__(self, r: Reading, names: dict, reserved: set, nodes, ref, placed: set):
        self.r, self.names, self.ref, self.placed = r, names, ref, placed
        self.reserved = reserved | set(names.values())
        self.nodes = dict(nodes)
        self.out: dict = {"primitives": [], "groups": [], "clones": [], "constraints": []}

    def read(self, configuration, s: Stack, tree: tuple[Constraint, ...]) -> dict:
        for e in configuration.iterfind("resources/*"):
            if e.get("id") in s.dissolved:
                for m in e.iterfind("primitive"):
                    if m.get("id") not in self.names:
                        self.resource(m, member=True)
            elif isinstance(e.tag, str) and e.get("id") not in self.r.accounted:
                self.resource(e)
        for member, before in s.loose:
            if member in self.names and before in self.names:
                a, b = self.names[member], self.names[before]
                self.add(Colocation(self.unique(f"col-{a}-with-{b}"), a, b))
                self.add(Order(self.unique(f"ord-{b}-then-{a}"), b, a))
                self.r.note(f"{member}: with and after {before}, as in its group")
        for e in configuration.iterfind("constraints/*"):
            if e.get("id") in self.placed or not isinstance(e.tag, str):
                continue
            if e.get("id", "").startswith(OPERATIONAL):
                self.r.stays(e, "a move, a ban or a DRBD fence made by a command, not configuration")
            else:
                self.constraint(e, tree)
        return {k: v for k, v in self.out.items() if v}

    def name(self, e) -> str:
        """``e``'s id as a description name: unique, and a name the description takes."""
        wanted = name_of(e)
        base = wanted if values.NAME.fullmatch(wanted) else "r-" + "".join(
            c if c.isascii() and (c.isalnum() or c in "_.-") else "-" for c in wanted)[:60]
        name = self.unique(base)
        if name != wanted:
            self.r.note(f"{e.get('id')} is named {name} in the description")
        self.names[e.get("id")] = name
        return name

    def unique(self, base: str) -> str:
        name, n = base, 2
        while name in self.reserved:
            name, n = f"{base[:58]}-{n}", n + 1
        self.reserved.add(name)
        return name

    def resource(self, e, member: bool = False) -> None:
        if e.tag not in ("primitive", "group", "clone", "master"):
            self.r.stays(e, f"a description has no <{e.tag}>")
            return
        read = [(p, self.primitive(p)) for p in e.iter("primitive")]
        inner = [m for m in e if isinstance(m.tag, str) and m.tag in ("primitive", "group")]
        shaped = e.tag == "primitive" or (len(inner) == 1 if e.tag != "group" else
                                          inner and all(m.tag == "primitive" for m in inner))
        if any(p is None for _, p in read) or not shaped:
            if e.get("id") not in self.r.accounted:
                self.r.stays(e, "a part of it has no place in a description (see its other problems)")
            return
        if member:
            self.r.accounted.add(e.get("id"))
        else:
            self.r.takes(e)
        for element, primitive in read:
            self.out["primitives"].append({"name": self.name(element), **primitive})
        for g in e.iter("group"):
            self.out["groups"].append({"name": self.name(g), "resources": [
                self.names[m.get("id")] for m in g.iterfind("primitive")]} | self.meta(g))
        if e.tag in ("clone", "master"):
            meta = self.meta(e)
            promotable = e.tag == "master" or meta.get("meta", {}).pop("promotable", "false") == "true"
            if meta.get("meta") == {}:
                del meta["meta"]
            self.out["clones"].append({"name": self.name(e), "resource": self.names[inner[0].get("id")]}
                                      | ({"promotable": True} if promotable else {}) | meta)

    def meta(self, e) -> dict:
        meta = pairs(self.r, e, "meta_attributes", values.META)
        odd = sorted(set(e.attrib) - {"id", "description"}) + [
            c.tag for c in e if isinstance(c.tag, str) and c.tag not in ("meta_attributes", "primitive", "group")]
        if odd:
            self.r.loses(e, ", ".join(odd), f"a description's {e.tag}s have members and meta only")
        self._description(e)
        return {"meta": meta} if meta else {}

    def _description(self, e) -> None:
        if e.get("description") not in (None, cibxml.MARK):
            self.r.loses(e, "its description text", "pacemail marks its resources with its own")

    def primitive(self, e) -> dict | None:
        agent = ":".join(p for p in (e.get("class"), e.get("provider"), e.get("type")) if p)
        if "template" in e.attrib:
            self.r.stays(e, f"it takes its settings from template {e.get('template')}")
            return None
        if not values.AGENT.fullmatch(agent):
            self.r.stays(e, f"its agent {values.shown(agent)} is none a description takes")
            return None
        odd = sorted(set(e.attrib) - {"id", "class", "provider", "type", "description"}) + [
            c.tag for c in e if isinstance(c.tag, str)
            and c.tag not in ("instance_attributes", "meta_attributes", "operations")]
        if odd:
            self.r.loses(e, ", ".join(odd), "a description's primitives have params, meta and ops")
        self._description(e)
        out: dict = {"agent": agent}
        for key, tag, checks in (("params", "instance_attributes", None),
                                 ("meta", "meta_attributes", values.META)):
            found = pairs(self.r, e, tag, checks)
            if found:
                out[key] = found
        found_ops = [{k: v for k, v in vars(op).items() if v is not None} for op in ops(self.r, e)]
        return out | ({"ops": found_ops} if found_ops else {})

    def constraint(self, e, tree: tuple[Constraint, ...]) -> None:
        c = constraint(self.r, e, self.ref)
        if c is None:
            return
        same = [t for t in tree if _normal(t) == _normal(c)]
        pair = [t for t in tree if _pair(t) == _pair(c)]
        if same or pair:
            self.r.takes(e)
            if not same:
                self.r.note(f"{e.get('id')} -> {', '.join(t.name for t in pair)} (pacemail's tree)")
        elif isinstance(c, Colocation) and not c.influence:
            self.r.stays(e, "influence=false has no place in a description's colocations")
        elif isinstance(c, RscLocation) and c.node not in self.nodes:
            self.r.stays(e, f"{c.node} is not a node of this cluster")
        else:
            self.r.takes(e)
            self.add(replace(c, name=self.name(e)))

    def add(self, c: Constraint) -> None:
        if isinstance(c, RscLocation):
            entry = {"type": "location", "name": c.name, "resource": c.resource, "node": c.node,
                     "score": c.score, "role": c.role}
        elif isinstance(c, Colocation):
            entry = {"type": "colocation", "name": c.name, "resource": c.resource,
                     "with": c.with_resource, "score": c.score, "role": c.role, "with_role": c.with_role}
        else:
            entry = {"type": "order", "name": c.name, "first": c.first, "then": c.then,
                     "first_action": c.first_action, "then_action": c.then_action, "kind": c.kind}
        self.out["constraints"].append({k: v for k, v in entry.items() if v != DEFAULTS.get(k, "-")})


# What a constraint of ``extra:`` is when the key is not written.
DEFAULTS = {"score": "INFINITY", "first_action": "start", "then_action": "start",
            "kind": "Mandatory", "role": None, "with_role": None}


def _normal(c: Constraint):
    """A constraint as Pacemaker reads it: no name, ``Started`` as no role, one INFINITY."""
    if isinstance(c, Order):
        return replace(c, name="")
    score = c.score.lstrip("+")
    score = str(int(score)) if score.lstrip("-").isdigit() else score
    if isinstance(c, Colocation):
        return replace(c, name="", score=score, role=_started(c.role), with_role=_started(c.with_role))
    return replace(c, name="", score=score, role=_started(c.role))


def _started(role: str | None) -> str | None:
    return None if role == "Started" else role


def _pair(c: Constraint):
    """What a constraint links, whatever it says about it."""
    if isinstance(c, RscLocation):
        return (RscLocation, c.resource, c.node)
    ends = (c.resource, c.with_resource) if isinstance(c, Colocation) else (c.first, c.then)
    return (type(c), frozenset(ends))
