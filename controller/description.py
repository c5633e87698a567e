"""The cluster description: YAML text -> :class:`Description` plus problems.

The schema lives here, one ``_read_*`` function per section, so the keys,
their defaults and their checks are read in one place (and documented in
``DESCRIPTION.md``). Keys pacemail defines are snake_case; names Pacemaker
defines (cluster options, meta attributes, operation names) are written as in
``pcs``/``crm``. ``load`` adds the checks against the agents themselves.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, replace
from pathlib import Path

from yaml.nodes import MappingNode

from pacemail.agents import dovecot as dovecot_agent
from pacemail.agents import postfix as postfix_agent
from pacemail.controller import (
    agentcheck, cibxml, fencecheck, fencerace, ids, quorumdevice, stack, values,
)
from pacemail.controller.alerts import AlertsSection
from pacemail.controller.build import build_cib
from pacemail.controller.extra import ExtraSections
from pacemail.controller.model import (
    Colocation, Description, Dovecot, FenceDevice, FencingLevel, Group, Node, Order,
    Placement, Postfix, Primitive, ProxySQL, Resource, RscLocation, Storage, Vip,
)
from pacemail.controller.operations import OperationsSection
from pacemail.controller.quorumdevice import QuorumSection
from pacemail.controller.sbd import SbdSection
from pacemail.controller.problems import Location, Problem, Severity, errors
from pacemail.controller.values import NAME, NAME_TEXT, NODE_NAME, WORD, shown
from pacemail.controller.yamlread import Reader, Section, child

SECRET_WORDS = re.compile(r"pass|secret|key|token", re.IGNORECASE)
STONITH_AGENT = re.compile(r"(stonith:)?" + values.FENCE_AGENT.pattern, re.ASCII)
HOSTS_PARAMS = ("pcmk_host_list", "pcmk_host_map")
NODE_ID_MAX = 2**32 - 1     # corosync node ids are unsigned 32-bit, 0 reserved

TOP = ("cluster", "nodes", "storage", "vips", "services", "placement", "operations", "fencing",
       "extra", "alerts", "quorum", "sbd")
# The stickiness ``failback: false`` gives when the admin sets none: more than
# the preferred node's pull, so a recovered node never takes the stack back.
NO_FAILBACK_STICKINESS = str(2 * stack.PREFERENCE_SCORE)
# A failback window's fields (Pacemaker date_spec, the nodes' local time) and
# their ranges; each value is one number or a range "low-high".
# (minutes are not in the CIB schema pacemail writes).
WINDOW_FIELDS = {"hours": (0, 23), "weekdays": (1, 7), "monthdays": (1, 31), "months": (1, 12)}
WINDOW_VALUE = re.compile(r"([0-9]{1,2})(?:-([0-9]{1,2}))?", re.ASCII)
# Pacemaker evaluates date_spec rules only when it rechecks; without this, a
# window could open up to 15 minutes (Pacemaker's default) before failback.
WINDOW_RECHECK = ("cluster-recheck-interval", "5min")


@dataclass(frozen=True)
class Parsed:
    description: Description | None
    problems: list[Problem]


def load(path: str | Path) -> Parsed:
    """Read, parse and check a description file, agents' parameter declarations included."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Parsed(None, [Problem(Severity.ERROR, Location(str(path)),
                                     f"cannot read the description: {exc}")])
    parsed = parse(text, str(path))
    if parsed.description is None:
        return parsed
    problems = (parsed.problems + agentcheck.check(stack.expand(parsed.description).resources)
                + fencecheck.check(parsed.description.fence_devices))
    return Parsed(None if errors(problems) else parsed.description, problems)


def parse(text: str, file: str = "<description>") -> Parsed:
    """Parse description text; the description is None when there is any ERROR."""
    r = Reader(file)
    root = r.compose(text)
    if root is None:
        if not r.problems:
            r.error(None, "", "the description is empty")
        return Parsed(None, r.problems)
    top = r.mapping(root, "", TOP, required=("nodes", "storage", "vips", "services"))
    if top is None or errors(r.problems):
        return Parsed(None, r.problems)
    description = _Schema(r, top).read()
    if errors(r.problems):
        return Parsed(None, r.problems)
    return Parsed(description, r.problems)


