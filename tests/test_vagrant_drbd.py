"""ocf:pacemail:drbd and ocf:pacemail:mount against the real DRBD 8.4 module, in the Vagrant VMs.

Runs against a cluster booted and provisioned already (``pacemail vagrant net
up && pacemail vagrant run -- up --no-parallel``); without it (or with
PACEMAIL_VAGRANT_DRILL=0) each test skips with the reason. In file
order: the steady state; promotion scores following the Secondary's disk
states through a slowed resync; a move of the stack (demote + promote under
Pacemaker); a hard power-off of the Primary's VM (the other storage node
promotes, fenced first, and data written before the kill is read after).
Figures are printed (``pytest -s``).
"""

from __future__ import annotations

import time
import uuid

import pytest

from pacemail.drills import vmtarget
from pacemail.pacemaker import attributes, status
from pacemail.proc import CommandError
from pacemail.vms import guests
from pacemail.vms.readiness import unavailable

STORAGE = ("node1", "node2")
QUORUM_NODE = "node3"   # never holds DRBD: asks Pacemaker from there
DRBD_ID, CLONE_ID, MOUNT_ID = "pm-drbd", "pm-drbd-clone", "pm-mount"
MOUNT_POINT = "/srv/mail"
POLL_S = 3.0   # polling faster costs the VMs seconds of CPU under TCG


@pytest.fixture(scope="module")
def vms():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    down = [n for n in (*STORAGE, QUORUM_NODE) if guests.power_state(n) != "running"]
    if down:
        pytest.skip(f"VMs not running: {', '.join(down)} (pacemail vagrant net up && "
                    "pacemail vagrant run -- up --no-parallel)")
    guests.refresh_ssh_config()
    return STORAGE


def on(node: str, *argv: str, timeout: float = 60, check: bool = True) -> str:
    return guests.guest(node, list(argv), timeout=timeout, check=check).stdout


def drbd(node: str) -> dict[str, str]:
    return guests.proc_drbd(on(node, "cat", "/proc/drbd", timeout=30))


def placed(resource: str) -> list[tuple[str, str]]:
    """(node, role) of each active instance of ``resource`` (a primitive, or a clone by its
    id), as crm_mon on the quorum node shows them."""
    now = status.read(run=vmtarget.runner(QUORUM_NODE), timeout=60)
    return [p for r in now.resources if resource in (r.id, r.clone) for p in r.placement]


def located(resource: str) -> list[str]:
    return [node for node, _ in placed(resource)]


def promoted() -> str | None:
    names = [node for node, role in placed(CLONE_ID) if role == "Promoted"]
    return names[0] if len(names) == 1 else None


def score(node: str) -> str | None:
    return attributes.get_promotion(DRBD_ID, node, run=vmtarget.runner(QUORUM_NODE))


def wait_for(probe, timeout: float, what: str, interval: float = POLL_S):
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = probe()
        except CommandError:
            got = None
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def fenced_since(epoch: float) -> list[str]:
    """'Peer X was terminated ...' lines of the controller on the quorum node since ``epoch``."""
    out = on(QUORUM_NODE, "journalctl", "-o", "cat", "--no-pager", "--since", f"@{int(epoch)}",
             "-t", "pacemaker-controld", check=False)
    return [line.strip() for line in out.splitlines() if "was terminated" in line]


def mounted_on(node: str) -> bool:
    return f" {MOUNT_POINT} " in on(node, "cat", "/proc/self/mounts", timeout=30,
                                     check=False).replace("\n", " \n")


def test_real_drbd_84_connected_with_one_primary_under_the_mount(vms):
    states = {n: drbd(n) for n in vms}
    version = on(vms[0], "cat", "/proc/drbd").splitlines()[0]
    print(f"\n{version}; {states}")
    assert version.startswith("version: 8.4.")
    assert all(s["cs"] == "Connected" and s["disk"] == "UpToDate" == s["peer_disk"]
               for s in states.values()), states
    primaries = [n for n, s in states.items() if s["role"] == "Primary"]
    assert len(primaries) == 1, states
    assert promoted() == primaries[0]
    assert mounted_on(primaries[0]) and not mounted_on(next(n for n in vms if n not in primaries))
    assert located(MOUNT_ID) == [primaries[0]]


