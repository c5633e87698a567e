"""A TEST DOUBLE of DRBD for the namespace lab: ``drbdadm`` and ``drbdsetup`` as the agents see them.

Our machines have no DRBD kernel module, so the lab puts executables named
``drbdadm`` and ``drbdsetup`` first on its nodes' PATH. They are small and
model only what the agents and handlers rely on, in the real tools' formats
(drbd-utils 9.22: ``drbdsetup status --json``, ``drbdsetup status`` text, the
role/state words of ``drbdadm role|cstate|dstate``, ``drbdadm --version``):

- "kernel" state per node lives in the node's own /run (lost at power-off,
  like the module's); the on-disk meta data (outdated flag, data
  generation) lives in the node's directory and survives reboots.
- ``drbdadm up`` starts a replication-link process inside the node that
  talks to the peers over the lab network (TCP port from the config), so a
  partition or a dead node disconnects them after ``ping-timeout``.
- A second Primary is refused while connected; promotion needs UpToDate
  data (or ``--force``); a Primary that loses its peer runs the configured
  ``fence-peer`` handler with DRBD's environment and exit-code semantics;
  the sync target runs ``after-resync-target`` after resync.
- The resource's device is the lab's shared loop device, bound over
  ``/dev/drbdN`` in the node's own mount namespace on ``up``. Data is not
  replicated (storage is shared): the double models the state machine only.

The config is JSON (lab dir ``drbd/<res>.json``), written by the lab.
"""

from __future__ import annotations

# The double runs 3-4 times on every failover's critical path: module level imports only
# what status/role/primary need (time is built in); up/down and the link import the rest.
import contextlib
import fcntl
import json
import os
import sys
import time

from pacemail.lab.paths import LAB_NAME_FILE, STATE_DIR

RUN_DIR = "/run/drbd-double"
PING_INTERVAL_S = 0.5
PING_TIMEOUT_S = 2.0
# drbdsetup's exit codes for refused state changes (as drbdadm passes them on).
EXIT_STATE_CHANGE_FAILED = 11
EXIT_NO_RESOURCE = 10
EXIT_USAGE = 20


# --- configuration, state and meta data -------------------------------------

def _lab_dir() -> str:
    with open(LAB_NAME_FILE) as f:
        return os.path.join(STATE_DIR, f.read().strip())


def _read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def config(res: str) -> dict:
    path = os.path.join(_lab_dir(), "drbd", f"{res}.json")
    try:
        return _read_json(path)
    except FileNotFoundError:
        raise SystemExit(_err(f"'{res}' not defined in your config (for this host).",
                              EXIT_NO_RESOURCE)) from None


def configured() -> list[str]:
    directory = os.path.join(_lab_dir(), "drbd")
    if not os.path.isdir(directory):
        return []
    return sorted(name[:-len(".json")] for name in os.listdir(directory)
                  if name.endswith(".json"))


def me() -> str:
    """The node's name: its UTS namespace's hostname (what gethostname(2) reads)."""
    return os.uname().nodename


def meta_path(res: str) -> str:
    return os.path.join(_lab_dir(), "nodes", me(), "drbd-meta", f"{res}.json")


def read_meta(res: str) -> dict:
    try:
        return _read_json(meta_path(res))
    except FileNotFoundError:
        return {"outdated": False, "generation": 1}


def write_meta(res: str, meta: dict) -> None:
    path = meta_path(res)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _write_json(path, meta)


def state_path(res: str) -> str:
    return os.path.join(RUN_DIR, f"{res}.json")


def read_state(res: str) -> dict | None:
    try:
        return _read_json(state_path(res))
    except (FileNotFoundError, ValueError):
        return None


def write_state(res: str, state: dict) -> None:
    os.makedirs(RUN_DIR, exist_ok=True)
    _write_json(state_path(res), state)


