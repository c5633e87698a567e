"""What a CIB's resources are and who sits on whom: how ``pacemail import`` finds the stack.

A resource's part of the mail stack comes from its agent (:data:`KINDS`), its
place from the INFINITY colocations and groups around it (:class:`Graph`),
never from its id: hand-built clusters name things as they like.
"""

from __future__ import annotations

from collections import defaultdict

from pacemail.controller import values
from pacemail.controller.values import Invalid

KINDS = {
    ("ocf", "linbit", "drbd"): "drbd", ("ocf", "pacemail", "drbd"): "drbd",
    ("ocf", "heartbeat", "Filesystem"): "mount", ("ocf", "pacemail", "mount"): "mount",
    ("ocf", "heartbeat", "IPaddr2"): "vip", ("ocf", "pacemail", "vip"): "vip",
    ("ocf", "heartbeat", "postfix"): "postfix", ("ocf", "pacemail", "postfix"): "postfix",
    ("systemd", None, "postfix"): "postfix",
    ("ocf", "heartbeat", "dovecot"): "dovecot", ("ocf", "pacemail", "dovecot"): "dovecot",
    ("systemd", None, "dovecot"): "dovecot",
    ("ocf", "pacemail", "proxysql"): "proxysql", ("systemd", None, "proxysql"): "proxysql",
}
PROMOTED = ("Promoted", "Master")


def kind(e) -> str | None:
    if e.tag != "primitive":
        return None
    return KINDS.get((e.get("class"), e.get("provider"), e.get("type")))


def agent(e) -> str:
    return ":".join(p for p in (e.get("class"), e.get("provider"), e.get("type")) if p)


def exact(e, part: str) -> bool:
    """Already pacemail's own agent: its settings are kept as they are."""
    return (e.get("class"), e.get("provider"), e.get("type")) == ("ocf", "pacemail", part)


class Graph:
    """Who sits on whom: INFINITY colocations, and each group member on the one before it."""

    def __init__(self, resources, constraints):
        self.elements = {e.get("id"): e for e in resources.iter("primitive", "group", "clone",
                                                                "master", "bundle")}
        self.parent = {e.get("id"): e.getparent().get("id") for e in self.elements.values()
                       if e.getparent() is not resources}
        self.up: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        self.down: dict[str, list[str]] = defaultdict(list)
        for c in constraints.iterfind("rsc_colocation") if constraints is not None else ():
            if len(c) == 0 and values.score_number(c.get("score", "")) == float("inf"):
                self._edge(c.get("rsc"), c.get("with-rsc"), c.get("with-rsc-role"))
        for g in resources.iter("group"):
            members = [m.get("id") for m in g.iterfind("primitive")]
            for before, member in zip([g.get("id")] + members, members):
                self._edge(member, before, None)

    def _edge(self, dependent, primary, role):
        self.up[dependent].append((primary, role))
        self.down[primary].append(dependent)

    def drbd_under(self, mount: str) -> str | None:
        """The promotable DRBD clone ``mount`` sits on in its Promoted role."""
        seen, todo = {mount}, [mount]
        while todo:
            for primary, role in self.up[todo.pop(0)]:
                e = self.elements.get(primary)
                if e is None or primary in seen:
                    continue
                if role in PROMOTED and _drbd_clone(e):
                    return primary
                if e.tag in ("primitive", "group"):
                    seen.add(primary)
                    todo.append(primary)
        return None

    def on(self, mount: str) -> list[str]:
        """Everything that sits on ``mount``, in document order, groups with their members."""
        found, todo = {mount}, [mount]
        while todo:
            x = todo.pop()
            near = list(self.down[x])
            if self.elements[x].tag == "group":
                near += [m.get("id") for m in self.elements[x].iterfind("primitive")]
            if x in self.parent and self.elements[self.parent[x]].tag == "group":
                near.append(self.parent[x])
            for y in near:
                if y in self.elements and y not in found and self.elements[y].tag != "bundle":
                    found.add(y)
                    todo.append(y)
        return [i for i in self.elements if i in found]

    def nearest(self, start: str, wanted: set[str], stop: set[str]) -> list[str]:
        """The ``wanted`` resources ``start`` sits on first, not looking past ``stop``."""
        seen, todo, out = {start}, [start], []
        while todo:
            for primary, _ in self.up[todo.pop(0)]:
                if primary in seen:
                    continue
                seen.add(primary)
                if primary in wanted:
                    out.append(primary)
                elif primary not in stop:
                    todo.append(primary)
        return out


def _drbd_clone(e) -> bool:
    member = e.find("primitive")
    return e.tag in ("clone", "master") and member is not None and kind(member) == "drbd" \
        and (e.tag == "master" or promotable(e))


def promotable(e) -> bool:
    """A clone with the meta attribute ``promotable`` true (however Pacemaker spells it)."""
    for nv in e.iterfind("meta_attributes/nvpair[@name='promotable']"):
        try:
            return values.boolean(nv.get("value", "")) == "true"
        except Invalid:
            return False
    return False
