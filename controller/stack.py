"""The mail stack of a description, expanded into generic Pacemaker records.

The mail stack's tree: a promotable DRBD clone; the file system mounted where DRBD
is Promoted; the mail VIPs on top of the mount; postfix instances and dovecot
on top of the VIPs; ProxySQL's own VIP, then ProxySQL, also on the storage
node. Each edge of the tree is one colocation plus one order constraint,
named after what it says (``col-mount-with-drbd-promoted``), except that a
mail VIP starts next to the mount, not after it (see ``_stack_constraints``). Fence devices
become stonith primitives. The ``extra:`` records follow unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacemail.controller.model import (
    Agent, Clone, Colocation, Constraint, Description, FenceDevice, FencingLevel,
    Op, Order, Pairs, Primitive, Resource, RscLocation, Vip,
)

# Score of ``placement.preferred_node``; the default stickiness outweighs it.
PREFERENCE_SCORE = 100

# The secret's value stays out of the CIB: Pacemaker's CIB secrets read it from
# /var/lib/pacemaker/lrm/secrets/<resource>/<parameter> on each node.
SECRET_VALUE = "lrm://"

# The operations the mail stack's primitives get, in this order.
OPERATIONS = ("start", "stop", "promote", "demote", "notify", "monitor")
FENCE_OPS = (Op("monitor", "60s", "20s"),)


def agent_ops(name: str) -> tuple[Op, ...]:
    """The operations ``ocf:pacemail:<name>`` advertises in its meta-data, with their
    timeouts and intervals: the agent's declaration is their one source."""
    from pacemail.agents import load, metadata

    agent = load(name)
    entries = [e for op in OPERATIONS if op in agent.actions
               for e in metadata.action_entries(agent, agent.actions[op])]
    return tuple(Op(e["name"], e.get("interval", "0s"), e["timeout"], e.get("role"))
                 for e in entries)


# What ``operations:`` in a description can override, by part.
DEFAULT_OPS = {**{part: agent_ops(part) for part in
                  ("drbd", "mount", "vip", "postfix", "dovecot", "proxysql")},
               "stonith": FENCE_OPS}

# Agent parameter -> the description key it comes from, where the names differ.
MOUNT_KEYS = {"directory": "mount_point", "options": "mount_options"}
VIP_KEYS = {"ip": "address", "cidr_netmask": "prefix", "nic": "interface"}

DRBD = "drbd"
DRBD_CLONE = "drbd-clone"
MOUNT = "mount"
PROXYSQL = "proxysql"
PROXYSQL_VIP = "vip-proxysql"


@dataclass(frozen=True)
class Expanded:
    resources: tuple[Resource, ...]
    constraints: tuple[Constraint, ...]
    fencing_levels: tuple[FencingLevel, ...]


def pacemail_agent(name: str) -> Agent:
    return Agent("ocf", "pacemail", name)


def vip_name(vip: Vip) -> str:
    return f"vip-{vip.name}"


def postfix_name(instance_name: str) -> str:
    return f"postfix-{instance_name}"


def op_key(op: Op) -> str:
    """How ``operations:`` names an operation: ``monitor``, or ``monitor-promoted`` for a role's."""
    return f"{op.name}-{op.role.lower()}" if op.role else op.name


def with_overrides(defaults: tuple[Op, ...], given) -> tuple[Op, ...]:
    """``defaults`` with each operation replaced by the given one of the same name and role."""
    by_key = {op_key(op): op for op in given}
    return tuple(by_key.get(op_key(op), op) for op in defaults)


def _ops(d: Description, part: str) -> tuple[Op, ...]:
    return with_overrides(DEFAULT_OPS[part], [op for p, op in d.operations if p == part])


def stack_names(d: Description) -> list[str]:
    """Every name pacemail takes for itself, for clash checks: the mail stack's resources (the
    DRBD primitive inside its clone too) and the constraints it adds (fence devices' included)."""
    return ([r.name for r in _stack_resources(d)] + [DRBD]
            + [c.name for c in _stack_constraints(d) + _fence_constraints(d)])


def expand(d: Description) -> Expanded:
    return Expanded(
        resources=_fence_resources(d) + _stack_resources(d) + d.extra_resources,
        constraints=_stack_constraints(d) + _fence_constraints(d) + d.extra_constraints,
        fencing_levels=d.fencing_levels,
    )


def _stack_resources(d: Description) -> tuple[Resource, ...]:
    meta = _priority(d)
    s = d.storage
    drbd = Primitive(DRBD, pacemail_agent("drbd"), (("drbd_resource", s.drbd_resource),),
                     ops=_ops(d, "drbd"), where=d.storage_where, param_where=_located(s.keys, {}))
    clone_meta = (
        ("promotable", "true"), ("promoted-max", "1"), ("promoted-node-max", "1"),
        ("clone-max", str(len(d.nodes))), ("clone-node-max", "1"), ("notify", "true"),
    ) + meta
    mount_params = (("device", s.device), ("directory", s.mount_point), ("fstype", s.fstype))
    if s.mount_options:
        mount_params += (("options", s.mount_options),)
    mount_params += (("drbd_resource", s.drbd_resource),)
    out: list[Resource] = [
        Clone(DRBD_CLONE, drbd, promotable=True, meta=clone_meta),
        Primitive(MOUNT, pacemail_agent("mount"), mount_params, meta, _ops(d, "mount"),
                  d.storage_where, _located(s.keys, MOUNT_KEYS)),
    ]
    vip_ops = _ops(d, "vip")
    out += [_vip(v, meta, vip_ops, d.vips_where) for v in d.vips]
    out += [Primitive(postfix_name(p.name), pacemail_agent("postfix"),
                      (("config_dir", p.config_dir),) + p.params, meta, _ops(d, "postfix"), p.where,
                      _located(p.keys, {}))
            for p in d.postfix]
    if d.dovecot:
        out.append(Primitive("dovecot", pacemail_agent("dovecot"),
                             (("config_file", d.dovecot.config_file),) + d.dovecot.params,
                             meta, _ops(d, "dovecot"), d.dovecot.where, _located(d.dovecot.keys, {})))
    if d.proxysql:
        p = d.proxysql
        out.append(_vip(p.vip, meta, vip_ops, p.where))
        out.append(Primitive(PROXYSQL, pacemail_agent("proxysql"), (
            ("config", p.config), ("datadir", p.datadir),
            ("admin_port", str(p.admin_port)), ("proxy_port", str(p.proxy_port)),
        ) + p.params, meta, _ops(d, "proxysql"), p.where, _located(p.keys, {})))
    return tuple(out)


