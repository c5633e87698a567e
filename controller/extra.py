"""The ``extra:`` section: the escape hatch for anything beyond the mail stack.

Primitives, groups, clones and constraints in a pcs-like vocabulary, read
into the same generic records (``model.py``) the mail stack expands into. A
mixin of the description schema: it uses the schema's reader (``self.r``),
name-list reader (``self.names``) and name claims (``self.claim``).
"""

from __future__ import annotations

import re

from pacemail.controller import values
from pacemail.controller.model import (
    Agent, Clone, Colocation, Constraint, Group, Op, Order, Primitive, Resource, RscLocation,
)
from pacemail.controller.values import AGENT, NAME, NAME_TEXT, NODE_NAME, WORD, shown
from pacemail.controller.yamlread import child

ROLES = ("Started", "Stopped", "Promoted", "Unpromoted")
LEGACY_ROLES = {"Master": "Promoted", "Slave": "Unpromoted"}


class ExtraSections:
    # -- extra (the escape hatch) -------------------------------------------------

    def extra(self, node, path):
        r = self.r
        s = r.mapping(node, path, ("primitives", "groups", "clones", "constraints"))
        if s is None:
            return None
        primitives = {}
        for i, item in enumerate(s.get("primitives", r.sequence, []) or []):
            p = self.extra_primitive(item, child(s.path("primitives"), i))
            if p:
                primitives[p.name] = p
        used: set[str] = set()
        groups = {}
        for i, item in enumerate(s.get("groups", r.sequence, []) or []):
            g = self.extra_group(item, child(s.path("groups"), i), primitives, used)
            if g:
                groups[g.name] = g
        clones = []
        for i, item in enumerate(s.get("clones", r.sequence, []) or []):
            c = self.extra_clone(item, child(s.path("clones"), i), primitives | groups, used)
            if c:
                clones.append(c)
        top: list[Resource] = [p for p in primitives.values() if p.name not in used]
        top += [g for g in groups.values() if g.name not in used] + clones
        self._clone_members = {c.member.name: c.name for c in clones}
        constraints = []
        for i, item in enumerate(s.get("constraints", r.sequence, []) or []):
            c = self.extra_constraint(item, child(s.path("constraints"), i))
            if c:
                constraints.append((c, item, child(s.path("constraints"), i)))
        self._extra_constraints = constraints
        return tuple(top), tuple(c for c, _, _ in constraints)

    def extra_primitive(self, node, path) -> Primitive | None:
        r = self.r
        s = r.mapping(node, path, ("name", "agent", "params", "meta", "ops"), required=("name", "agent"))
        if s is None:
            return None
        name = s.get("name", r.string, pattern=NAME, expected=NAME_TEXT)
        agent = s.get("agent", r.string, pattern=AGENT,
                      expected="an agent as standard[:provider]:type, e.g. ocf:heartbeat:IPaddr2 or "
                               "systemd:nginx (a type is a name, never a path; stonith: takes fence_*)")
        params = s.get("params", r.attributes, {})
        meta = s.get("meta", r.attributes, {}, checks=values.META)
        ops = []
        seen = set()
        for i, item in enumerate(s.get("ops", r.sequence, []) or []):
            op = self.op(item, child(s.path("ops"), i))
            if op is None:
                continue
            if (op.name, values.duration_ms(op.interval)) in seen:
                r.error(item, child(s.path("ops"), i),
                        f"two {op.name} operations with interval {op.interval}; Pacemaker needs them distinct")
            seen.add((op.name, values.duration_ms(op.interval)))
            ops.append(op)
        if None in (name, agent, params, meta) or not self.claim(name, s.node("name"), s.path("name")):
            return None
        standard, _, rest = agent.partition(":")
        provider, _, kind = rest.rpartition(":")
        located = dict(s.locations())
        return Primitive(name, Agent(standard, provider or None, kind), tuple(params.items()),
                         tuple(meta.items()), tuple(ops), r.location(node, path),
                         tuple((k, located[f"params.{k}"]) for k in params))

    def op(self, node, path) -> Op | None:
        r = self.r
        s = r.mapping(node, path, ("name", "interval", "timeout", "role"), required=("name",))
        if s is None:
            return None
        name = s.get("name", r.string, pattern=WORD, expected="an operation name such as monitor")
        interval = s.get("interval", r.string, "0s", check=values.duration)
        timeout = s.get("timeout", r.string, check=values.duration)
        role = s.get("role", self.role)
        if name is None or interval is None or ("timeout" in s and timeout is None) or ("role" in s and role is None):
            return None
        return Op(name, interval, timeout, role)

    def role(self, node, path) -> str | None:
        text = self.r.string(node, path, expected="a role")
        if text in LEGACY_ROLES:
            self.r.error(node, path, f"Pacemaker 2.1 calls the role {LEGACY_ROLES[text]!r}, not {text!r}")
            return None
        if text is not None and text not in ROLES:
            self.r.error(node, path, f"expected one of {', '.join(ROLES)}, got {shown(text)}")
            return None
        return text

    def extra_group(self, node, path, primitives: dict, used: set) -> Group | None:
        r = self.r
        s = r.mapping(node, path, ("name", "resources", "meta"), required=("name", "resources"))
        if s is None:
            return None
        name = s.get("name", r.string, pattern=NAME, expected=NAME_TEXT)
        members = s.get("resources", self.names) or ()
        meta = s.get("meta", r.attributes, {}, checks=values.META)
        if name is None or not self.claim(name, s.node("name"), s.path("name")):
            return None
        out = []
        for member in members:
            if member not in primitives:
                r.error(s.node("resources"), s.path("resources"),
                        f"{member!r} is not a primitive of extra.primitives; a group holds primitives only")
            elif member in used:
                r.error(s.node("resources"), s.path("resources"), f"{member!r} is already in a group or clone")
            else:
                used.add(member)
                out.append(primitives[member])
        if meta is None or not out:
            return None
        return Group(name, tuple(out), tuple(meta.items()))

    def extra_clone(self, node, path, resources: dict, used: set) -> Clone | None:
        r = self.r
        s = r.mapping(node, path, ("name", "resource", "promotable", "meta"), required=("name", "resource"))
        if s is None:
            return None
        name = s.get("name", r.string, pattern=NAME, expected=NAME_TEXT)
        member = s.get("resource", r.string, pattern=NAME, expected=NAME_TEXT)
        promotable = s.get("promotable", r.boolean, False)
        meta = s.get("meta", r.attributes, {}, checks=values.META)
        if member is not None and member not in resources:
            r.error(s.node("resource"), s.path("resource"),
                    f"{member!r} is not a primitive or group of extra:")
            return None
        if member in used:
            r.error(s.node("resource"), s.path("resource"), f"{member!r} is already in a group or clone")
            return None
        if None in (name, member, promotable, meta) or not self.claim(name, s.node("name"), s.path("name")):
            return None
        used.add(member)
        return Clone(name, resources[member], promotable, tuple(meta.items()))

    def extra_constraint(self, node, path) -> Constraint | None:
        r = self.r
        s = r.mapping(node, path)
        if s is None:
            return None
        kind = s.get("type", r.string, expected="location, colocation or order")
        fields = {
            "location": ("type", "name", "resource", "node", "score", "role"),
            "colocation": ("type", "name", "resource", "with", "score", "role", "with_role"),
            "order": ("type", "name", "first", "then", "first_action", "then_action", "kind"),
        }
        if kind not in fields:
            r.error(s.node("type") or node, s.path("type"),
                    f"expected type: location, colocation or order, got {shown(kind)}")
            return None
        required = {"location": ("resource", "node"), "colocation": ("resource", "with"),
                    "order": ("first", "then")}[kind]
        s = r.mapping(node, path, fields[kind], required=required)
        if s is None or any(k not in s for k in required):
            return None
        ref = dict(pattern=NAME, expected=NAME_TEXT)
        score = s.get("score", r.string, "INFINITY", check=values.score)
        role = s.get("role", self.role)
        if kind == "location":
            rsc, target = s.get("resource", r.string, **ref), s.get("node", r.string, pattern=NODE_NAME,
                                                                    expected="a node name")
            name = s.get("name", r.string, f"loc-{rsc}-on-{target}", **ref)
            if None in (rsc, target, name, score) or not self.claim_constraint(name, s, node, path):
                return None
            return RscLocation(name, rsc, target, score, role)
        if kind == "colocation":
            rsc, other = s.get("resource", r.string, **ref), s.get("with", r.string, **ref)
            name = s.get("name", r.string, f"col-{rsc}-with-{other}", **ref)
            with_role = s.get("with_role", self.role)
            if None in (rsc, other, name, score) or not self.claim_constraint(name, s, node, path):
                return None
            return Colocation(name, rsc, other, score, role, with_role)
        first, then = s.get("first", r.string, **ref), s.get("then", r.string, **ref)
        action = dict(pattern=re.compile("start|stop|promote|demote"), expected="start, stop, promote or demote")
        first_action = s.get("first_action", r.string, "start", **action)
        then_action = s.get("then_action", r.string, "start", **action)
        order_kind = s.get("kind", r.string, "Mandatory", pattern=re.compile("Mandatory|Optional|Serialize"),
                           expected="Mandatory, Optional or Serialize")
        name = s.get("name", r.string, f"ord-{first}-then-{then}", **ref)
        if None in (first, then, first_action, then_action, order_kind, name) \
                or not self.claim_constraint(name, s, node, path):
            return None
        return Order(name, first, then, first_action, then_action, order_kind)

    def claim_constraint(self, name: str, s, node, path) -> bool:
        """A constraint's name, given or made from what it links, claimed where it is written."""
        if "name" in s:
            return self.claim(name, s.node("name"), s.path("name"))
        return self.claim(name, node, path)
