"""The parsed cluster description: plain frozen records, no behaviour.

Two layers: the mail-stack records (:class:`Storage`, :class:`Vip`,
:class:`Postfix`, ...) say what the admin wrote, and the generic Pacemaker
records (:class:`Primitive`, :class:`Clone`, :class:`Colocation`, ...) are
what both the mail stack (expanded by ``stack.py``) and the ``extra:`` escape
hatch become before ``build.py`` turns them into XML. Names are description
names; ``cibxml.owned_id`` adds the ``pm-`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pacemail.controller.problems import Location

Pairs = tuple[tuple[str, str], ...]
# Where each key of a record was written: (key below the record, e.g. ``params.port``, location).
Located = tuple[tuple[str, Location], ...]


# -- generic Pacemaker records ------------------------------------------------

@dataclass(frozen=True)
class Op:
    name: str
    interval: str
    timeout: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class Agent:
    standard: str
    provider: str | None
    type: str

    def __str__(self) -> str:
        parts = [self.standard, self.provider, self.type]
        return ":".join(p for p in parts if p)


@dataclass(frozen=True)
class Primitive:
    name: str
    agent: Agent
    params: Pairs = ()
    meta: Pairs = ()
    ops: tuple[Op, ...] = ()
    where: Location | None = field(default=None, compare=False)
    # parameter -> where the description sets it, for problems the agent finds
    param_where: Located = field(default=(), compare=False)


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[Primitive, ...]
    meta: Pairs = ()


@dataclass(frozen=True)
class Clone:
    name: str
    member: Primitive | Group
    promotable: bool = False
    meta: Pairs = ()


Resource = Primitive | Group | Clone


@dataclass(frozen=True)
class RscLocation:
    """rsc_location: ``resource`` scores ``node`` (negative scores avoid it)."""

    name: str
    resource: str
    node: str
    score: str
    role: str | None = None


@dataclass(frozen=True)
class Colocation:
    """rsc_colocation: ``resource`` runs where ``with_resource`` runs."""

    name: str
    resource: str
    with_resource: str
    score: str = "INFINITY"
    role: str | None = None
    with_role: str | None = None
    # False: where ``resource`` can or cannot run never moves ``with_resource`` (Pacemaker's
    # ``influence``); a failed dependent then stops instead of dragging what it sits on.
    influence: bool = True


@dataclass(frozen=True)
class Order:
    """rsc_order: ``first`` (``first_action``) before ``then`` (``then_action``)."""

    name: str
    first: str
    then: str
    first_action: str = "start"
    then_action: str = "start"
    kind: str = "Mandatory"


Constraint = RscLocation | Colocation | Order


@dataclass(frozen=True)
class FencingLevel:
    target: str
    index: int
    devices: tuple[str, ...]


# -- the mail stack, as written ----------------------------------------------

@dataclass(frozen=True)
class Node:
    name: str
    nodeid: int
    address: str | None = None


@dataclass(frozen=True)
class Storage:
    drbd_resource: str
    device: str
    mount_point: str
    fstype: str = "ext4"
    mount_options: str | None = None
    keys: Located = field(default=(), compare=False)


@dataclass(frozen=True)
class Vip:
    name: str
    address: str
    prefix: int
    interface: str | None = None  # None: the agent picks the interface holding the subnet
    keys: Located = field(default=(), compare=False)


@dataclass(frozen=True)
class Postfix:
    name: str
    config_dir: str
    vips: tuple[str, ...]
    params: Pairs = ()  # further agent parameters, checked against the agent's declaration
    where: Location | None = field(default=None, compare=False)
    keys: Located = field(default=(), compare=False)


@dataclass(frozen=True)
class Dovecot:
    config_file: str
    vips: tuple[str, ...]
    params: Pairs = ()
    where: Location | None = field(default=None, compare=False)
    keys: Located = field(default=(), compare=False)


@dataclass(frozen=True)
class ProxySQL:
    vip: Vip
    config: str
    datadir: str
    admin_port: int
    proxy_port: int
    params: Pairs = ()
    where: Location | None = field(default=None, compare=False)
    keys: Located = field(default=(), compare=False)


@dataclass(frozen=True)
class Placement:
    preferred_node: str | None
    failback: bool            # the stack may go back to the preferred node (at all)
    priority: int
    failback_window: Pairs = ()   # date_spec fields: back only inside this time (empty: any time)


@dataclass(frozen=True)
class FenceDevice:
    name: str
    agent: str
    hosts: tuple[str, ...]
    host_map: Pairs = ()
    params: Pairs = ()
    secrets: Pairs = ()  # parameter name -> path of the file holding its value
    where: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Alert:
    """A Pacemaker alert run by pacemail's alert agent (``pacemail.agents.alert``), by kind."""

    name: str
    kind: str                        # file (recipients are paths) | smtp (mail addresses)
    recipients: tuple[str, ...]
    timeout: str                     # a duration: Pacemaker's kill, and the agent's own limit
    select: tuple[str, ...] = ()     # nodes, fencing, resources, attributes; empty: every kind
    timestamp_format: str | None = None
    server: str | None = None        # smtp: host taking the mail (None: the mail VIP)
    port: int | None = None
    sender: str | None = None
    where: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class QuorumDevice:
    """corosync-qdevice's arbiter (model net): the third vote comes from qnetd at ``host``.

    It lives in corosync.conf, not in the CIB (``quorumdevice.py`` renders it).
    """

    host: str                        # qnetd's IP address or host name
    algorithm: str = "ffsplit"       # ffsplit | lms
    tie_breaker: str = "lowest"      # lowest | highest | a node id
    port: int = 5403
    where: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Sbd:
    """SBD fencing: the watchdog alone (diskless) or poison pills on shared disks (disk).

    The daemon's settings live in /etc/default/sbd, not in the CIB (``sbd.py``
    renders both parts).
    """

    mode: str                        # diskless | disk
    devices: tuple[str, ...] = ()    # disk: the shared disks (1 to 3), the same path on every node
    watchdog: str = "/dev/watchdog"
    watchdog_timeout_s: int = 5      # SBD_WATCHDOG_TIMEOUT (disk: written on the disks)
    msgwait_timeout_s: int = 10      # disk: how long a poison pill takes to count as delivered
    where: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FenceRace:
    """How a two-node cluster's fence race is resolved (``fencerace.py``)."""

    method: str        # e.g. "priority-fencing-delay=15s", "pcmk_delay_max=15s"
    automatic: bool    # chosen by pacemail, not written in the description
    why: str


@dataclass(frozen=True)
class Description:
    name: str
    nodes: tuple[Node, ...]
    two_node: bool
    options: Pairs
    resource_defaults: Pairs
    operation_defaults: Pairs
    storage: Storage
    vips: tuple[Vip, ...]
    postfix: tuple[Postfix, ...]
    dovecot: Dovecot | None
    proxysql: ProxySQL | None
    placement: Placement
    fence_devices: tuple[FenceDevice, ...]
    fencing_levels: tuple[FencingLevel, ...]
    extra_resources: tuple[Resource, ...]
    extra_constraints: tuple[Constraint, ...]
    fence_race: FenceRace | None = None
    operations: tuple[tuple[str, Op], ...] = ()  # (part, operation) overrides of stack.DEFAULT_OPS
    alerts: tuple[Alert, ...] = ()
    quorum_device: QuorumDevice | None = None   # corosync.conf's quorum.device (qnetd)
    sbd: Sbd | None = None                      # /etc/default/sbd, and its CIB part
    storage_where: Location | None = field(default=None, compare=False)
    vips_where: Location | None = field(default=None, compare=False)
