"""Vagrant VMs as a drill target: the adapter between the drill engine and pacemail.vms.guests.

The cluster is the one ``pacemail vagrant run -- up`` provisioned (three VMs
under TCG, real DRBD 8.4 on node1 and node2). What the engine asks for maps
to: ssh over the cached ``vagrant ssh-config`` (commands and the sampler's
long-lived probe streams), ``virsh`` against libvirtd in pacemail's network
namespace (power, links), and that namespace as the client: it is the VM
host side, on both the management and the private network, so the workload
reaches the stack's VIP from there.

Faults: ``power-off`` is ``virsh destroy`` (qemu killed; restored by
``virsh start`` unless fencing already restarted it), ``partition`` takes the
VM's private-network link down (``virsh domif-setlink``; corosync, DRBD and
the VIP live there, ssh does not), ``kill:PROCESS`` is ``pkill -KILL -x`` in
the guest, ``standby`` a node attribute set from another node.

Times from the guests' logs (detection, fencing) are moved onto the host's
clock with each node's offset measured by the sampler's stream.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from dataclasses import dataclass, field

from pacemail.drills import events, vmsampler, why
from pacemail.drills.labtarget import Timeouts
from pacemail.drills.standin import Stack
from pacemail.pacemaker import attributes, status
from pacemail.pacemaker.runner import Runner
from pacemail.proc import CommandError
from pacemail.vms import guests, netns

SSH_S = 60.0
DESCRIPTION = "/etc/pacemail/mail.yaml"     # what provision/apply.sh applied
PACEMAKER_LOG = "/var/log/pacemaker/pacemaker.log"
LOG_TAIL_BYTES = 4_000_000
NOTE = ("Vagrant VMs under qemu TCG (no KVM here): every resource-agent operation takes "
        "seconds (measured: fence_virsh ~8 s, the DRBD fence-peer handler ~5 s, postfix's "
        "start ~26 s) and a killed daemon waits for its 30 s monitor, so failovers take "
        "several times the namespace lab's. Sampler: one ssh stream per VM, a line a second.")
# Under TCG the VMs take 60-110 s to a whole stack after a kill,
# 70-100 s to rejoin, 100-130 s to an UpToDate Secondary.
VM_TIMEOUTS = Timeouts(steady=300.0, answering=120.0, failover=300.0, answering_again=120.0,
                       rejoin=600.0, whole_after_rejoin=180.0, fence_wait=90.0, settle=180.0,
                       poll=0.5, slow_poll=5.0, slow=200.0)


def hosts(ssh_config: str) -> list[str]:
    """The ``Host`` names of a ``vagrant ssh-config`` text, in order."""
    out = []
    for line in ssh_config.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].lower() == "host":
            out += [w for w in words[1:] if w not in out and "*" not in w]
    return out


def private_mac(domiflist: str, management_macs: set[str] = frozenset()) -> str | None:
    """The MAC of a domain's private-network interface in ``virsh domiflist`` output: the
    interfaces after the first (Vagrant's management network comes first), or the one not
    in ``management_macs``."""
    macs = re.findall(r"([0-9a-f]{2}(?::[0-9a-f]{2}){5})", domiflist, re.I)
    rest = [m for m in macs if m not in management_macs] if management_macs else macs[1:]
    return rest[0] if rest else None


def redundant(drbd_states: dict[str, dict]) -> bool:
    """Both DRBD peers connected and UpToDate (a later fault cannot promote an outdated disk)."""
    return bool(drbd_states) and all(
        s and s.get("cs") == "Connected" and s.get("disk") == "UpToDate" == s.get("peer_disk")
        for s in drbd_states.values())


@dataclass
class VagrantTarget:
    stack: Stack
    nodes: list[str]
    storage: list[str]
    mount_point: str
    drbd_resource: str = "mail"
    kinds: tuple[str, ...] = ("vip", "mount", "drbd", "postfix", "dovecot")
    timeouts: Timeouts = VM_TIMEOUTS
    workload_options: dict = field(default_factory=lambda: {"interval": 0.5,
                                                             "duration": 1500.0})
    note: str = NOTE
    failback: bool = False   # the provisioned description's placement.failback
    two_node: bool = False
    _sampler: vmsampler.VMSampler | None = None
    _cut: dict[str, str] = field(default_factory=dict)       # node -> MAC whose link is down
    _destroyed: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"vagrant: {len(self.nodes)} VMs (libvirt, qemu TCG), real DRBD 8.4"

    @property
    def size(self) -> int:
        return len(self.nodes)

    @property
    def node_names(self) -> list[str]:
        return list(self.nodes)

    @property
    def client_netns(self) -> str:
        return netns.NETNS

    # -- commands ---------------------------------------------------------------------
    def on(self, node: str, *argv: str, timeout: float = SSH_S, check: bool = True) -> str:
        return guests.guest(node, list(argv), timeout=timeout, check=check).stdout

    def running(self) -> list[str]:
        return [n for n in self.nodes if guests.power_state(n) == "running"]

    # -- sampling ---------------------------------------------------------------------
    def sampler(self) -> vmsampler.VMSampler:
        self._sampler = vmsampler.VMSampler(self.nodes, self.stack.address, self.mount_point,
                                            stream_argv, power)
        return self._sampler

    def wait_redundant(self, timeout: float) -> None:
        """Both DRBD disks UpToDate and connected before the fault (after a boot the initial
        sync takes minutes here; a kill before it ends leaves no good disk to promote)."""
        deadline = time.monotonic() + timeout
        while not redundant(self._drbd_states()):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"both DRBD disks UpToDate and connected: not within "
                                   f"{timeout:.0f}s ({self._drbd_states()})")
            time.sleep(self.timeouts.slow_poll)

    def _drbd_states(self) -> dict[str, dict]:
        if self._sampler is None:
            return {}
        out = {}
        for node in self.storage:
            line = self._sampler.latest(node)
            out[node] = dict(line.drbd) if line is not None and self._sampler.fresh(node) else {}
        return out

    # -- faults -----------------------------------------------------------------------
    def inject(self, fault: str, node: str) -> None:
        if fault == "power-off":
            self._destroyed.add(node)
            guests.destroy(node)
        elif fault == "partition":
            mac = private_mac(guests.virsh(["domiflist", guests.domain(node)], timeout=30).stdout)
            if mac is None:
                raise RuntimeError(f"no private-network interface on {guests.domain(node)}")
            guests.virsh(["domif-setlink", guests.domain(node), mac, "down"], timeout=30)
            self._cut[node] = mac
        elif fault == "standby":
            other = next(n for n in self.running() if n != node)
            attributes.set_standby(node, True, run=runner(other), timeout=SSH_S)
        elif fault.startswith("kill:"):
            self.on(node, "pkill", "-KILL", "-x", fault.split(":", 1)[1])
        else:
            raise ValueError(f"the Vagrant target cannot inject {fault!r}")

    def restore(self) -> list[str]:
        """Links up, every VM powered on, nobody in standby. Returns what it did."""
        done = []
        for node, mac in list(self._cut.items()):
            if guests.power_state(node) == "running":
                guests.virsh(["domif-setlink", guests.domain(node), mac, "up"], timeout=30,
                             check=False)
                done.append(f"{node}'s private link up")
            del self._cut[node]
        for node in self.nodes:
            if guests.power_state(node) != "running":
                guests.start(node)
                done.append(f"started {node}")
        self._destroyed.clear()
        asker = self._asker()
        for node in self.nodes:
            if asker is None:
                break
            try:
                if attributes.standby(node, run=runner(asker), timeout=SSH_S):
                    attributes.set_standby(node, False, run=runner(asker), timeout=SSH_S)
                    done.append(f"took {node} out of standby")
            except CommandError:
                continue
        return done

    def _asker(self) -> str | None:
        """A node to ask the cluster from: the sampler's freshest, else any that answers."""
        if self._sampler is not None:
            fresh = [n for n in self.nodes if self._sampler.fresh(n)]
            if fresh:
                return fresh[-1]
        for node in reversed(self.nodes):
            try:
                self.on(node, "true", timeout=20)
                return node
            except CommandError:
                continue
        return None

    def wait_rejoined(self, timeout: float) -> None:
        """Every node online in Pacemaker and DRBD redundant again (polled every 5 s)."""
        deadline = time.monotonic() + timeout
        while True:
            if self._rejoined():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"every VM online and DRBD UpToDate on both: not within "
                                   f"{timeout:.0f}s")
            time.sleep(self.timeouts.slow_poll)

    def _rejoined(self) -> bool:
        if not redundant(self._drbd_states()):
            return False
        asker = self._asker()
        if asker is None:
            return False
        try:
            now = status.read(run=runner(asker), timeout=60)
        except (CommandError, SyntaxError):
            return False
        return {n.name for n in now.nodes if n.online} >= set(self.nodes)

    # -- logs -------------------------------------------------------------------------
    def _log_lines(self, node: str, pattern: str) -> list[str]:
        try:
            out = self.on(node, "sh", "-c", f"tail -c {LOG_TAIL_BYTES} {PACEMAKER_LOG} | "
                          "grep -E \"$1\" || true", "-", pattern, timeout=60, check=False)
        except CommandError:
            return []
        return out.splitlines()

    def _offset(self, node: str) -> float:
        return self._sampler.offset(node) if self._sampler else 0.0

    def _answering(self, nodes: list[str]) -> list[str]:
        if self._sampler is None:
            return nodes
        return [n for n in nodes if self._sampler.fresh(n, within=10.0)]

    def fenced(self, after: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for node in self._answering(self.nodes):
            shift = self._offset(node)
            for victim, t in events.fenced_in(self._log_lines(node, events.FENCE_DONE),
                                              after - shift).items():
                out[victim] = min(t + shift, out.get(victim, t + shift))
        return out

    def detected_at(self, nodes: list[str], pattern: str, after: float) -> float | None:
        found = []
        for node in self._answering(nodes):
            shift = self._offset(node)
            t = events.first_match(self._log_lines(node, pattern), pattern, after - shift)
            if t is not None:
                found.append(t + shift)
        return min(found) if found else None

    # -- data -------------------------------------------------------------------------
    def why(self, since: float | None) -> list[str]:
        """What decides where the stack may run, as the first VM that answers sees it, DRBD
        on each (:func:`why.explain`), and what each VM's Pacemaker log says the cluster
        decided since ``since`` (fencing and its reasons, failed operations)."""
        running = self.running()
        logs = {node: self._log_lines(node, events.DECISIONS_GREP)
                for node in (running if since else ())}
        earliest = since - max((abs(self._offset(n)) for n in logs), default=0.0) if since else 0
        return (why.explain(runner, running, self.drbd_resource)
                + [f"log: {x}" for x in events.decisions(logs, earliest)])

    def write_marker(self, node: str) -> str:
        """A file written and synced on the active node's mail volume before the fault."""
        token = uuid.uuid4().hex
        path = f"{self.mount_point}/drill-marker-{token[:12]}"
        self.on(node, "sh", "-c", 'echo "$1" > "$2" && sync', "-", token, path)
        return f"{path} {token}"

    def read_marker(self, node: str, marker: str) -> bool:
        path, token = marker.split()
        try:
            found = self.on(node, "cat", path, timeout=SSH_S).strip() == token
            self.on(node, "rm", "-f", path, check=False)
            return found
        except CommandError:
            return False


def runner(node: str) -> Runner:
    """ssh to ``node``: how pacemail.pacemaker's calls reach a VM."""
    return functools.partial(guests.guest, node)


def stream_argv(node: str, argv: list[str]) -> list[str]:
    """ssh argv for a sampler stream: keepalives that give up on a dead VM in ~6 s."""
    base = guests.ssh_argv(node, argv)
    at = base.index("ssh") + 1
    return base[:at] + list(vmsampler.STREAM_SSH) + base[at:]


def power(node: str) -> tuple[str, str | None]:
    state = guests.power_state(node)
    if state != "running":
        return state, None
    try:
        return state, guests.virsh(["domid", guests.domain(node)], timeout=30).stdout.strip()
    except CommandError:
        return state, None


def connect(apply_node: str | None = None) -> VagrantTarget:
    """The target for the running VMs: refreshes the ssh config, reads the description the
    provisioning applied and derives the stack from it (VIP, resource ids, mount point)."""
    from pacemail.controller.description import parse
    from pacemail.controller.problems import errors
    from pacemail.drills.target import stack_ids

    config = guests.refresh_ssh_config()
    nodes = hosts(config.read_text())
    if not nodes:
        raise RuntimeError("vagrant ssh-config lists no running VM (pacemail vagrant run -- up)")
    down = [n for n in nodes if guests.power_state(n) != "running"]
    if down:
        raise RuntimeError(f"VMs not running: {', '.join(down)}")
    asker = apply_node or nodes[-1]
    text = guests.guest(asker, ["cat", DESCRIPTION], timeout=SSH_S).stdout
    parsed = parse(text, f"{asker}:{DESCRIPTION}")
    if errors(parsed.problems):
        raise RuntimeError(f"{DESCRIPTION} on {asker}: "
                           + "; ".join(str(p) for p in errors(parsed.problems)))
    d = parsed.description
    storage = [n for n in nodes if guests.proc_drbd(
        guests.guest(n, ["cat", "/proc/drbd"], timeout=SSH_S, check=False).stdout)]
    return VagrantTarget(Stack(d.vips[0].address, stack_ids(d), "pacemail"), nodes, storage,
                         d.storage.mount_point, d.storage.drbd_resource,
                         failback=bool(d.placement.preferred_node and d.placement.failback))