@contextlib.contextmanager
def locked(res: str):
    """Serialize read-modify-write of a resource's state (tools vs. the link process)."""
    os.makedirs(RUN_DIR, exist_ok=True)
    with open(os.path.join(RUN_DIR, f"{res}.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _write_json(path: str, data: dict) -> None:
    tmp = os.path.splitext(path)[0] + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(data))
    os.replace(tmp, path)


# --- drbdadm ------------------------------------------------------------------

def drbdadm(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    flags = [a for a in argv if a.startswith("-")]
    if "--version" in flags or args[:1] == ["--version"]:
        return _version()
    if len(args) < 2:
        return _err("USAGE: drbdadm COMMAND [OPTION...] {all|RESOURCE...}", EXIT_USAGE)
    command, names = args[0], args[1:]
    if names == ["all"]:
        names = configured()
    handlers = {"up": _up, "down": _down, "primary": _primary, "secondary": _secondary,
                "role": _role, "cstate": _cstate, "dstate": _dstate, "status": _status_text,
                "outdate": _outdate, "adjust": _adjust, "connect": _adjust,
                "disconnect": _disconnect}
    if command not in handlers:
        return _err(f"drbdadm (double): unsupported command '{command}'", EXIT_USAGE)
    for name in names:
        code = handlers[command](name, flags)
        if code:
            return code
    return 0


def _version() -> int:
    kernel = "9.2.8"
    for res in configured():
        kernel = config(res).get("kernel", kernel)
    major, minor, patch = (int(x) for x in kernel.split("."))
    print(f"DRBDADM_VERSION_CODE=0x091600\nDRBDADM_VERSION=9.22.0\n"
          f"DRBD_KERNEL_VERSION_CODE=0x{major:02x}{minor:02x}{patch:02x}\n"
          f"DRBD_KERNEL_VERSION={kernel}")
    return 0


def _up(res: str, flags) -> int:
    cfg = config(res)
    if me() not in cfg["hosts"]:
        return _err(f"'{res}' not defined in your config (for this host).", EXIT_NO_RESOURCE)
    if read_state(res):
        return 0
    meta = read_meta(res)
    write_state(res, {"role": "Secondary", "disk": "Outdated" if meta["outdated"] else "Consistent",
                      "peers": {}, "suspended": False})
    _bind_device(cfg)
    _spawn_link(res)
    return 0


def _down(res: str, flags) -> int:
    state = read_state(res)
    if state is None:
        return 0
    if state["role"] == "Primary":
        return _err(f"{res}: State change failed: (-12) Device is held open by someone",
                    EXIT_STATE_CHANGE_FAILED)
    pid = state.get("link_pid")
    if pid:
        import signal
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    _unbind_device(config(res))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state_path(res))
    return 0


def _primary(res: str, flags) -> int:
    with locked(res):
        state = read_state(res)
        if state is None:
            return _err(f"{res}: No such resource", EXIT_NO_RESOURCE)
        if any(p["role"] == "Primary" and p["connected"] for p in state["peers"].values()):
            return _err(f"{res}: State change failed: (-1) Multiple primaries not allowed by config",
                        EXIT_STATE_CHANGE_FAILED)
        if state["disk"] != "UpToDate" and "--force" not in flags:
            return _err(f"{res}: State change failed: (-2) Need access to UpToDate data",
                        EXIT_STATE_CHANGE_FAILED)
        state.update(role="Primary", disk="UpToDate")
        write_state(res, state)
        meta = read_meta(res)
        meta["outdated"] = False
        write_meta(res, meta)
    return 0


def _secondary(res: str, flags) -> int:
    return _set(res, role="Secondary")


def _set(res: str, **changes) -> int:
    with locked(res):
        state = read_state(res)
        if state is None:
            return _err(f"{res}: No such resource", EXIT_NO_RESOURCE)
        state.update(changes)
        write_state(res, state)
    return 0


def _outdate(res: str, flags) -> int:
    with locked(res):
        state = read_state(res)
        if state and state["role"] == "Primary":
            return _err(f"{res}: State change failed: (-2) Refusing to outdate a Primary",
                        EXIT_STATE_CHANGE_FAILED)
        meta = read_meta(res)
        meta["outdated"] = True
        write_meta(res, meta)
        if state and state["disk"] in ("UpToDate", "Consistent"):
            state["disk"] = "Outdated"
            write_state(res, state)
    return 0


def _adjust(res: str, flags) -> int:
    return 0 if read_state(res) else _up(res, flags)


def _disconnect(res: str, flags) -> int:
    return _set(res, standalone=True)


def _role(res: str, flags) -> int:
    state = read_state(res)
    if state is None:
        return _err(f"{res}: No such resource", EXIT_NO_RESOURCE)
    if _kernel84(res):
        print(f"{state['role']}/{_peer_words(state, 'role', 'Unknown')}")
    else:
        print(state["role"])
    return 0


def _cstate(res: str, flags) -> int:
    state = read_state(res)
    if state is None:
        return _err(f"{res}: No such resource", EXIT_NO_RESOURCE)
    if _kernel84(res):
        print(_connection(state, next(iter(state["peers"].values()), None)))
    else:
        for peer in state["peers"].values():
            print(_connection(state, peer))
    return 0


def _dstate(res: str, flags) -> int:
    state = read_state(res)
    if state is None:
        return _err(f"{res}: No such resource", EXIT_NO_RESOURCE)
    print(f"{state['disk']}/{_peer_words(state, 'disk', 'DUnknown')}")
    return 0


def _status_text(res: str, flags) -> int:
    state = read_state(res)
    if state is None:
        return _err(f"{res}: No such resource", EXIT_NO_RESOURCE)
    lines = [f"{res} role:{state['role']}", f"  disk:{state['disk']}"]
    for name, peer in sorted(state["peers"].items()):
        conn = _connection(state, peer)
        if conn == "Connected":
            lines += [f"  {name} role:{peer['role']}", f"    peer-disk:{peer['disk']}"]
        else:
            lines.append(f"  {name} connection:{conn}")
    print("\n".join(lines) + "\n")
    return 0


def _kernel84(res: str) -> bool:
    return config(res).get("kernel", "9").startswith("8.")


def _connection(state: dict, peer: dict | None) -> str:
    if state.get("standalone") or peer is None:
        return "StandAlone"
    return "Connected" if peer["connected"] else "Connecting"


def _peer_words(state: dict, key: str, unknown: str) -> str:
    peers = [p for p in state["peers"].values() if p["connected"]]
    return peers[0][key] if peers else unknown


# --- drbdsetup ----------------------------------------------------------------

def drbdsetup(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    if args[:1] != ["status"]:
        return _err("drbdsetup (double): only 'status [RES] [--json]' is modelled", EXIT_USAGE)
    names = args[1:] or [r for r in configured() if read_state(r)]
    if "--json" in argv:
        print(json.dumps([_status_json(r) for r in names if read_state(r)], indent=2))
        return 0
    for name in names:
        if read_state(name):
            _status_text(name, [])
    return 0


def _status_json(res: str) -> dict:
    cfg, state = config(res), read_state(res)
    hosts = cfg["hosts"]
    connections = []
    for name, peer in sorted(state["peers"].items()):
        conn = _connection(state, peer)
        connections.append({
            "peer-node-id": hosts[name]["node_id"], "name": name,
            "connection-state": conn, "congested": False,
            "peer-role": peer["role"] if conn == "Connected" else "Unknown",
            "ap-in-flight": 0, "rs-in-flight": 0,
            "peer_devices": [{
                "volume": 0,
                "replication-state": "Established" if conn == "Connected" else "Off",
                "peer-disk-state": peer["disk"] if conn == "Connected" else "DUnknown",
                "peer-client": False, "resync-suspended": "no", "received": 0, "sent": 0,
                "out-of-sync": 0, "pending": 0, "unacked": 0, "has-sync-details": False,
                "has-online-verify-details": False, "percent-in-sync": 100.0,
            }],
        })
    connected = sum(1 for c in connections if c["connection-state"] == "Connected")
    return {
        "name": res, "node-id": hosts[me()]["node_id"], "role": state["role"],
        "suspended": state["suspended"], "write-ordering": "flush",
        "devices": [{
            "volume": 0, "minor": cfg["minor"], "disk-state": state["disk"], "client": False,
            "quorum": cfg.get("quorum") == "off" or (connected + 1) * 2 > len(hosts),
            "size": 0, "read": 0, "written": 0,
            "al-writes": 0, "bm-writes": 0, "upper-pending": 0, "lower-pending": 0,
        }],
        "connections": connections,
    }


# --- the replication link (the "kernel" side) --------------------------------

def _spawn_link(res: str) -> None:
    """Start the link process detached from the caller (it outlives the agent)."""
    import subprocess
    proc = subprocess.Popen([sys.executable, "-I", "-m", "pacemail.lab.drbd_double", "link", res],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(f"/var/log/drbd-double-{res}.log", "ab"),
                            start_new_session=True)
    state = read_state(res)
    state["link_pid"] = proc.pid
    write_state(res, state)


class Link:
    """Exchanges role/disk/generation with every peer; updates the node's state file."""

    def __init__(self, res: str):
        import threading
        self.res = res
        self.cfg = config(res)
        self.lock = threading.Lock()
        self.seen: dict[str, tuple[float, dict]] = {}  # peer -> (monotonic time, its report)
        self.fenced: set[str] = set()

    def run(self) -> None:
        import signal
        import socket
        import threading
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        mine = self.cfg["hosts"][me()]
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server.bind((mine["address"], self.cfg["port"]))
        server.settimeout(PING_INTERVAL_S)
        threading.Thread(target=self._send_loop, daemon=True).start()
        while True:
            try:
                data, _ = server.recvfrom(4096)
                report = json.loads(data)
                with self.lock:
                    self.seen[report["node"]] = (time.monotonic(), report)
            except (TimeoutError, ValueError, KeyError):
                pass
            self._update()

    def _send_loop(self) -> None:
        import socket
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while True:
            state = read_state(self.res)
            if state is None:
                os._exit(0)
            report = json.dumps({"node": me(), "role": state["role"], "disk": state["disk"],
                                 "generation": read_meta(self.res)["generation"],
                                 "standalone": bool(state.get("standalone"))}).encode()
            for name, host in self.cfg["hosts"].items():
                if name != me() and not state.get("standalone"):
                    try:
                        sock.sendto(report, (host["address"], self.cfg["port"]))
                    except OSError:
                        pass  # no route while the peer's network is down
            time.sleep(PING_INTERVAL_S)

    def _update(self) -> None:
        now = time.monotonic()
        with self.lock:
            seen = dict(self.seen)
        events = []
        with locked(self.res):
            state = read_state(self.res)
            if state is None:
                os._exit(0)
            peers = {}
            for name in self.cfg["hosts"]:
                if name == me():
                    continue
                at, report = seen.get(name, (None, None))
                connected = (at is not None and now - at < PING_TIMEOUT_S
                             and not state.get("standalone") and not report.get("standalone"))
                was = state["peers"].get(name, {}).get("connected", False)
                if connected and not was and report["role"] == "Primary" \
                        and state["role"] == "Primary":
                    self._log(f"Split-Brain detected with {name}, dropping connection")
                    state["standalone"] = True
                    connected = False
                peers[name] = {"connected": connected,
                               "role": report["role"] if connected else "Unknown",
                               "disk": report["disk"] if connected else "DUnknown"}
                if was and not connected:
                    events.append(("lost", name, report))
                elif connected and not was:
                    events.append(("connected", name, report))
            state["peers"] = peers
            write_state(self.res, state)
        for kind, name, report in events:  # handlers run without the lock held
            self._log(f"connection to {name}: {kind}")
            (self._lost if kind == "lost" else self._resync)(name, report)

    def _lost(self, peer: str, report: dict) -> None:
        """Connection lost: a Primary with fencing configured runs its fence-peer handler."""
        handler = self.cfg.get("handlers", {}).get("fence-peer")
        state = read_state(self.res)
        if not state or state["role"] != "Primary" or not handler \
                or self.cfg.get("fencing", "dont-care") == "dont-care":
            return
        _set(self.res, suspended=True)
        code = self._handler(handler, peer, "fence-peer")
        if code in (3, 4, 5, 7):  # peer outdated / constraint placed / unreachable / fenced
            self.fenced.add(peer)
            meta = read_meta(self.res)
            meta["generation"] += 1  # our data moves on without the peer
            write_meta(self.res, meta)
            _set(self.res, suspended=False)
        elif code == 6:  # outdate yourself
            _set(self.res, suspended=False, role="Secondary", disk="Outdated")
        else:
            _set(self.res, suspended=False)

    def _resync(self, peer: str, report: dict) -> None:
        """Connected: the newer data generation is the sync source; the target ends UpToDate."""
        meta = read_meta(self.res)
        state = read_state(self.res) or {}
        theirs, ours = report["generation"], meta["generation"]
        target = theirs > ours or (theirs == ours and report["disk"] == "UpToDate"
                                   and state.get("disk") != "UpToDate")
        fresh = theirs == ours and {report["disk"], state.get("disk")} <= {"Consistent", "UpToDate"}
        if target:
            meta.update(generation=theirs, outdated=False)
            write_meta(self.res, meta)
        if target or fresh or theirs < ours:
            with locked(self.res):
                current = read_state(self.res)
                if current and (target or fresh or current["disk"] == "Consistent"):
                    current["disk"] = "UpToDate"
                    write_state(self.res, current)
        handlers = self.cfg.get("handlers", {})
        if target and handlers.get("after-resync-target"):
            self._handler(handlers["after-resync-target"], peer, "after-resync-target")
        if peer in self.fenced:
            self.fenced.discard(peer)
            if handlers.get("unfence-peer"):
                self._handler(handlers["unfence-peer"], peer, "unfence-peer")

    def _log(self, message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {self.res}: {message}", file=sys.stderr, flush=True)

    def _handler(self, argv: list[str], peer: str, name: str) -> int:
        from pacemail.proc import CommandError, run
        hosts = self.cfg["hosts"]
        env = dict(os.environ, DRBD_RESOURCE=self.res, DRBD_MINOR=str(self.cfg["minor"]),
                   DRBD_VOLUME="0", DRBD_MY_NODE_ID=str(hosts[me()]["node_id"]),
                   DRBD_PEER_NODE_ID=str(hosts[peer]["node_id"]),
                   DRBD_PEER_ADDRESS=hosts[peer]["address"], DRBD_PEER_AF="ipv4",
                   DRBD_PEERS=peer, DRBD_PEER=peer, DRBD_CSTATE="Connecting")
        for host_name, host in hosts.items():
            env[f"DRBD_NODE_ID_{host['node_id']}"] = host_name
        try:
            done = run(argv, timeout=self.cfg.get("handler_timeout", 60), env=env, check=False)
            code = done.returncode
            output = (done.stdout + done.stderr).strip()
        except CommandError as exc:
            code, output = 1, str(exc)
        self._log(f"{name} handler for {peer} exited {code}{': ' + output if output else ''}")
        return code


# --- the device ---------------------------------------------------------------

def _bind_device(cfg: dict) -> None:
    from pacemail.proc import run
    device = cfg["device"]
    if not os.path.exists(device):
        open(device, "a").close()  # a mount point; the shared /dev only ever gets this empty file
    run(["mount", "--bind", cfg["disk"], device], timeout=10)


def _unbind_device(cfg: dict) -> None:
    from pacemail.proc import run
    run(["umount", cfg["device"]], timeout=10, check=False)


def _err(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


if __name__ == "__main__":
    if sys.argv[1:2] == ["link"]:
        Link(sys.argv[2]).run()
    tool = sys.argv[1] if len(sys.argv) > 1 else ""
    sys.exit({"drbdadm": drbdadm, "drbdsetup": drbdsetup}.get(
        tool, lambda a: _err("usage: drbd_double drbdadm|drbdsetup ...", EXIT_USAGE))(sys.argv[2:]))