def _located(keys, renamed: dict[str, str]):
    """Where each agent parameter is written: under the key ``renamed`` gives, its own
    name, or ``params.NAME``."""
    back = {key: param for param, key in renamed.items()}
    return tuple((back.get(key, key.removeprefix("params.")), location) for key, location in keys)


def _vip(v: Vip, meta: Pairs, ops: tuple[Op, ...], where) -> Primitive:
    params = (("ip", v.address), ("cidr_netmask", str(v.prefix)))
    if v.interface:
        params += (("nic", v.interface),)
    return Primitive(vip_name(v), pacemail_agent("vip"), params, meta, ops, where,
                     _located(v.keys, VIP_KEYS))


def _priority(d: Description) -> Pairs:
    """Resource priority: what priority-fencing-delay weighs to pick the node that survives."""
    return (("priority", str(d.placement.priority)),) if d.placement.priority else ()


def _on_top(upper: str, lower: str, lower_role: str | None = None,
            lower_action: str = "start", influence: bool = True) -> tuple[Constraint, ...]:
    """``upper`` runs where ``lower`` runs and starts after it; without ``influence``,
    ``upper`` follows ``lower`` but never moves it."""
    role = f"-{lower_role.lower()}" if lower_role else ""
    lower_label = lower.removesuffix("-clone")
    action = f"-{lower_action}" if lower_action != "start" else ""
    return (
        Colocation(f"col-{upper}-with-{lower_label}{role}", upper, lower, with_role=lower_role,
                   influence=influence),
        Order(f"ord-{lower_label}{action}-then-{upper}", lower, upper, first_action=lower_action),
    )


def _stack_constraints(d: Description) -> tuple[Constraint, ...]:
    out = list(_on_top(MOUNT, DRBD_CLONE, "Promoted", "promote"))
    # A mail VIP runs with the mount but starts as soon as DRBD is promoted, next to the
    # mount: a failover's critical path is promote -> max(mount, VIP) -> the daemons, not
    # promote -> mount -> VIP -> the daemons. The daemons start after both.
    for v in d.vips:
        out += [Colocation(f"col-{vip_name(v)}-with-{MOUNT}", vip_name(v), MOUNT),
                Order(f"ord-drbd-promote-then-{vip_name(v)}", DRBD_CLONE, vip_name(v),
                      first_action="promote")]
    services = [(postfix_name(p.name), p.vips) for p in d.postfix]
    if d.dovecot:
        services.append(("dovecot", d.dovecot.vips))
    for name, vips in services:
        for v in vips:
            out += _on_top(name, f"vip-{v}")
        out.append(Order(f"ord-{MOUNT}-then-{name}", MOUNT, name))
    if d.dovecot:
        # postfix hands mail to dovecot over LMTP: when both start in one
        # transition (a failover), dovecot goes first so no delivery is
        # deferred into postfix's queue; Optional, so restarting dovecot alone
        # never restarts postfix.
        out += [Order(f"ord-dovecot-then-{postfix_name(p.name)}", "dovecot", postfix_name(p.name),
                      kind="Optional") for p in d.postfix]
    if d.proxysql:
        # ProxySQL follows the mail store but never moves it: a ProxySQL that cannot start
        # on the active node (not installed there, a bad config) stops there, with its
        # failure in crm_mon, instead of dragging the mailboxes through every node.
        out += _on_top(PROXYSQL_VIP, MOUNT, influence=False)
        out += _on_top(PROXYSQL, PROXYSQL_VIP, influence=False)
    if d.placement.preferred_node:
        node = d.placement.preferred_node
        out.append(RscLocation(f"loc-{MOUNT}-prefers-{node}", MOUNT, node, str(PREFERENCE_SCORE)))
    return tuple(out)


def _fence_resources(d: Description) -> tuple[Resource, ...]:
    ops = _ops(d, "stonith")
    return tuple(_fence_primitive(f, ops) for f in d.fence_devices)


def _fence_primitive(f: FenceDevice, ops: tuple[Op, ...]) -> Primitive:
    params: Pairs = ()
    if f.host_map:
        params += (("pcmk_host_map", ";".join(f"{n}:{p}" for n, p in f.host_map)),)
    elif f.hosts:
        params += (("pcmk_host_list", " ".join(f.hosts)),)
    params += f.params + tuple((name, SECRET_VALUE) for name, _ in f.secrets)
    return Primitive(f.name, Agent("stonith", None, f.agent), params, (), ops, f.where)


def _fence_constraints(d: Description) -> tuple[Constraint, ...]:
    """A device that fences exactly one node never runs on that node."""
    out = []
    for f in d.fence_devices:
        targets = [n for n, _ in f.host_map] or list(f.hosts)
        if len(targets) == 1:
            out.append(RscLocation(f"loc-{f.name}-avoids-{targets[0]}", f.name, targets[0], "-INFINITY"))
    return tuple(out)
