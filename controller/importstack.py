"""The mail stack of a hand-built CIB, found and converted to a description's sections.

The stack is where a description's ``storage``, ``vips`` and ``services``
come from. It is recognised by agent and by placement, never by id: the file
system (``ocf:heartbeat:Filesystem`` or ``ocf:pacemail:mount``) colocated,
directly or through its group, with a promotable DRBD clone
(``ocf:linbit:drbd`` or ``ocf:pacemail:drbd``) in the Promoted role; then
everything colocated with that mount (transitively, groups counting as the
chain of their members): the VIPs (``IPaddr2``/``vip``), postfix, dovecot and
ProxySQL with the VIP it sits on. Whatever else sits there stays a resource of
its own (``extra:``).

A description means pacemail's agents, so the stack is rendered with them:
each conversion is noted (``ocf:heartbeat:IPaddr2 vip-mail -> vips.mail``),
parameters the description has no place for are warnings, and a group holding
the stack is dissolved into pacemail's tree. Operation timings follow the
source where they say something: a longer timeout or another monitor
interval is kept in ``operations:``; a shorter timeout than pacemail's agent
declares is not (noted). Sources already on ``ocf:pacemail:*`` agents keep
their timings exactly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from pacemail.agents import load
from pacemail.controller import cibxml, stack, values
from pacemail.controller.importcib import Reading, checked, name_of, pairs
from pacemail.controller.importgraph import Graph, agent, exact, kind
from pacemail.controller.importops import Timings
from pacemail.controller.values import Invalid

# The description key each service's own agent parameter is written under.
OWN_KEYS = {"postfix": ("config_dir",), "dovecot": ("config_file",),
            "proxysql": ("config", "datadir", "admin_port", "proxy_port")}
# Meta attributes pacemail sets on the DRBD clone itself ("clone-max": the node count).
CLONE_META = {"promotable": "true", "promoted-max": "1", "promoted-node-max": "1",
              "clone-node-max": "1", "notify": "true"}
VIP_PARAMS = "a description's VIPs have address, prefix and interface only"
PRIMITIVE_PARTS = {"id", "class", "provider", "type", "description", "instance_attributes",
                   "meta_attributes", "operations", "primitive"}


@dataclass
class Stack:
    sections: dict                       # storage, vips, services as the description writes them
    priority: int
    names: dict[str, str]                # source id -> the stack's resource name
    dissolved: dict[str, list[str]]      # group id -> its member ids, in order
    loose: list[tuple[str, str]] = field(default_factory=list)  # (member, the member before it)
    mount: str = ""
    clone: str = ""


def find(r: Reading, configuration, nodes: int, timings: Timings) -> Stack | None:
    """The mail stack, or None (and an error saying what is missing)."""
    resources = configuration.find("resources")
    if resources is None:
        resources = configuration.makeelement("resources")
    graph = Graph(resources, configuration.find("constraints"))
    mounts = [i for i, e in graph.elements.items() if kind(e) == "mount"
              and graph.elements.get(graph.parent.get(i, ""), resources).tag not in ("clone", "master")]
    base = next(((m, graph.drbd_under(m)) for m in mounts if graph.drbd_under(m)), None)
    if base is None:
        r.error(None, "no mail volume: a description needs a file system (ocf:heartbeat:Filesystem "
                      "or ocf:pacemail:mount) colocated with a promotable DRBD clone (ocf:linbit:drbd "
                      "or ocf:pacemail:drbd) in its Promoted role"
                      + (f"; found file systems {', '.join(mounts)} on no such clone" if mounts else ""))
        return None
    mount, clone = base
    on = graph.on(mount)
    typed = {i: kind(graph.elements[i]) for i in on if graph.parent.get(i) not in _clones(graph)}
    s = Stack({}, 0, {clone: stack.DRBD_CLONE, mount: stack.MOUNT}, {}, mount=mount, clone=clone)
    reader = _Parts(r, graph, s, timings)
    storage = reader.storage(graph.elements[clone], graph.elements[mount], nodes)
    vips = {i: v for i in on if typed.get(i) == "vip" and (v := reader.vip(graph.elements[i]))}
    proxysql = next((i for i in on if typed.get(i) == "proxysql"), None)
    proxy_vip = graph.nearest(proxysql, set(vips), {mount}) if proxysql else []
    if proxysql and not proxy_vip:
        r.note(f"{proxysql}: ProxySQL on no VIP of its own stays a resource of its own (extra:)")
        proxysql = None
    mail_vips = {i: v for i, v in vips.items() if i not in proxy_vip[:1]}
    postfix = [i for i in on if typed.get(i) == "postfix"]
    dovecot = next((i for i in on if typed.get(i) == "dovecot"), None)
    if storage is None or not mail_vips or not postfix:
        missing = [w for w, ok in (("no usable DRBD resource and device (see above)", storage),
                                   ("no mail VIP", mail_vips), ("no postfix", postfix)) if not ok]
        r.error(graph.elements[mount], f"the mail stack on {mount} has {', '.join(missing)} "
                                       "colocated with it (directly or through a group); a "
                                       "description needs them")
        return None
    keys = reader.name_vips(mail_vips)
    services: dict = {"postfix": [reader.service("postfix", graph.elements[i], keys, mount)
                                  for i in postfix]}
    if dovecot:
        services["dovecot"] = reader.service("dovecot", graph.elements[dovecot], keys, mount)
    if proxysql:
        services["proxysql"] = reader.service("proxysql", graph.elements[proxysql], keys, mount)
        services["proxysql"] = {"vip": vips[proxy_vip[0]], **services["proxysql"]}
        reader.params(graph.elements[proxy_vip[0]], ("ip", "cidr_netmask", "nic"), VIP_PARAMS)
        reader.convert(graph.elements[proxy_vip[0]], "vip", "services.proxysql.vip", stack.PROXYSQL_VIP)
    s.sections = {"storage": storage, "vips": {keys[i]: v for i, v in mail_vips.items()},
                  "services": services}
    reader.groups(on)
    return s


def _clones(graph: Graph) -> set[str]:
    return {i for i, e in graph.elements.items() if e.tag in ("clone", "master")}


class _Parts:
    """Reads each part of the stack: its parameters, meta attributes and operation timings."""

    def __init__(self, r: Reading, graph: Graph, s: Stack, timings: Timings):
        self.r, self.graph, self.s, self.timings = r, graph, s, timings

    def convert(self, e, part: str, key: str, name: str) -> None:
        self.r.takes(e)
        self.s.names[e.get("id")] = name
        if not exact(e, part):
            self.r.note(f"{agent(e)} {e.get('id')} -> {key} (ocf:pacemail:{part}, "
                        f"resource {name})")
        self.meta(e)
        self.timings.add(e, part, exact(e, part))

    def meta(self, e, managed: dict | None = None) -> None:
        """``e``'s priority (placement.priority); what else it has is lost."""
        odd = sorted(set(e.attrib) - PRIMITIVE_PARTS)
        odd += [c.tag for c in e if isinstance(c.tag, str) and c.tag not in PRIMITIVE_PARTS]
        if odd:
            self.r.loses(e, ", ".join(odd), "the mail stack's resources are pacemail's")
        if e.get("description") not in (None, cibxml.MARK):
            self.r.loses(e, "its description text", "pacemail marks its resources with its own")
        meta = pairs(self.r, e, "meta_attributes", values.META)
        if "priority" in meta:
            priority = int(meta.pop("priority"))
            if priority < 0 or self.s.priority and priority != self.s.priority:
                self.r.loses(e, f"its priority {priority}", f"placement.priority is one for the "
                                                            f"stack, from 0 ({self.s.priority})")
            else:
                self.s.priority = priority
        for name, want in (managed or {}).items():
            have = meta.pop(name, None)
            if have is not None and have != want:
                self.r.note(f"{e.get('id')}: meta attribute {name} {have} -> {want} (pacemail's)")
        for name in meta:
            self.r.loses(e, f"meta attribute {name}", "the mail stack takes pacemail's meta "
                                                      "attributes (only placement.priority is yours)")

    def params(self, e, used: tuple[str, ...], why: str) -> dict[str, str]:
        given = pairs(self.r, e, "instance_attributes")
        for name in given:
            if name not in used:
                self.r.loses(e, f"parameter {name}", why)
        return {k: v for k, v in given.items() if k in used}

    def value(self, e, label: str, value: str | None, check) -> str | None:
        return None if value is None else checked(self.r, e, label, value, check)

    def storage(self, clone, mount, nodes: int) -> dict | None:
        drbd = clone.find("primitive")
        why = "a description's storage has no place for it"
        d = self.params(drbd, ("drbd_resource",), why)
        m = self.params(mount, ("device", "directory", "fstype", "options", "drbd_resource"), why)
        out = {"drbd_resource": self.value(drbd, "drbd_resource", d.get("drbd_resource"),
                                           _pattern(values.WORD)),
               "device": self.value(mount, "device", m.get("device"), values.device),
               "mount_point": self.value(mount, "directory", m.get("directory"), values.mount_point),
               "fstype": self.value(mount, "fstype", m.get("fstype"), _pattern(values.WORD))}
        if m.get("fstype") is None:
            self.r.warn(mount, "no fstype: Filesystem finds it out itself, ocf:pacemail:mount needs "
                               "one; the description says ext4 (storage.fstype): check it")
            out["fstype"] = "ext4"
        if m.get("options") is not None:
            out["mount_options"] = m["options"]
        if m.get("drbd_resource", out["drbd_resource"]) != out["drbd_resource"]:
            self.r.loses(mount, "its drbd_resource", "the mount takes storage.drbd_resource")
        if None in out.values():
            return None
        self.r.takes(clone)
        self.r.accounted.add(drbd.get("id"))
        self.meta(clone, dict(CLONE_META, **{"clone-max": str(nodes)}))
        if not exact(drbd, "drbd"):
            self.r.note(f"{agent(drbd)} {drbd.get('id')} in {clone.get('id')} -> storage "
                        f"(ocf:pacemail:drbd, resource {stack.DRBD_CLONE})")
        self.meta(drbd)
        self.timings.add(drbd, "drbd", exact(drbd, "drbd"))
        self.convert(mount, "mount", "storage", stack.MOUNT)
        return out

    def vip(self, e) -> dict | None:
        p = pairs(Reading(self.r.source), e, "instance_attributes")   # its problems: name_vips
        try:
            address = str(ipaddress.ip_address(p.get("ip", "")))
            prefix = values.integer(p.get("cidr_netmask", ""), 1, 32 if "." in address else 128)
            interface = p.get("nic") and _pattern(values.INTERFACE)(p["nic"])
        except (ValueError, Invalid) as exc:
            self.r.note(f"{e.get('id')}: no mail VIP ({exc}: a VIP needs ip and cidr_netmask as "
                        "a number); it stays a resource of its own (extra:)")
            return None
        return {"address": address, "prefix": prefix} | ({"interface": interface} if interface else {})

    def name_vips(self, vips: dict) -> dict[str, str]:
        keys: dict[str, str] = {}
        for i in vips:
            base = name_of(self.graph.elements[i])
            key = base[4:] if base[:4] in ("vip-", "vip_") else base
            if not values.NAME.fullmatch(key) or key == "proxysql" or key in keys.values():
                key = f"vip{len(keys) + 1}"
            keys[i] = key
            self.params(self.graph.elements[i], ("ip", "cidr_netmask", "nic"), VIP_PARAMS)
            self.convert(self.graph.elements[i], "vip", f"vips.{key}", f"vip-{key}")
        return keys

    def service(self, part: str, e, vip_keys: dict[str, str], mount: str) -> dict:
        declared = {p.name for p in load(part).params}
        given = self.params(e, tuple(declared), f"ocf:pacemail:{part} has no such parameter")
        out = {k: given.pop(k) for k in OWN_KEYS[part] if k in given}
        for k in ("admin_port", "proxy_port"):
            if k in out:
                try:
                    out[k] = values.integer(out[k], 1, 65535)
                except Invalid as exc:
                    self.r.loses(e, f"parameter {k}", f"expected {exc}")
                    del out[k]
        if given:
            out["params"] = given
        name = part
        if part == "postfix":
            base = name_of(e)
            instance = base[8:] if base[:8] in ("postfix-", "postfix_") else base
            instance = "main" if instance == "postfix" or not values.NAME.fullmatch(instance) else instance
            base, n = instance, 2
            while stack.postfix_name(instance) in self.s.names.values():
                instance, n = f"{base}{n}", n + 1
            out = {"name": instance, **out}
            name = stack.postfix_name(instance)
        if part != "proxysql":
            on = [vip_keys[v] for v in self.graph.nearest(e.get("id"), set(vip_keys), {mount})]
            if on and set(on) != set(vip_keys.values()):
                out["vips"] = on
            elif not on and len(vip_keys) > 1:
                self.r.note(f"{e.get('id')}: on no VIP of its own -> on every mail VIP")
        self.convert(e, part, f"services.{part}", name)
        return out

    def groups(self, on: list[str]) -> None:
        """Groups holding part of the stack give way to pacemail's tree; their other members
        stay where the group put them (after the member before them)."""
        for gid in on:
            g = self.graph.elements[gid]
            members = [m.get("id") for m in g.iterfind("primitive")]
            if g.tag != "group" or not set(members) & set(self.s.names):
                continue
            self.s.dissolved[gid] = members
            self.r.takes(g)
            self.meta(g)
            self.r.note(f"group {gid} ({', '.join(members)}) -> pacemail's tree of colocations "
                        "and orders (DESCRIPTION.md, \"The tree\")")
            for before, member in zip(members, members[1:]):
                if member not in self.s.names:
                    self.s.loose.append((member, before))


def _pattern(pattern):
    def check(text: str) -> str:
        if not pattern.fullmatch(text):
            raise Invalid(f"a value matching {pattern.pattern}")
        return text
    return check

