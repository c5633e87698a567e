"""Bringing a lab up and down, and reading its state.

Both hold the lab's run lock (:func:`pacemail.lab.topology.lock_name`) while
they work, so a second run on the same lab refuses instead of tearing down
the first one's cluster. ``up`` always clears a stale lab of the same name
first (left by a crash, a killed run or a half-finished ``up``), and ``down``
finds everything from the lab's name alone: namespaces by prefix, loop
devices by backing file, processes by namespace, so it works without the
state file and twice in a row.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pacemail import namespaces
from pacemail.agents.install import script
from pacemail.lab import (
    cluster, mailconf, net, power, provision, proxysql, qnetd, sbd, state, switchd,
)
from pacemail.lab.nodeinit import BOUND_DIRS, TMPFS_DIRS
from pacemail.lab.nodes import node_runner
from pacemail.lab.topology import STATE_ROOT, Lab, check_name, lock_name, netns_prefix
from pacemail.pacemaker import attributes, cib
from pacemail.runlock import hold

FENCE_AGENT_PATH = Path("/usr/sbin/fence_pacemail_lab")
FENCE_DEVICE_ID = "lab-fence"
QUORUM_WAIT_S = 120.0


@dataclass
class UpResult:
    lab: Lab
    seconds_to_quorum: float
    seconds_total: float
    mail_device: str


def up(name: str, size: int = 3, two_node: bool = False, fencing: bool = True,
       progress=lambda msg: None, wait: float = 0.0, qdevice: bool = False,
       sbd_disk: bool = False) -> UpResult:
    """Start lab ``name``; raise :class:`pacemail.runlock.Busy` if another run holds it
    for longer than ``wait`` seconds. ``qdevice``: a quorum device (qnetd on a host of its
    own, :mod:`pacemail.lab.qnetd`) instead of two_node; ``sbd_disk``: a shared SBD disk
    (:mod:`pacemail.lab.sbd`)."""
    lab = Lab(check_name(name), size, two_node, qdevice)
    _check_visible_in_nodes()
    with hold(lock_name(name), wait):
        return _up(lab, fencing, progress, sbd_disk)


def _up(lab: Lab, fencing: bool, progress, sbd_disk: bool = False) -> UpResult:
    started = time.monotonic()
    name, size = lab.name, lab.size
    _down(name)
    try:
        (lab.dir / "bin").mkdir(parents=True)
        authkey = os.urandom(256)
        for node in lab.nodes:
            provision.node_dirs(lab, node, authkey)
        mailconf.configure_nodes(lab)
        proxysql.configure_nodes(lab)
        device = provision.mail_volume(lab)
        mailconf.prepare_volume(device)
        provision.drbd_double(lab, device)
        extra = {"sbd_device": sbd.shared_disk(lab)} if sbd_disk else {}
        net.create_switch(lab)
        net.create_client(lab)
        if lab.qdevice:
            qnetd.create(lab, progress)
        install_fence_agent()
        state.save(lab, mail_device=device, mail_image=str(lab.mail_image), **extra)
        _start_switch(lab)
        progress(f"booting {size} nodes")
        for node in lab.nodes:
            answer = switchd.request(str(lab.switch_socket), "on", node.name)
            if not answer.get("ok"):
                raise RuntimeError(f"{node.name}: {answer.get('error')}")
        progress("waiting for quorum and a DC")
        view = cluster.wait_for_quorum(lab.name, [n.name for n in lab.nodes], QUORUM_WAIT_S)
        quorum_at = time.monotonic() - started
        if fencing:
            configure_fencing(lab, view.dc or "node1")
        return UpResult(lab, quorum_at, time.monotonic() - started, device)
    except BaseException:
        _down(name)
        raise


def down(name: str, wait: float = 0.0) -> list[str]:
    """Remove everything lab ``name`` made. Returns what was removed, for the log."""
    with hold(lock_name(name), wait):
        return _down(check_name(name))


def _down(name: str) -> list[str]:
    lab_dir = STATE_ROOT / name
    removed = []
    spaces = [ns for ns in namespaces.names() if ns.startswith(netns_prefix(name))]
    # The switch, every node's init (even one whose namespace is gone) and every process
    # in the lab's namespaces.
    killed = sorted(set(power.lab_daemons().get(name, []))
                    | {p for ns in spaces for p in namespaces.pids(ns)})
    for p in killed:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait_dead(killed)
    if killed:
        removed.append(f"{len(killed)} processes")
    for ns in spaces:
        namespaces.delete(ns)
        removed.append(f"netns {ns}")
    removed += [f"loop {d}" for d in provision.detach_loops(lab_dir)]
    if lab_dir.exists():
        shutil.rmtree(lab_dir)
        removed.append(str(lab_dir))
    if FENCE_AGENT_PATH.exists() and not labs():
        FENCE_AGENT_PATH.unlink()
        removed.append(str(FENCE_AGENT_PATH))
    return removed


def configure_fencing(lab: Lab, node: str) -> None:
    """A fence device for all nodes, and STONITH on: the lab fences like production."""
    from lxml import etree

    from pacemail.controller.cibxml import nvset, operation, sub_id
    from pacemail.controller.model import Op

    device = etree.Element("primitive", {"id": FENCE_DEVICE_ID, "class": "stonith",
                                         "type": "fence_pacemail_lab"})
    nvset(device, "instance_attributes", sub_id(FENCE_DEVICE_ID, "instance_attributes"),
          (("lab", lab.name), ("pcmk_host_list", " ".join(n.name for n in lab.nodes))))
    etree.SubElement(device, "operations").append(operation(FENCE_DEVICE_ID, Op("monitor", "60s")))
    run = node_runner(lab.name, node)
    cib.create("resources", etree.tostring(device, encoding="unicode"), run=run)
    attributes.set_property("stonith-enabled", "true", run=run)


def install_fence_agent() -> None:
    """Pacemaker's fenced finds fence agents as /usr/sbin/fence_*."""
    FENCE_AGENT_PATH.write_text(script(
        "fence_pacemail_lab, written by `pacemail lab up`",
        "from pacemail.lab.fence_agent import main\nsys.exit(main())\n"))
    FENCE_AGENT_PATH.chmod(0o755)


def _check_visible_in_nodes() -> None:
    """Nodes run this very pacemail: it must not live where a node mounts its own directory."""
    import pacemail
    private = [*BOUND_DIRS, *TMPFS_DIRS]
    for path in (sys.prefix, os.path.dirname(os.path.abspath(pacemail.__file__))):
        for top in private:
            if path == top or path.startswith(top + "/"):
                raise RuntimeError(
                    f"pacemail is installed under {top} ({path}), which every lab node replaces "
                    "with its own; install it elsewhere (e.g. clone the repository to /opt or /work)")


def labs() -> list[str]:
    """Names of the labs that are up on this machine."""
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.name for p in STATE_ROOT.iterdir() if (p / "state.json").exists())


def _start_switch(lab: Lab) -> None:
    log = open(lab.dir / "switchd.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "pacemail.lab.switchd", lab.name],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, cwd="/")
    log.close()
    (lab.dir / "switchd.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if lab.switch_socket.exists():
            try:
                if switchd.request(str(lab.switch_socket), "list", timeout=5).get("ok"):
                    return
            except OSError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"the lab switch did not start: see {lab.dir / 'switchd.log'}")


def _wait_dead(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(power.alive(p) for p in pids):
        time.sleep(0.02)