class _Schema(ExtraSections, OperationsSection, AlertsSection, QuorumSection, SbdSection):
    """One pass over a description's sections; cross-references checked at the end."""

    def __init__(self, r: Reader, top: Section):
        self.r = r
        self.top = top
        self._claimed: dict[str, Location] = {}

    def claim(self, name: str, node, path: str) -> bool:
        """Take ``name`` for one resource or constraint: all become ``pm-NAME`` ids of one
        CIB, so a name taken twice would lose one of them. False (and an error) when taken."""
        here = self.r.location(node, path)
        first = self._claimed.setdefault(name, here)
        if first is not here:
            self.r.error(node, path, f"the name {name!r} is already taken by {first.key}"
                                     + (f" (line {first.line})" if first.line else ""))
        return first is here

    def read(self) -> Description | None:
        r, top = self.r, self.top
        nodes = top.get("nodes", self.nodes) or ()
        node_names = [n.name for n in nodes]
        storage = top.get("storage", self.storage)
        vips = top.get("vips", self.vips) or ()
        postfix, dovecot, proxysql = top.get("services", self.services, default=None) or ((), None, None)
        placement = top.get("placement", self.placement, default=Placement(None, False, 10)) \
            or Placement(None, False, 10)
        operations = top.get("operations", self.operations, default=()) or ()
        devices, levels = top.get("fencing", self.fencing, default=((), ())) or ((), ())
        extra_resources, extra_constraints = top.get("extra", self.extra, default=((), ())) or ((), ())
        alerts = top.get("alerts", self.alerts, default=()) or ()
        quorum_device = top.get("quorum", self.quorum)
        sbd = top.get("sbd", self.sbd)
        device = quorum_device is not None or "quorum" in top
        cluster = top.get("cluster", self.cluster, default=None, node_count=len(nodes),
                          device=device)
        if cluster is None:
            cluster = self.cluster(None, "cluster", node_count=len(nodes), device=device)
        name, two_node, options, rsc_defaults, op_defaults = cluster
        if storage is None or not nodes or errors(r.problems):
            return None
        if sbd is not None:
            options, devices = self.with_sbd(sbd, options, devices, nodes, device)
        # Services without a VIP list sit on every mail VIP.
        all_vips = tuple(v.name for v in vips)
        postfix = tuple(p if p.vips else replace(p, vips=all_vips) for p in postfix)
        if dovecot and not dovecot.vips:
            dovecot = replace(dovecot, vips=all_vips)
        alerts = self.mail_server(alerts, postfix, vips)
        if placement.failback_window and WINDOW_RECHECK[0] not in dict(options):
            options += (WINDOW_RECHECK,)
        d = Description(
            name=name, nodes=nodes, two_node=two_node, options=options,
            operation_defaults=op_defaults,
            resource_defaults=self.resource_defaults(rsc_defaults, placement),
            storage=storage, vips=vips, postfix=postfix, dovecot=dovecot, proxysql=proxysql,
            placement=placement, fence_devices=devices, fencing_levels=levels,
            extra_resources=extra_resources, extra_constraints=extra_constraints,
            operations=operations, alerts=alerts, quorum_device=quorum_device, sbd=sbd,
            storage_where=r.location(top.node("storage"), "storage"),
            vips_where=r.location(top.node("vips"), "vips"),
        )
        self.cross_check(d, node_names)
        d = fencerace.resolve(d) if quorum_device is None else quorumdevice.fence_race(d)
        if not errors(r.problems):
            self._check_ids(d)
        return d

    @staticmethod
    def resource_defaults(given: dict, placement: Placement):
        """``failback`` decides the default stickiness; an explicit one is kept (and checked).
        With a failback window this is the stickiness outside it (inside it is 0)."""
        out = dict(given)
        anytime = placement.failback and not placement.failback_window
        out.setdefault("resource-stickiness", "0" if anytime else NO_FAILBACK_STICKINESS)
        return tuple(out.items())

    # -- cluster --------------------------------------------------------------

    def cluster(self, node, path, node_count: int, device: bool = False):
        """``device``: a quorum device is described, which replaces two_node."""
        r = self.r
        s = r.mapping(node, path, ("name", "two_node", "options", "resource_defaults",
                                   "operation_defaults")) if node is not None else None
        get = s.get if s else (lambda key, read, default=None, **kw: default)
        name = get("name", r.string, "mail", pattern=NAME, expected=NAME_TEXT) or "mail"
        two_node = get("two_node", r.boolean, node_count == 2 and not device)
        if two_node and node_count != 2:
            r.error(s.key_node("two_node") if s else None, child(path, "two_node"),
                    f"two_node quorum is for clusters of exactly 2 nodes; this one has {node_count}")
        elif two_node and device:
            r.error(s.key_node("two_node") if s else None, child(path, "two_node"),
                    "a quorum device (quorum.device) replaces two_node: with both, each half "
                    "of a split stays quorate and the device's vote decides nothing; leave "
                    "two_node out")
        options = dict(get("options", r.attributes, {}, checks=values.CLUSTER_OPTIONS,
                           only_checked=True) or {})
        options.setdefault("stonith-enabled", "true")
        options.setdefault("no-quorum-policy", "stop")
        self._check_options(s, path, options, node_count)
        defaults_node = s.node("resource_defaults") if s else None
        rsc_defaults = dict(get("resource_defaults", r.attributes, {}, checks=values.META) or {})
        op_defaults = dict(get("operation_defaults", r.attributes, {}, checks=values.META) or {})
        self._rsc_defaults = (defaults_node, child(path, "resource_defaults"))
        return name, bool(two_node), tuple(options.items()), rsc_defaults, tuple(op_defaults.items())

    def _check_options(self, s: Section | None, path: str, options: dict, node_count: int):
        r = self.r
        opt_path = child(path, "options")
        options_node = s.node("options") if s else None
        node = _value_node(options_node, "no-quorum-policy")
        policy = options["no-quorum-policy"]
        if policy == "ignore" and node_count == 2:
            r.error(node, child(opt_path, "no-quorum-policy"),
                    "'ignore' is refused on a two-node cluster: with two_node quorum the survivor "
                    "keeps quorum anyway, and 'ignore' lets both halves of a split run the mail "
                    "stack; use 'stop' (the default)")
        elif policy == "ignore":
            r.warning(node, child(opt_path, "no-quorum-policy"),
                      "'ignore' lets a partition without quorum run the mail stack (split brain); "
                      "use 'stop' unless you know why not")
        node = _value_node(options_node, "stonith-enabled")
        if options["stonith-enabled"] == "false":
            r.warning(node, child(opt_path, "stonith-enabled"),
                      "fencing is disabled: DRBD can split brain and two nodes can mount the mail "
                      "volume; never run production mail like this")

    # -- nodes ------------------------------------------------------------------

    def nodes(self, node, path) -> tuple[Node, ...] | None:
        r = self.r
        items = r.sequence(node, path)
        if items is None:
            return None
        out: list[Node] = []
        seen_names: set[str] = set()
        seen_ids: set[int] = set()
        for i, item in enumerate(items):
            p = child(path, i)
            if getattr(item, "tag", "").endswith(":map"):
                s = r.mapping(item, p, ("name", "address", "id"), required=("name",))
                if s is None:
                    continue
                name = s.get("name", r.string, pattern=NODE_NAME, expected="a host name")
                address = s.get("address", self.ip_address)
                nodeid = s.get("id", r.integer, i + 1, low=1, high=NODE_ID_MAX)
            else:
                name = r.string(item, p, pattern=NODE_NAME, expected="a host name")
                address, nodeid = None, i + 1
            if name is None or nodeid is None:
                continue
            if name in seen_names:
                r.error(item, p, f"node {name!r} is listed twice")
            if nodeid in seen_ids:
                r.error(item, p, f"node id {nodeid} is used twice")
            seen_names.add(name)
            seen_ids.add(nodeid)
            out.append(Node(name, nodeid, address))
        if len(items) < 2:
            r.error(node, path, f"expected at least 2 nodes for a highly available cluster, got {len(items)}")
        return tuple(out)

    def ip_address(self, node, path) -> str | None:
        text = self.r.string(node, path, expected="an IP address")
        if text is None:
            return None
        try:
            if "%" in text:
                raise ValueError("an IPv6 scope has no place in a cluster address")
            return str(ipaddress.ip_address(text))
        except ValueError:
            self.r.error(node, path, f"expected an IP address such as 198.18.0.11, got {shown(text)}")
            return None

    # -- storage and VIPs -------------------------------------------------------

    def storage(self, node, path) -> Storage | None:
        r = self.r
        s = r.mapping(node, path, ("drbd_resource", "device", "mount_point", "fstype", "mount_options"),
                      required=("drbd_resource", "device", "mount_point"))
        if s is None:
            return None
        fields = dict(
            drbd_resource=s.get("drbd_resource", r.string, pattern=WORD, expected="a DRBD resource name"),
            device=s.get("device", r.string, check=values.device),
            mount_point=s.get("mount_point", r.string, check=values.mount_point),
            fstype=s.get("fstype", r.string, "ext4", pattern=WORD, expected="a file system type such as ext4"),
            mount_options=s.get("mount_options", r.string, expected="mount options such as noatime"),
        )
        if any(fields[k] is None for k in ("drbd_resource", "device", "mount_point", "fstype")):
            return None
        return Storage(**fields, keys=s.locations())

    def vips(self, node, path) -> tuple[Vip, ...] | None:
        r = self.r
        s = r.mapping(node, path)
        if s is None:
            return None
        if not s.keys():
            r.error(node, path, "expected at least one mail VIP (name: {address: ..., prefix: ...})")
        out = []
        for name in s.keys():
            if not NAME.fullmatch(name):
                r.error(s.key_node(name), s.path(name), f"expected {NAME_TEXT} as VIP name, got {shown(name)}")
                continue
            if name == "proxysql":
                r.error(s.key_node(name), s.path(name),
                        "'proxysql' is the name of ProxySQL's own VIP (services.proxysql.vip); pick another")
                continue
            vip = self.vip(s.node(name), s.path(name), name)
            if vip:
                out.append(vip)
        return tuple(out)

    def vip(self, node, path, name: str) -> Vip | None:
        r = self.r
        s = r.mapping(node, path, ("address", "prefix", "interface"), required=("address", "prefix"))
        if s is None:
            return None
        address = s.get("address", self.ip_address)
        prefix = s.get("prefix", r.integer, low=1, high=128)
        interface = s.get("interface", r.string, "auto", pattern=values.INTERFACE,
                          expected="auto or an interface name (at most 15 letters, digits, '-', '_', '.')")
        if address is None or prefix is None or interface is None:
            return None
        if ipaddress.ip_address(address).version == 4 and prefix > 32:
            r.error(s.node("prefix"), s.path("prefix"), f"expected a prefix from 1 to 32 for IPv4, got {prefix}")
            return None
        return Vip(name, address, prefix, None if interface == "auto" else interface, s.locations())

    # -- services ---------------------------------------------------------------

    def services(self, node, path):
        r = self.r
        s = r.mapping(node, path, ("postfix", "dovecot", "proxysql"), required=("postfix",))
        if s is None:
            return None
        postfix = s.get("postfix", self.postfix_instances) or ()
        dovecot = None
        if "dovecot" in s:
            dn = s.node("dovecot")
            dovecot = self.dovecot(dn, s.path("dovecot")) if not _is_null(dn) else \
                Dovecot(dovecot_agent.DEFAULT_CONFIG, (), (), r.location(dn, s.path("dovecot")))
        proxysql = s.get("proxysql", self.proxysql)
        return postfix, dovecot, proxysql

    def postfix_instances(self, node, path) -> tuple[Postfix, ...]:
        r = self.r
        if getattr(node, "tag", "").endswith(":map"):
            items = [(node, path)]
        else:
            nodes = r.sequence(node, path) or []
            items = [(n, child(path, i)) for i, n in enumerate(nodes)]
            if not nodes:
                r.error(node, path, "expected at least one postfix instance")
        out: list[Postfix] = []
        for item, p in items:
            s = r.mapping(item, p, ("name", "config_dir", "vips", "params"))
            if s is None:
                continue
            name = s.get("name", r.string, "main", pattern=NAME, expected=NAME_TEXT)
            config_dir = s.get("config_dir", r.string, postfix_agent.DEFAULT_CONFIG_DIR,
                               check=values.path)
            vips = s.get("vips", self.names, ())
            params = self.service_params(s, ("config_dir",))
            if name is None or config_dir is None or vips is None or params is None:
                continue
            for other in out:
                if other.name == name:
                    r.error(item, p, f"postfix instance name {name!r} is used twice; name each instance")
                if other.config_dir == config_dir:
                    r.error(item, p, f"postfix instances {other.name!r} and {name!r} share config_dir "
                                     f"{shown(config_dir)}")
            out.append(Postfix(name, config_dir, vips, params, r.location(item, p), s.locations()))
        return tuple(out)

    def dovecot(self, node, path) -> Dovecot | None:
        r = self.r
        s = r.mapping(node, path, ("config_file", "vips", "params"))
        if s is None:
            return None
        config_file = s.get("config_file", r.string, dovecot_agent.DEFAULT_CONFIG,
                            check=values.path)
        vips = s.get("vips", self.names, ())
        params = self.service_params(s, ("config_file",))
        if config_file is None or vips is None or params is None:
            return None
        return Dovecot(config_file, vips, params, r.location(node, path), s.locations())

    def proxysql(self, node, path) -> ProxySQL | None:
        r = self.r
        s = r.mapping(node, path, ("vip", "config", "datadir", "admin_port", "proxy_port", "params"),
                      required=("vip",))
        if s is None:
            return None
        vip = s.get("vip", self.vip, name="proxysql")
        default = functools.partial(agentcheck.default, "proxysql")
        config = s.get("config", r.string, default("config"), check=values.path)
        datadir = s.get("datadir", r.string, default("datadir"), check=values.path)
        admin_port = s.get("admin_port", r.integer, int(default("admin_port")), low=1, high=65535)
        proxy_port = s.get("proxy_port", r.integer, int(default("proxy_port")), low=1, high=65535)
        params = self.service_params(s, ("config", "datadir", "admin_port", "proxy_port"))
        if None in (vip, config, datadir, admin_port, proxy_port, params):
            return None
        if admin_port == proxy_port:
            r.error(s.node("proxy_port"), s.path("proxy_port"), "admin_port and proxy_port must differ")
        return ProxySQL(vip, config, datadir, admin_port, proxy_port, params, r.location(node, path),
                        s.locations())

    def service_params(self, s, owned: tuple[str, ...]):
        """A service's ``params:``: further agent parameters, passed through as given.

        The agent's own declaration checks them (agentcheck), so the
        description keeps no copy of any agent's parameters; keys the service
        section sets itself must be set there, not twice.
        """
        params = s.get("params", self.r.attributes, {})
        if params is None:
            return None
        for key in params:
            if key in owned:
                self.r.error(s.node("params"), child(s.path("params"), key),
                             f"set {key} as the service's own key, not under params")
                return None
        return tuple(sorted(params.items()))

    def names(self, node, path) -> tuple[str, ...] | None:
        r = self.r
        if not getattr(node, "tag", "").endswith(":seq"):
            single = r.string(node, path, pattern=NAME, expected=NAME_TEXT)
            return (single,) if single else None
        out = []
        for i, item in enumerate(r.sequence(node, path) or []):
            name = r.string(item, child(path, i), pattern=NAME, expected=NAME_TEXT)
            if name is None:
                return None
            out.append(name)
        return tuple(out)

    # -- placement ----------------------------------------------------------------

    def placement(self, node, path) -> Placement | None:
        r = self.r
        s = r.mapping(node, path, ("preferred_node", "failback", "priority"))
        if s is None:
            return None
        preferred = s.get("preferred_node", r.string, pattern=NODE_NAME, expected="a node name")
        window: tuple | None = ()
        if isinstance(s.node("failback"), MappingNode):
            failback, window = True, self.failback_window(s.node("failback"), s.path("failback"))
        else:
            failback = s.get("failback", r.boolean, False)
        priority = s.get("priority", r.integer, 10, low=0, high=1000000)
        if failback is None or priority is None or window is None:
            return None
        self._placement_where = (s, path)
        return Placement(preferred, failback, priority, window)

    def failback_window(self, node, path) -> tuple | None:
        """``failback: {hours: 2-4, weekdays: 6-7}``: back to the preferred node only then."""
        r = self.r
        s = r.mapping(node, path, WINDOW_FIELDS)
        if s is None:
            return None
        if not node.value:
            r.error(node, path, "a failback window needs at least one of: " + ", ".join(WINDOW_FIELDS))
            return None
        out = []
        for key in s.keys():
            low, high = WINDOW_FIELDS[key]
            value = r.scalar(s.node(key), s.path(key))
            m = WINDOW_VALUE.fullmatch(str(value)) if isinstance(value, (int, str)) \
                and not isinstance(value, bool) else None
            first, last = (int(m[1]), int(m[2] or m[1])) if m else (low - 1, 0)
            if not low <= first <= last <= high:
                r.error(s.node(key), s.path(key),
                        f"expected a number or a range like {low}-{high} within {low}..{high}, "
                        f"got {values.shown(value)}")
                return None
            out.append((key, m[0]))
        return tuple(out)

    # -- fencing ------------------------------------------------------------------

    def fencing(self, node, path):
        r = self.r
        s = r.mapping(node, path, ("devices", "levels"))
        if s is None:
            return None
        devices = []
        for i, item in enumerate(s.get("devices", r.sequence, []) or []):
            device = self.fence_device(item, child(s.path("devices"), i))
            if device:
                devices.append(device)
        levels = s.get("levels", self.fencing_levels, ()) or ()
        return tuple(devices), levels

    def fence_device(self, node, path) -> FenceDevice | None:
        r = self.r
        s = r.mapping(node, path, ("name", "agent", "hosts", "params", "secrets"),
                      required=("name", "agent", "hosts"))
        if s is None:
            return None
        name = s.get("name", r.string, pattern=NAME, expected=NAME_TEXT)
        agent = s.get("agent", r.string, pattern=STONITH_AGENT, expected=values.FENCE_AGENT_TEXT)
        params = s.get("params", r.attributes, {}) or {}
        for pname in params:
            where = (s.node("params"), child(s.path("params"), pname))
            if SECRET_WORDS.search(pname):
                r.error(*where, f"{pname!r} looks like a secret; never inline secrets: put the path of a "
                                f"file holding it under secrets: ({pname}: /etc/pacemail/secrets/...)")
            elif pname in HOSTS_PARAMS:
                r.error(*where, f"{pname} is what hosts: becomes; list the nodes there")
        secrets = s.get("secrets", r.attributes, {}, value_check=values.path) or {}
        for pname in secrets:
            if pname in params or pname in HOSTS_PARAMS:
                r.error(s.node("secrets"), child(s.path("secrets"), pname),
                        f"{pname} is set twice (under params or by hosts:)")
        hosts_node = s.node("hosts")
        hosts: tuple[str, ...] = ()
        host_map: tuple[tuple[str, str], ...] = ()
        if isinstance(hosts_node, MappingNode):
            host_map = self.host_map(hosts_node, s.path("hosts")) or ()
        elif hosts_node is not None:
            hosts = self.names_of_nodes(hosts_node, s.path("hosts")) or ()
        if name is None or agent is None or not self.claim(name, s.node("name"), s.path("name")):
            return None
        return FenceDevice(name, agent.removeprefix("stonith:"), hosts, host_map,
                           tuple(params.items()), tuple(secrets.items()), r.location(node, path))

    def host_map(self, node, path) -> tuple[tuple[str, str], ...] | None:
        """``{node: port}``, which becomes pcmk_host_map (``node:port;...``): a port holding one
        of its separators would name another node."""
        r = self.r
        s = r.mapping(node, path)
        if s is None:
            return None
        out = []
        for target in s.keys():
            if not NODE_NAME.fullmatch(target):
                r.error(s.key_node(target), s.path(target), f"expected a node name, got {shown(target)}")
                continue
            port = s.get(target, r.string, pattern=values.HOST_PORT,
                         expected="a port, plug or VM name (letters, digits, '_', '.', '@', '/', '+', '-')")
            if port is not None:
                out.append((target, port))
        return tuple(out)

    def names_of_nodes(self, node, path) -> tuple[str, ...] | None:
        r = self.r
        items = r.sequence(node, path)
        if items is None:
            return None
        names = [r.string(item, child(path, i), pattern=NODE_NAME, expected="a node name")
                 for i, item in enumerate(items)]
        return tuple(n for n in names if n)

    def fencing_levels(self, node, path) -> tuple[FencingLevel, ...]:
        r = self.r
        s = r.mapping(node, path)
        if s is None:
            return ()
        out = []
        for target in s.keys():
            tpath = s.path(target)
            for i, item in enumerate(r.sequence(s.node(target), tpath) or []):
                devices = self.names(item, child(tpath, i))
                if devices:
                    out.append(FencingLevel(target, i + 1, devices))
        self._levels_section = s
        return tuple(out)

    # -- cross references -----------------------------------------------------------

    def cross_check(self, d: Description, node_names: list[str]) -> None:
        self.check_quorum_device(d)
        self._check_vip_refs(d)
        self._check_names(d)
        self._check_placement(d, node_names)
        self._check_fencing(d, node_names)
        self._check_extra_refs(d, node_names)

    def _check_vip_refs(self, d: Description) -> None:
        mail_vips = {v.name for v in d.vips}
        addresses: dict[str, str] = {}
        for v in d.vips + ((d.proxysql.vip,) if d.proxysql else ()):
            if v.address in addresses:
                self.r.error(self.top.node("vips"), "vips",
                             f"VIPs {addresses[v.address]!r} and {v.name!r} share address {v.address}")
            addresses[v.address] = v.name
        for n in d.nodes:
            if n.address in addresses:
                self.r.error(self.top.node("nodes"), "nodes",
                             f"node {n.name} has the address of VIP {addresses[n.address]!r}")
        services = [(p.name, p.vips, p.where) for p in d.postfix]
        if d.dovecot:
            services.append(("dovecot", d.dovecot.vips, d.dovecot.where))
        for name, vips, where in services:
            for v in vips:
                if v not in mail_vips:
                    self.r.problems.append(Problem(Severity.ERROR, where,
                                                   f"{name}: unknown VIP {v!r}; known: {', '.join(sorted(mail_vips))}"))

    def _check_names(self, d: Description) -> None:
        """The names pacemail takes against those the description gives (devices, extra:)."""
        for name in stack.stack_names(d):
            where = self._claimed.get(name)
            if where is not None:
                self.r.problems.append(Problem(Severity.ERROR, where,
                                               f"the name {name!r} is taken by the mail stack"))
        self._known = {n for res in stack.expand(d).resources for n in _names(res)}

    def _check_ids(self, d: Description) -> None:
        """The net under :meth:`claim`: ids derived from names (``pm-web-instance_attributes``,
        ``pm-fl-node1-1``, ``pm-cluster-options``) may meet other names too."""
        for element_id, owner in ids.duplicates(build_cib(d)):
            name = owner.removeprefix(cibxml.PREFIX)
            where = self._claimed.get(name, self.r.location(None, ""))
            self.r.problems.append(Problem(Severity.ERROR, where,
                                           f"{name!r} would give the CIB a second element with "
                                           f"id {element_id!r}; pick another name"))

    def _check_placement(self, d: Description, node_names: list[str]) -> None:
        s, path = getattr(self, "_placement_where", (None, "placement"))
        pl = d.placement
        if pl.preferred_node and pl.preferred_node not in node_names:
            self.r.error(s.node("preferred_node") if s else None, child(path, "preferred_node"),
                         f"{pl.preferred_node!r} is not one of the nodes ({', '.join(node_names)})")
        stickiness = dict(d.resource_defaults)["resource-stickiness"]
        stays = not pl.failback or pl.failback_window   # outside a window the stack stays put
        if pl.preferred_node and stays and values.score_number(stickiness) <= stack.PREFERENCE_SCORE:
            node, rpath = self._rsc_defaults
            which = "a failback window" if pl.failback else "failback: false"
            self.r.error(node, child(rpath, "resource-stickiness"),
                         f"{which} needs resource-stickiness above {stack.PREFERENCE_SCORE} "
                         f"(the preferred node's score), got {stickiness}")
        recheck = dict(d.options).get(WINDOW_RECHECK[0], "")
        if pl.failback_window and recheck.strip() in ("0", "0s", "0min"):
            self.r.error(s.node("failback") if s else None, child(path, "failback"),
                         "a failback window needs cluster-recheck-interval above 0: Pacemaker "
                         "looks at the time only when it rechecks")

    def _check_fencing(self, d: Description, node_names: list[str]) -> None:
        r = self.r
        device_names = {f.name for f in d.fence_devices}
        covered = set()
        for f in d.fence_devices:
            targets = [n for n, _ in f.host_map] or list(f.hosts)
            for t in targets:
                if t not in node_names:
                    r.problems.append(Problem(Severity.ERROR, f.where,
                                              f"fence device {f.name!r} names {t!r}, which is not a node"))
            covered.update(targets)
        levels_node = self.top.node("fencing")
        for level in d.fencing_levels:
            where = f"fencing.levels.{level.target}[{level.index - 1}]"
            if level.target not in node_names:
                r.error(levels_node, where, f"{level.target!r} is not a node")
            for device in level.devices:
                if device not in device_names:
                    r.error(levels_node, where, f"{device!r} is not a fencing device")
        options = dict(d.options)
        watchdog = d.sbd is not None and d.sbd.mode == "diskless"   # fences every node itself
        if options.get("stonith-enabled") == "true" and not watchdog:
            if not d.fence_devices:
                r.error(self.top.node("fencing"), "fencing.devices",
                        "stonith-enabled is true (the default) but no fencing device is described; "
                        "Pacemaker would refuse to run any resource")
            else:
                for n in node_names:
                    if n not in covered:
                        r.warning(self.top.node("fencing"), "fencing.devices",
                                  f"no fencing device names node {n!r}; it cannot be fenced")
            if len(node_names) == 2 and fencerace.priority_without_weight(d):
                r.warning(self.top.node("cluster"), "cluster.options.priority-fencing-delay",
                          "placement.priority is 0: no resource weighs anything, so "
                          "priority-fencing-delay never applies and both nodes may fence each "
                          "other at once; give the mail stack a priority")
        if "stonith-watchdog-timeout" in options and d.sbd is None:
            r.warning(self.top.node("cluster"), "cluster.options.stonith-watchdog-timeout",
                      "watchdog fencing (sbd) works only with the sbd daemon and a hardware "
                      "watchdog on every node; describe it in an sbd: section (mode: diskless), "
                      "which sets this option and renders /etc/default/sbd")

    def _check_extra_refs(self, d: Description, node_names: list[str]) -> None:
        clone_members = getattr(self, "_clone_members", {})
        for c, node, path in getattr(self, "_extra_constraints", []):
            refs = {RscLocation: ("resource",), Colocation: ("resource", "with_resource"),
                    Order: ("first", "then")}[type(c)]
            for field in refs:
                name = getattr(c, field)
                if name in clone_members:
                    self.r.error(node, path, f"{name!r} is inside clone {clone_members[name]!r}; "
                                             f"constrain the clone instead")
                elif name not in self._known:
                    self.r.error(node, path, f"unknown resource {name!r}")
            if isinstance(c, RscLocation) and c.node not in node_names:
                self.r.error(node, path, f"{c.node!r} is not a node")


def _names(res: Resource) -> list[str]:
    if isinstance(res, Primitive):
        return [res.name]
    if isinstance(res, Group):
        return [res.name] + [m.name for m in res.members]
    return [res.name] + _names(res.member)


def _value_node(mapping, key: str):
    """The value node of ``key`` in a composed mapping (the mapping itself when absent)."""
    for key_node, value_node in getattr(mapping, "value", None) or ():
        if getattr(key_node, "value", None) == key:
            return value_node
    return mapping


def _is_null(node) -> bool:
    return getattr(node, "tag", "") == "tag:yaml.org,2002:null"
