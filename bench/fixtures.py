"""Real things for the bench's monitors to look at, created before a pair and removed after.

Each fixture is a context manager taking the places dict and yielding the
names it adds to it. Everything stays local: a veth pair in the root
network namespace whose two ends only reach each other (this kernel has no
dummy interfaces) and loop devices on files in the bench's scratch folder.
"""

from __future__ import annotations

import contextlib

from pacemail.proc import run

TIMEOUT = 30
BENCH_NIC, BENCH_PEER = "pmbench0", "pmbench1"
BENCH_NET = "198.19.250"  # benchmarking range (RFC 2544), on the dummy interface only


@contextlib.contextmanager
def local_nic(places):
    """An interface with carrier and a connected /24 for both sides' addresses."""
    run(["ip", "link", "add", BENCH_NIC, "type", "veth", "peer", "name", BENCH_PEER],
        timeout=TIMEOUT)
    try:
        run(["ip", "addr", "add", f"{BENCH_NET}.254/24", "dev", BENCH_NIC], timeout=TIMEOUT)
        for nic in (BENCH_PEER, BENCH_NIC):
            run(["ip", "link", "set", nic, "up"], timeout=TIMEOUT)
        yield {"nic": BENCH_NIC, "net": BENCH_NET}
    finally:
        run(["ip", "link", "del", BENCH_NIC], timeout=TIMEOUT, check=False)


@contextlib.contextmanager
def loop_filesystems(places):
    """Two small ext4 loop devices, one per side, and their mount points."""
    loops = []
    try:
        for side in ("ours", "theirs"):
            image = f"{places['tmp']}/{side}.img"
            run(["truncate", "-s", "32M", image], timeout=TIMEOUT)
            run(["mkfs.ext4", "-q", "-F", image], timeout=TIMEOUT)
            loops.append(run(["losetup", "--find", "--show", image], timeout=TIMEOUT).stdout.strip())
        yield {"dev_ours": loops[0], "dev_theirs": loops[1]}
    finally:
        for loop in loops:
            run(["losetup", "--detach", loop], timeout=TIMEOUT, check=False)
