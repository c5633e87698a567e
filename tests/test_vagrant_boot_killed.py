"""A VM boot killed at a random point leaves nothing `pacemail doctor --clean` does not remove.

The run that boots the VMs (`pacemail vagrant run -- up`, its whole process
group: pacemail, timeout, vagrant) is SIGKILLed somewhere in its first
minutes, as CI or an admin's Ctrl-\\ would. What it started outside that group
survives: libvirtd and virtlogd in pacemail's namespace, the VMs' qemu, their
domains and disks. The doctor must remove all of it; the VM drill that runs
after this test (test_vagrant_drill) then boots from that clean state. Runs
only when the drill after it still fits the run's budget.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import STARTED
from pacemail.proc import run
from pacemail.runlock import holder
from pacemail.vms import inventory, netns, paths, pool, readiness

PACEMAIL = str(Path(sys.executable).parent / "pacemail")


def test_a_vm_boot_killed_at_a_random_point_is_cleaned_by_the_doctor():
    reason = readiness.unavailable() or readiness.over_budget(
        time.monotonic() - STARTED, adding_box=readiness.box_add_due(), killed_boot_first=True)
    if reason:
        pytest.skip(f"this test and the VM drill after it: {reason}")
    if netns.exists() or holder(paths.LOCK):
        pytest.skip("the VM side is in use (its namespace is up or its lock held)")
    seed = random.randrange(2 ** 32)
    delay = random.Random(seed).uniform(5, readiness.KILL_BY_S)
    netns.up(say=print)
    log = paths.state_dir() / "vagrant-up-killed.log"
    with open(log, "w") as out:
        boot = subprocess.Popen([PACEMAIL, "vagrant", "run", "--", "up"], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            boot.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(boot.pid, signal.SIGKILL)
        boot.wait()
    left = inventory.census()
    print(f"\nseed {seed}: `vagrant up` killed after {delay:.0f}s (see {log}); left: "
          f"{len(left['qemu'])} qemu, domains {left['domains']}, "
          f"{len(pool.vm_disks(pool.volumes()))} VM disks, netns pids {left['netns']['pids']}")
    started = time.monotonic()
    done = run([PACEMAIL, "doctor", "--clean", "--vms"], timeout=readiness.CLEAN_S)
    print(f"`pacemail doctor --clean --vms`: {time.monotonic() - started:.0f}s\n{done.stderr}")

    after = inventory.census()
    assert after["qemu"] == [], f"seed {seed}"
    assert not after["netns"]["exists"] and after["domains"] is None
    assert after["domain_configs"] == [] and pool.vm_disks(pool.volumes()) == []
    assert [v for v in after["pool"] if v["stale"]] == []   # at most the current box's volume
    assert after["mounts"] == [] and after["holder"] is None
    assert all(pid is None for pid in after["daemons"].values())
