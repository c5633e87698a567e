"""CIB element builders and the id and ownership rules.

Ownership: pacemail owns exactly the elements whose id starts with ``pm-``
(resources, their nvsets, nvpairs and operations, constraints, fencing
levels, alerts, the cluster-options, rsc_defaults and op_defaults sets). Every
resource and alert it creates also carries ``description="managed by pacemail"``, a
mark a person sees in ``pcs resource config`` / ``crm configure show``;
constraints, nvsets and fencing levels have no free attribute in the
Pacemaker schema, so for them the id prefix is the mark. A later apply
touches only owned elements and leaves everything else in the CIB alone.
"""

from __future__ import annotations

import re

from lxml import etree

from pacemail.agents import alert as alert_agent
from pacemail.agents.install import alert_path
from pacemail.controller.model import (
    Alert, Clone, Colocation, Constraint, FencingLevel, Group, Node, Op, Order, Pairs,
    Primitive, Resource, RscLocation,
)
from pacemail.controller.values import duration_ms

PREFIX = "pm-"
MARK = "managed by pacemail"
_NOT_ID = re.compile(r"[^A-Za-z0-9_.-]")
MARKED = ("primitive", "group", "clone", "alert")   # elements with a free description attribute

E = etree.Element
S = etree.SubElement


def owned_id(name: str) -> str:
    return PREFIX + name


def sub_id(*parts: str) -> str:
    """An id derived from its parent's: parts joined by '-', odd characters as '_'."""
    return "-".join(_NOT_ID.sub("_", p) for p in parts)


def is_owned(element: etree._Element) -> bool:
    """Owned by pacemail: ``pm-`` id and, on a resource, the description mark."""
    if not element.get("id", "").startswith(PREFIX):
        return False
    if element.tag in MARKED:
        return element.get("description") == MARK
    return True


def nvset(parent: etree._Element, tag: str, set_id: str, pairs: Pairs) -> etree._Element:
    element = S(parent, tag, id=set_id)
    for name, value in pairs:
        S(element, "nvpair", id=sub_id(set_id, name), name=name, value=value)
    return element


def failback_window(parent: etree._Element, fields: Pairs) -> etree._Element:
    """The rsc_defaults set that lets the stack go back to its preferred node inside a
    time window: while its date_spec rule holds it outranks the main set (score 2 over
    1, Pacemaker reads the higher first) and sets stickiness 0."""
    set_id = owned_id("failback-window")
    element = S(parent, "meta_attributes", id=set_id, score="2")
    rule = S(element, "rule", id=sub_id(set_id, "rule"), score="0")   # schema 3.7 wants one
    when = S(rule, "date_expression", id=sub_id(set_id, "when"), operation="date_spec")
    S(when, "date_spec", id=sub_id(set_id, "spec"), **dict(fields))
    S(element, "nvpair", id=sub_id(set_id, "resource-stickiness"), name="resource-stickiness",
      value="0")
    return element


def resource(r: Resource) -> etree._Element:
    if isinstance(r, Primitive):
        return primitive(r)
    if isinstance(r, Group):
        return group(r)
    return clone(r)


def primitive(p: Primitive) -> etree._Element:
    rid = owned_id(p.name)
    element = E("primitive", id=rid, description=MARK)
    element.set("class", p.agent.standard)
    if p.agent.provider:
        element.set("provider", p.agent.provider)
    element.set("type", p.agent.type)
    if p.params:
        nvset(element, "instance_attributes", sub_id(rid, "instance_attributes"), p.params)
    _meta(element, rid, p.meta)
    if p.ops:
        ops = S(element, "operations")
        for op in p.ops:
            ops.append(operation(rid, op))
    return element


def operation(rid: str, op: Op) -> etree._Element:
    parts = [rid, op.name, op.interval] + ([op.role.lower()] if op.role else [])
    element = E("op", id=sub_id(*parts), name=op.name, interval=op.interval)
    if op.timeout:
        element.set("timeout", op.timeout)
    if op.role:
        element.set("role", op.role)
    return element


def group(g: Group) -> etree._Element:
    gid = owned_id(g.name)
    element = E("group", id=gid, description=MARK)
    _meta(element, gid, g.meta)
    for member in g.members:
        element.append(primitive(member))
    return element


def clone(c: Clone) -> etree._Element:
    cid = owned_id(c.name)
    element = E("clone", id=cid, description=MARK)
    meta = c.meta
    if c.promotable and ("promotable", "true") not in meta:
        meta = (("promotable", "true"),) + meta
    _meta(element, cid, meta)
    element.append(resource(c.member))
    return element


def _meta(element: etree._Element, owner_id: str, pairs: Pairs) -> None:
    if pairs:
        nvset(element, "meta_attributes", sub_id(owner_id, "meta_attributes"), pairs)


def constraint(c: Constraint) -> etree._Element:
    cid = owned_id(c.name)
    if isinstance(c, RscLocation):
        element = E("rsc_location", id=cid, rsc=owned_id(c.resource), node=c.node, score=c.score)
        _optional(element, role=c.role)
    elif isinstance(c, Colocation):
        element = E("rsc_colocation", id=cid, rsc=owned_id(c.resource),
                    **{"with-rsc": owned_id(c.with_resource)}, score=c.score)
        _optional(element, **{"rsc-role": c.role, "with-rsc-role": c.with_role,
                               "influence": None if c.influence else "false"})
    else:
        assert isinstance(c, Order)
        element = E("rsc_order", id=cid, first=owned_id(c.first), then=owned_id(c.then),
                    **{"first-action": c.first_action, "then-action": c.then_action}, kind=c.kind)
    return element


def _optional(element: etree._Element, **attributes: str | None) -> None:
    for name, value in attributes.items():
        if value is not None:
            element.set(name, value)


def fencing_level(level: FencingLevel) -> etree._Element:
    return E("fencing-level", id=owned_id(sub_id("fl", level.target, str(level.index))),
             target=level.target, index=str(level.index),
             devices=",".join(owned_id(d) for d in level.devices))


def node(n: Node) -> etree._Element:
    """A node entry; its id is corosync's node id, so it is the cluster's, not pacemail's."""
    return E("node", id=str(n.nodeid), uname=n.name)


def alert(a: Alert, cluster: str) -> etree._Element:
    """An alert run by pacemail's alert agent: its kind and settings go to the agent as
    instance attributes (variables of its environment), Pacemaker's own as meta attributes."""
    aid = owned_id(a.name)
    element = E("alert", id=aid, description=MARK, path=str(alert_path()))
    if a.select:
        select = S(element, "select")
        for kind in a.select:
            S(select, f"select_{kind}")
    meta = (("timeout", a.timeout),)
    if a.timestamp_format is not None:
        meta += (("timestamp-format", a.timestamp_format),)
    nvset(element, "meta_attributes", sub_id(aid, "meta_attributes"), meta)
    params = ((alert_agent.KIND, a.kind), (alert_agent.TIMEOUT_MS, str(int(duration_ms(a.timeout)))))
    if a.kind == "smtp":
        params += ((alert_agent.CLUSTER, cluster),)
    for name, value in ((alert_agent.SERVER, a.server), (alert_agent.PORT, a.port),
                        (alert_agent.SENDER, a.sender)):
        if value is not None:
            params += ((name, str(value)),)
    nvset(element, "instance_attributes", sub_id(aid, "instance_attributes"), params)
    for i, value in enumerate(a.recipients, 1):
        S(element, "recipient", id=sub_id(aid, "recipient", str(i)), value=value)
    return element
