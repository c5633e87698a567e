"""PID 1 of a lab node: gives the node its own view of the system, then boots the cluster stack.

Started by the lab's power switch as
``ip netns exec NS unshare --uts --mount --pid --fork --mount-proc python -m pacemail.lab.nodeinit LAB NODE``.
It sets the hostname (Pacemaker names the node after it), binds the node's
own directories over the system paths, mounts fresh tmpfs on /run, /dev/shm
(libqb IPC lives there), starts corosync, waits for it, starts
corosync-qdevice in a lab with a quorum device (``lab up --qdevice``) and
pacemakerd, and then reaps orphans like any init. Killing this process with
SIGKILL from outside kills the whole node at once: that is the power switch.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from pacemail.lab import state
from pacemail.lab.topology import LAB_NAME_FILE, STATE_ROOT, check_name
from pacemail.pacemaker import quorum
from pacemail.proc import run

# Per-node directories bound over the system's (path inside the node -> under the node root).
BOUND_DIRS = (
    "/etc/corosync", "/var/lib/corosync", "/var/lib/pacemaker", "/var/log",
    "/etc/postfix", "/var/spool/postfix", "/var/lib/postfix",
    "/etc/dovecot", "/var/lib/dovecot", "/srv", "/etc/pacemail", "/var/lib/proxysql",
    # The agents' launchers of the pacemail that started the lab, whichever checkout
    # installed the machine's last: two checkouts' labs each run their own agents
    # (resource agents, and the alert agent in the provider's lib folder).
    "/usr/lib/ocf/resource.d/pacemail", "/usr/lib/ocf/lib/pacemail",
)
# mount point -> mode; /dev/shm must be world-writable: pacemaker's daemons run as
# hacluster and create their libqb IPC ring buffers there. /tmp stays the host's:
# pacemail itself (its venv, the agents' interpreter) may live there, as in a CI
# checkout, and a node must run the same pacemail the host does.
TMPFS_DIRS = {"/run": "755", "/dev/shm": "1777"}
RUN_DIRS = {  # created on the fresh /run: path -> (owner, group, mode)
    "/run/crm": ("hacluster", "haclient", 0o750),
    "/run/lock": ("root", "root", 0o1777),
    "/run/dovecot": ("root", "root", 0o755),
    "/run/pacemail": ("root", "root", 0o755),
}
COROSYNC_WAIT_S = 15.0


def main(argv: list[str]) -> int:
    lab, node = check_name(argv[0]), argv[1]
    root = STATE_ROOT / lab / "nodes" / node
    if os.getpid() != 1:
        print("nodeinit must run as PID 1 of a new PID namespace", file=sys.stderr)
        return 1
    socket.sethostname(node)
    _mount(["--make-rprivate", "/"])
    for path in BOUND_DIRS:
        source = root / path.lstrip("/")
        if source.is_dir():
            os.makedirs(path, exist_ok=True)
            _mount(["--bind", str(source), path])
    for path, mode in TMPFS_DIRS.items():
        _mount(["-t", "tmpfs", "-o", f"mode={mode}", "tmpfs", path])
    for path, (owner, group, mode) in RUN_DIRS.items():
        os.makedirs(path, exist_ok=True)
        shutil.chown(path, owner, group)
        os.chmod(path, mode)
    with open(LAB_NAME_FILE, "w") as f:  # fence_pacemail_lab's default for its `lab` option
        f.write(lab + "\n")
    for path in ("/var/log/pacemaker", "/var/log/corosync", "/var/log/crmsh"):
        os.makedirs(path, exist_ok=True)
    shutil.chown("/var/log/pacemaker", "hacluster", "haclient")

    env = dict(os.environ, PATH=_path(lab))
    log = open("/var/log/pacemail-node.log", "ab", buffering=0)
    _log(log, f"{node} booting")
    corosync = subprocess.Popen(["corosync", "-f"], stdout=log, stderr=log, env=env,
                                stdin=subprocess.DEVNULL)
    if not _wait_corosync(env):
        _log(log, "corosync did not come up; the node stays up without pacemaker")
    daemons = [corosync]
    if state.load(lab).qdevice:   # its lock and socket live in /run/corosync-qdevice
        os.makedirs("/run/corosync-qdevice", exist_ok=True)
        daemons.append(subprocess.Popen(["corosync-qdevice", "-f"], stdout=log, stderr=log,
                                        env=env, stdin=subprocess.DEVNULL))
    pacemakerd = subprocess.Popen(["pacemakerd"], stdout=log, stderr=log, env=env,
                                  stdin=subprocess.DEVNULL)
    daemons.append(pacemakerd)
    _log(log, ", ".join(f"{d.args[0]} pid {d.pid}" for d in daemons))
    # Clean shutdown in reverse: pacemaker, the quorum device, corosync.
    signal.signal(signal.SIGTERM, lambda *_: _shutdown(log, daemons[::-1]))
    while True:  # init duty: reap every orphan that is re-parented to us
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(1)
        except InterruptedError:
            pass


def _shutdown(log, daemons) -> None:
    """Clean shutdown (SIGTERM), in the order given, like a service manager: pacemakerd may
    take a minute to stop its resources, the others seconds."""
    _log(log, "shutdown requested")
    for proc in daemons:
        grace = 60 if proc.args[0] == "pacemakerd" else 10
        if proc.poll() is None:
            proc.terminate()
            deadline = time.monotonic() + grace
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
    os._exit(0)


def _path(lab: str) -> str:
    """The lab's own bin directory (test doubles) comes first."""
    return f"{STATE_ROOT / lab / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _wait_corosync(env) -> bool:
    deadline = time.monotonic() + COROSYNC_WAIT_S
    while time.monotonic() < deadline:
        if quorum.answers(run=functools.partial(run, env=env)):
            return True
        time.sleep(0.2)
    return False


def _mount(args: list[str]) -> None:
    run(["mount"] + args, timeout=10)


def _log(log, message: str) -> None:
    log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} nodeinit: {message}\n".encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
