"""A shared SBD disk for a lab (``lab up --sbd-disk``): a loop device with SBD's header on it.

What an admin does once for disk-mode SBD (``sbd create``, the command
``pacemail render --sbd`` prints), on the lab's stand-in for a SAN disk: a
loop device over an image in the lab's directory, seen by every node (they
share the host's /dev). ``lab down`` detaches it and removes the image with
the lab's directory, like the mail volume's.

No sbd daemon runs in a lab: it needs a watchdog (none in a namespace, and
the host's would reset the whole machine), so a poison pill written on this
disk is read by nobody. The lab fences with its power switch; the disk is for
``sbd -d DISK list|dump|message`` and ``fence_sbd --devices=DISK -o list``.
"""

from __future__ import annotations

from pacemail.controller.model import Sbd
from pacemail.lab.topology import Lab
from pacemail.pacemaker import sbd as sbd_tool
from pacemail.proc import run

IMAGE_MIB = 8          # sbd uses about 1 MiB (255 slots of 512-byte sectors and the header)


def shared_disk(lab: Lab, sbd: Sbd = Sbd("disk")) -> str:
    """A loop device with ``sbd``'s timeouts written on it, read back; returns the device."""
    image = lab.sbd_image
    image.parent.mkdir(parents=True, exist_ok=True)
    with open(image, "wb") as f:
        f.truncate(IMAGE_MIB * 1024 * 1024)
    device = run(["losetup", "--find", "--show", str(image)], timeout=10).stdout.strip()
    sbd_tool.create([device], sbd.watchdog_timeout_s, sbd.msgwait_timeout_s)
    header = sbd_tool.dump(device)
    if (header.watchdog_s, header.msgwait_s) != (sbd.watchdog_timeout_s, sbd.msgwait_timeout_s):
        raise RuntimeError(f"sbd wrote watchdog {header.watchdog_s}s / msgwait "
                           f"{header.msgwait_s}s on {device}, not the "
                           f"{sbd.watchdog_timeout_s}s / {sbd.msgwait_timeout_s}s asked for")
    return device
