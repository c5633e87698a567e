"""The lab's quorum device host: corosync-qnetd in a namespace of its own on the lab's switch.

``lab up --qdevice`` makes it before any node boots, the way ``pcs quorum
device add`` does: the qnetd host's NSS database with its CA and server
certificate (``corosync-qnetd-certutil -i``); every node's database with that
CA, node1's certificate request signed by qnetd, the signed certificate and
key exported on node1 and imported on the others
(``corosync-qdevice-net-certutil -i``, ``-r``, ``-M``, ``-m``). The tools
write fixed paths under /etc/corosync, so each runs in a private mount
namespace with the host's or the node's own directory bound over
/etc/corosync (:func:`main`'s ``exec``): nothing is written outside the lab's
directory.

qnetd itself runs the same way (its /etc/corosync bound, a private /run for
its lock and socket) in the network namespace ``pml-LAB-qn`` at
:data:`~pacemail.lab.topology.QNETD_ADDRESS`, plugged into the switch like
the client namespace, so a partition between nodes leaves every node's path
to it. ``lab down`` kills it with the lab's other namespaces' processes, and
its files go with the lab's directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pacemail import namespaces
from pacemail.lab import net
from pacemail.lab.topology import QNETD_ADDRESS, Lab
from pacemail.proc import CommandError, run

PORT_NAME = "qn"            # its veth end on the switch
ETC = "/etc/corosync"
CA_CERT = "qnetd/nssdb/qnetd-cacert.crt"                # under a qnetd host's /etc/corosync
NODE_DB = "qdevice/net/nssdb"                           # under a node's /etc/corosync
REQUEST = f"{NODE_DB}/qdevice-net-node.crq"
PK12 = f"{NODE_DB}/qdevice-net-node.p12"
TOOL_TIMEOUT = 60.0
START_WAIT_S = 10.0
DAEMON = "corosync-qnetd"


def create(lab: Lab, log=lambda msg: None) -> None:
    """Certificates for qnetd and every node, then qnetd up and answering on the switch."""
    certificates(lab)
    log("quorum device: certificates made (qnetd CA, the cluster's certificate on every node)")
    net.add_netns(lab.qnetd_netns)
    net.plug(lab.qnetd_netns, PORT_NAME, QNETD_ADDRESS, lab.switch_netns)
    start(lab)


def certificates(lab: Lab) -> None:
    qnetd_etc = lab.qnetd_root / ETC.lstrip("/")
    qnetd_etc.mkdir(parents=True, exist_ok=True)
    _tool(qnetd_etc, ["corosync-qnetd-certutil", "-i"])
    ca = qnetd_etc / CA_CERT
    first, *others = [node.root / ETC.lstrip("/") for node in lab.nodes]
    for etc in (first, *others):
        _tool(etc, ["corosync-qdevice-net-certutil", "-i", "-c", str(ca)])
    _tool(first, ["corosync-qdevice-net-certutil", "-r", "-n", lab.cluster_name])
    _tool(qnetd_etc, ["corosync-qnetd-certutil", "-s", "-c", str(first / REQUEST),
                      "-n", lab.cluster_name])
    signed = qnetd_etc / "qnetd/nssdb" / f"cluster-{lab.cluster_name}.crt"
    _tool(first, ["corosync-qdevice-net-certutil", "-M", "-c", str(signed)])
    for etc in others:
        _tool(etc, ["corosync-qdevice-net-certutil", "-m", "-c", str(first / PK12)])


def start(lab: Lab) -> None:
    """qnetd in its namespace, in the foreground of a process of its own (``lab down`` kills
    it there); returns once it answers its own tool."""
    log = open(lab.dir / "qnetd.log", "ab")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.qnetd_netns, *_private_mounts(lab.qnetd_root / ETC.lstrip("/")),
         "--run", DAEMON, "-f", "-4", "-l", QNETD_ADDRESS],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, cwd="/")
    log.close()
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            tool(lab, ["-s"])
            return
        except (CommandError, LookupError):
            time.sleep(0.1)
    raise RuntimeError(f"corosync-qnetd did not start: see {lab.dir / 'qnetd.log'}")


def pid(lab: Lab) -> int:
    """qnetd's process, found in its namespace (LookupError when it does not run)."""
    for candidate in namespaces.pids(lab.qnetd_netns):
        try:
            argv0 = Path(f"/proc/{candidate}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if os.path.basename(argv0.decode(errors="replace")) == DAEMON:
            return candidate
    raise LookupError(f"{DAEMON} does not run in {lab.qnetd_netns}")


def tool(lab: Lab, args: list[str]) -> str:
    """``corosync-qnetd-tool ARGS`` against the lab's qnetd (``-s`` its status, ``-l`` the
    clusters and which nodes it gives its vote)."""
    argv = ["nsenter", "--target", str(pid(lab)), "--mount", "--net", "corosync-qnetd-tool",
            *args]
    return run(argv, timeout=TOOL_TIMEOUT).stdout


def _tool(etc: Path, argv: list[str]) -> None:
    """A certificate tool with ``etc`` as its /etc/corosync, in a mount namespace of its own."""
    run(["unshare", "--mount", "--propagation", "private", *_private_mounts(etc), *argv],
        timeout=TOOL_TIMEOUT)


def _private_mounts(etc: Path) -> list[str]:
    """The argv prefix that runs a command with ``etc`` bound over /etc/corosync (:func:`main`);
    the caller puts it in a mount namespace of its own first."""
    return [sys.executable, "-m", "pacemail.lab.qnetd", "exec", str(etc)]


def main(argv: list[str]) -> int:
    """``exec ETC [--run] COMMAND...``: bind ETC over /etc/corosync (and with ``--run`` a fresh
    /run, for qnetd's lock and socket), then become COMMAND. Run in a private mount namespace
    only (``unshare --mount`` or ``ip netns exec``), so the mounts end with it."""
    if argv[:1] != ["exec"] or len(argv) < 3:
        print("usage: python -m pacemail.lab.qnetd exec ETC [--run] COMMAND...", file=sys.stderr)
        return 2
    etc, command = argv[1], argv[2:]
    run(["mount", "--bind", etc, ETC], timeout=10)
    if command[0] == "--run":
        command = command[1:]
        run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run"], timeout=10)
        os.makedirs(f"/run/{DAEMON}")
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
