"""What DRBD says about one resource, from either generation's tools, as one :class:`State`.

DRBD 9: ``drbdsetup status RES --json``. DRBD 8.4 (Debian 12's kernel module,
driven by drbd-utils 9, which has no 8.4 ``status``): the resource's lines of
``/proc/drbd``, or the words of ``drbdadm role|cstate|dstate``. The kernel
module's version comes from ``/proc/drbd``'s first line,
``/sys/module/drbd/version`` or ``drbdadm --version``.

Pure functions only (text in, :class:`State` out); no json import here, the
caller passes the decoded document. None means "not running here".
"""

from __future__ import annotations

# 8.4 connection states in which the peer is there (replicating, syncing, verifying).
CONNECTED_84 = frozenset({
    "Connected", "StartingSyncS", "StartingSyncT", "WFBitMapS", "WFBitMapT", "WFSyncUUID",
    "SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT", "VerifyS", "VerifyT", "Ahead",
    "Behind",
})
PEER_84 = "peer"  # 8.4 does not name its one peer


class Peer:
    """One replication peer: connection state (``Connected`` when up), role, disks; DRBD 9's
    peer node id (None for 8.4)."""

    __slots__ = ("name", "connection", "role", "disks", "replication", "node_id")

    def __init__(self, name, connection, role, disks, replication=(), node_id=None):
        self.name, self.connection, self.role = name, connection, role
        self.disks, self.replication, self.node_id = tuple(disks), tuple(replication), node_id

    @property
    def connected(self) -> bool:
        return self.connection == "Connected"

    def __eq__(self, other):
        return isinstance(other, Peer) and _fields(self) == _fields(other)

    def __repr__(self):
        return f"Peer{_fields(self)!r}"


class State:
    """This node's side of a running resource.

    ``disks``: the local disk state of each volume; ``quorum``: DRBD 9's quorum
    (None for 8.4, which has none); ``clients``: volumes that are diskless on
    purpose (DRBD 9 diskless clients).
    """

    __slots__ = ("role", "disks", "quorum", "suspended", "peers", "clients")

    def __init__(self, role, disks, quorum=None, suspended=False, peers=(), clients=()):
        self.role, self.disks, self.quorum = role, tuple(disks), quorum
        self.suspended, self.peers, self.clients = suspended, tuple(peers), tuple(clients)

    @property
    def primary(self) -> bool:
        return self.role == "Primary"

    def __eq__(self, other):
        return isinstance(other, State) and _fields(self) == _fields(other)

    def __repr__(self):
        return f"State{_fields(self)!r}"


def _fields(obj) -> tuple:
    return tuple(getattr(obj, name) for name in obj.__slots__)


# -- DRBD 9 ---------------------------------------------------------------------

def from_json(document, resource: str) -> State | None:
    """The resource's state in a decoded ``drbdsetup status --json`` document (a list)."""
    for res in document or ():
        if res.get("name") == resource:
            break
    else:
        return None
    devices = res.get("devices") or []
    quorums = [d["quorum"] for d in devices if "quorum" in d]
    peers = [Peer(c.get("name", str(c.get("peer-node-id"))), c.get("connection-state", "Unknown"),
                  c.get("peer-role", "Unknown"),
                  [p.get("peer-disk-state", "DUnknown") for p in c.get("peer_devices") or []],
                  [p.get("replication-state", "Off") for p in c.get("peer_devices") or []],
                  c.get("peer-node-id"))
             for c in res.get("connections") or []]
    return State(res.get("role", "Unknown"), [d.get("disk-state", "DUnknown") for d in devices],
                 quorum=all(quorums) if quorums else None, suspended=bool(res.get("suspended")),
                 peers=peers, clients=[bool(d.get("client")) for d in devices])


# -- DRBD 8.4 -------------------------------------------------------------------

def from_84(cstate: str, roles: str, dstates: str, suspended: bool = False) -> State | None:
    """One 8.4 device from its words: ``Connected``, ``Primary/Secondary``, ``UpToDate/DUnknown``."""
    if "Unconfigured" in (cstate, roles, dstates) or not roles:
        return None
    role, _, peer_role = roles.partition("/")
    disk, _, peer_disk = dstates.partition("/")
    connected = cstate in CONNECTED_84
    peer = Peer(PEER_84, "Connected" if connected else cstate,
                peer_role if connected else "Unknown", [peer_disk if connected else "DUnknown"],
                [cstate if connected else "Off"])
    return State(role, [disk], quorum=None, suspended=suspended, peers=[peer])


def merge_volumes(states) -> State | None:
    """The resource from its 8.4 devices (one per volume); None when any is down."""
    states = list(states)
    if not states or any(s is None for s in states):
        return None
    first = states[0]
    peer = first.peers[0]
    disks = [d for s in states for d in s.disks]
    peer_disks = [d for s in states for d in s.peers[0].disks]
    replication = [r for s in states for r in s.peers[0].replication]
    return State(first.role, disks, None, any(s.suspended for s in states),
                 [Peer(peer.name, peer.connection, peer.role, peer_disks, replication)])


def from_proc(text: str, minors) -> State | None:
    """The resource's devices (``minors``) in DRBD 8.4's ``/proc/drbd``.

    Device lines look like ``0: cs:Connected ro:Primary/Secondary
    ds:UpToDate/UpToDate C r-----``; the first flag letter is ``s`` while I/O
    is suspended. A minor without a line is not configured.
    """
    lines = {}
    for line in text.splitlines():
        number, sep, rest = line.strip().partition(": ")
        if sep and number.isdigit() and rest.startswith("cs:"):
            lines[int(number)] = rest.split()
    return merge_volumes(_proc_device(lines.get(m)) for m in minors)


def _proc_device(words) -> State | None:
    if not words:
        return None
    fields = dict(w.split(":", 1) for w in words if ":" in w)
    flags = next((w for w in words if ":" not in w and len(w) == 6), "r-----")
    return from_84(fields.get("cs", "Unconfigured"), fields.get("ro", ""), fields.get("ds", ""),
                   suspended=flags[0] == "s")


# -- kernel module version ------------------------------------------------------------

def version_from_proc(first_line: str) -> tuple[int, ...] | None:
    """``version: 8.4.11 (api:1/proto:86-101)`` -> (8, 4, 11)."""
    word, _, rest = first_line.partition(" ")
    return parse_version(rest.split(" ", 1)[0]) if word == "version:" else None


def version_from_drbdadm(text: str) -> tuple[int, ...] | None:
    """``DRBD_KERNEL_VERSION=9.2.8`` in ``drbdadm --version``; None when no module is loaded."""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "DRBD_KERNEL_VERSION":
            found = parse_version(value)
            return found if found and any(found) else None
    return None


def parse_version(text: str) -> tuple[int, ...] | None:
    """``8.4.11`` (or ``9.2.8-rc.1``) -> (8, 4, 11); None for anything else."""
    parts = text.strip().split("-", 1)[0].split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def show_version(version) -> str:
    return ".".join(str(n) for n in version)
