"""The lab's disks and per-node directories, made before any node boots.

Each node gets its own copy of the directories nodeinit binds over the system
paths (cluster state, logs, postfix and dovecot configuration and spools), so
the nodes never share state through the file system; the mail volume is the
one thing they share, as a loop device over an image file (the SAN or DRBD
stand-in).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from pacemail.agents.install import install as install_agents, install_alert, script
from pacemail.lab import corosync_conf
from pacemail.lab.nodeinit import BOUND_DIRS
from pacemail.lab.topology import Lab, Node
from pacemail.proc import run

MAIL_IMAGE_MIB = 256
COPIED_FROM_HOST = ("/etc/postfix", "/var/spool/postfix", "/var/lib/postfix",
                    "/etc/dovecot", "/var/lib/dovecot")
PACEMAKER_DIRS = ("cib", "pengine", "blackbox", "cores")


def node_dirs(lab: Lab, node: Node, authkey: bytes) -> None:
    root = node.root
    for path in BOUND_DIRS:
        target = root / path.lstrip("/")
        if path in COPIED_FROM_HOST and Path(path).is_dir():
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            # cp -a keeps owners, modes and the special files postfix's spool has.
            run(["cp", "-a", path, str(target)], timeout=60)
        else:
            target.mkdir(parents=True, exist_ok=True)
    install_agents(root / "usr/lib/ocf")
    install_alert(root / "usr/lib/ocf")
    pacemaker = root / "var/lib/pacemaker"
    shutil.chown(pacemaker, "hacluster", "haclient")
    for sub in PACEMAKER_DIRS:
        (pacemaker / sub).mkdir(exist_ok=True)
        shutil.chown(pacemaker / sub, "hacluster", "haclient")
        os.chmod(pacemaker / sub, 0o750)
    etc = root / "etc/corosync"
    (etc / "corosync.conf").write_text(corosync_conf.render(lab))
    key = etc / "authkey"
    key.write_bytes(authkey)
    os.chmod(key, 0o400)


def mail_volume(lab: Lab) -> str:
    """Create the shared mail volume (ext4 on a loop device); return the device."""
    image = lab.mail_image
    image.parent.mkdir(parents=True, exist_ok=True)
    with open(image, "wb") as f:
        f.truncate(MAIL_IMAGE_MIB * 1024 * 1024)
    run(["mkfs.ext4", "-q", "-F", "-L", "pmmail", str(image)], timeout=60)
    return run(["losetup", "--find", "--show", str(image)], timeout=10).stdout.strip()


DRBD_RESOURCE = "mail"
DRBD_PORT = 7789
DOUBLE_TOOLS = ("drbdadm", "drbdsetup")


def drbd_double(lab: Lab, device: str) -> Path:
    """Install the DRBD test double for this lab: its tools and the resource's config.

    The config mirrors what drbd.conf would say: the resource on every node,
    ``fencing resource-and-stonith`` with pacemail's own handlers, and quorum
    by majority, except on two nodes: two have no majority once one is gone, so
    the two-node design is DRBD's ``quorum off`` with that fencing.
    """
    pacemail = str(Path(sys.executable).parent / "pacemail")
    cfg = {
        "name": DRBD_RESOURCE, "minor": 0, "device": "/dev/drbd0", "disk": device,
        "port": DRBD_PORT, "kernel": "9.2.8", "fencing": "resource-and-stonith",
        "quorum": "off" if lab.size == 2 else "majority",
        "hosts": {n.name: {"node_id": n.index - 1, "address": n.address} for n in lab.nodes},
        "handlers": {"fence-peer": [pacemail, "fencing", "fence-peer"],
                     "unfence-peer": [pacemail, "fencing", "unfence-peer"]},
    }
    path = lab.dir / "drbd" / f"{DRBD_RESOURCE}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    for tool in DOUBLE_TOOLS:
        path = lab.dir / "bin" / tool
        path.write_text(script(
            f"pacemail lab: TEST DOUBLE of {tool} (no DRBD kernel module here)",
            f"from pacemail.lab.drbd_double import {tool}\nsys.exit({tool}(sys.argv[1:]))\n"))
        path.chmod(0o755)
    return path


def loops_under(directory: Path) -> dict[str, str]:
    """Loop device -> backing file, for every loop device backed by a file under ``directory``.

    Read from sysfs (no subprocess); a deleted backing file still counts (its
    name then ends in " (deleted)", which the lab's own files never do).
    """
    found = {}
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            path = backing.read_text().strip().removesuffix(" (deleted)")
        except OSError:
            continue
        if path.startswith(str(directory).rstrip("/") + "/"):
            found[f"/dev/{backing.parent.parent.name}"] = path
    return found


def detach_loops(lab_dir: Path) -> list[str]:
    """Detach every loop device whose backing file lies under ``lab_dir``."""
    detached = sorted(loops_under(lab_dir))
    for device in detached:
        run(["losetup", "--detach", device], timeout=10, check=False)
    return detached