def test_promotion_scores_follow_the_disk_states(vms):
    primary = promoted()
    secondary = next(n for n in vms if n != primary)
    assert score(primary) == "10000" and score(secondary) == "10000", \
        (score(primary), score(secondary))
    # A full resync of the Secondary, slowed so its monitor (every 31 s) sees it
    # Inconsistent; `drbdadm adjust` puts the configured rate back.
    on(secondary, "drbdadm", "disk-options", "--c-plan-ahead=0", "--resync-rate=2M", "mail")
    started = time.monotonic()
    try:
        on(secondary, "drbdadm", "invalidate", "mail")
        wait_for(lambda: drbd(secondary)["disk"] == "Inconsistent", 30, "Inconsistent")
        wait_for(lambda: score(secondary) is None, 90, f"{secondary}'s score removed")
        gone = time.monotonic() - started
        assert score(primary) == "10000"
    finally:
        on(secondary, "drbdadm", "adjust", "mail", check=False)
    wait_for(lambda: drbd(secondary)["disk"] == "UpToDate", 300, f"{secondary} UpToDate")
    synced = time.monotonic() - started
    wait_for(lambda: score(secondary) == "10000", 90, f"{secondary}'s score back")
    print(f"\nscore removed {gone:.1f}s after invalidate; UpToDate {synced:.1f}s; "
          f"score back {time.monotonic() - started:.1f}s")
    assert promoted() == primary


def test_move_demotes_then_promotes_under_pacemaker(vms):
    before = promoted()
    other = next(n for n in vms if n != before)
    started, wall = time.monotonic(), time.time()
    on(QUORUM_NODE, "crm_resource", "--move", "-r", MOUNT_ID, "-N", other)
    try:
        wait_for(lambda: located(MOUNT_ID) == [other] and promoted() == other, 240,
                 f"the mount and the Promoted DRBD on {other}")
        moved = time.monotonic() - started
    finally:
        on(QUORUM_NODE, "crm_resource", "--clear", "-r", MOUNT_ID, check=False)
    print(f"\nmove {before} -> {other}: {moved:.1f}s (demote, unmount, promote, mount)")
    # A planned move fences nobody (first run here: pm-dovecot's stop failed on the old
    # node, "OSError: [Errno 22] Invalid argument", and Pacemaker fenced it).
    assert fenced_since(wall - 5) == []
    assert drbd(other)["role"] == "Primary" and drbd(before)["role"] == "Secondary"
    assert mounted_on(other) and not mounted_on(before)


def stack_whole() -> str | None:
    """The node with the Promoted DRBD and every stack resource started, or None."""
    node = promoted()
    ids = (MOUNT_ID, "pm-vip-mail", "pm-dovecot", "pm-postfix-main")
    return node if node and all(located(r) == [node] for r in ids) else None


def test_hard_power_off_of_the_primary(vms):
    victim = wait_for(stack_whole, 300, "the stack whole on one node")
    # ... and redundant: a kill before the peer resynced leaves no UpToDate disk.
    wait_for(lambda: all(drbd(n).get("cs") == "Connected" and drbd(n).get("disk") == "UpToDate"
                         for n in vms), 300, "both DRBD disks UpToDate and connected")
    survivor = next(n for n in vms if n != victim)
    token = uuid.uuid4().hex
    path = f"{MOUNT_POINT}/drill-{token[:8]}"
    on(victim, "sh", "-c", f"echo {token} > {path} && sync")
    killed, killed_wall = time.monotonic(), time.time()
    guests.destroy(victim)
    marks = {}

    def progressed():
        s = drbd(survivor)
        if s["cs"] != "Connected" and "lost" not in marks:
            marks["lost"] = time.monotonic() - killed
        if s["role"] == "Primary" and "primary" not in marks:
            marks["primary"] = time.monotonic() - killed
        if "primary" in marks and mounted_on(survivor):
            marks.setdefault("mounted", time.monotonic() - killed)
            return True
        return False

    wait_for(progressed, 300, f"{survivor} Primary with {MOUNT_POINT} mounted", interval=1.0)
    assert on(survivor, "cat", path).strip() == token
    # This kill's fencing, not an older one (stonith_admin --history keeps the last success).
    fenced = wait_for(lambda: [line for line in fenced_since(killed_wall - 5)
                               if f"Peer {victim} was terminated" in line], 120,
                      f"the fencing of {victim} in the controller's journal")
    print(f"\nkill {victim}: {marks}; fencing: {fenced[0]}")
    back = wait_for(lambda: drbd(victim).get("disk") == "UpToDate"
                    and drbd(victim).get("role") == "Secondary" and time.monotonic(), 600,
                    f"{victim} back as an UpToDate Secondary", interval=5.0)
    print(f"{victim} back UpToDate Secondary {back - killed:.1f}s after the kill")
    assert promoted() == survivor
