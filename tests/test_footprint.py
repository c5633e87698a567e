"""pacemail as a guest: a run killed at a random point leaves nothing the next run or
`pacemail doctor --clean` does not remove, and the doctor never touches a lab in use."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import KILL_LAB
from pacemail import namespaces, runlock
from pacemail.lab import power, provision
from pacemail.lab.topology import STATE_ROOT, lock_name, netns_prefix
from pacemail.proc import run

PACEMAIL = str(Path(sys.executable).parent / "pacemail")
UP_S = 25.0   # `lab up` of 3 nodes takes about 23 s here: a kill anywhere in it


def leftovers(name: str) -> dict[str, list]:
    """Everything of lab ``name`` still on the machine: what a user would look for."""
    where = str(STATE_ROOT / name)
    found = {
        "namespaces": [ns for ns in namespaces.names() if ns.startswith(netns_prefix(name))],
        "processes": power.lab_daemons().get(name, []),
        "loop devices": sorted(provision.loops_under(STATE_ROOT / name)),
        "mounts": [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                   if where in line],
        "directory": [where] if Path(where).exists() else [],
    }
    return {k: v for k, v in found.items() if v}


def killed_lab_up(rng: random.Random) -> float:
    """Start `pacemail lab up` of KILL_LAB and SIGKILL it after a random delay."""
    delay = rng.uniform(0.5, UP_S)
    proc = subprocess.Popen([PACEMAIL, "lab", "up", "--name", KILL_LAB],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()
    proc.wait()
    return delay


@pytest.mark.lab
def test_a_lab_run_killed_at_a_random_point_is_cleaned_by_the_doctor_and_the_next_run(lab):
    seed = random.randrange(2 ** 32)
    rng = random.Random(seed)
    for cleaner in (["doctor", "--clean", "--lab", KILL_LAB], ["lab", "down", "--name", KILL_LAB]):
        delay = killed_lab_up(rng)
        print(f"\nseed {seed}: `lab up` killed after {delay:.1f}s; "
              f"left: { {k: len(v) for k, v in leftovers(KILL_LAB).items()} }")
        assert runlock.holder(lock_name(KILL_LAB)) is None     # the lock died with the run
        started = time.monotonic()
        run([PACEMAIL, *cleaner], timeout=120)
        print(f"`pacemail {' '.join(cleaner)}`: {time.monotonic() - started:.1f}s")
        assert leftovers(KILL_LAB) == {}, f"seed {seed}, killed after {delay:.1f}s"
    # The session's lab, held by this run, was never touched.
    assert all(power.is_on(lab, node) for node in lab.nodes)


@pytest.mark.lab
def test_the_doctor_lists_labs_and_leaves_a_held_one_alone(lab):
    found = json.loads(run([PACEMAIL, "doctor", "--json"], timeout=120).stdout)
    mine = next(r for r in found["labs"] if r["name"] == lab.name)
    assert mine["alive"] and mine["recorded"] and len(mine["namespaces"]) == 5
    assert mine["holder"]["pid"] > 0 and len(mine["loops"]) == 1
    assert found["free_disk"] > 0 and found["mem_available"] > 0
    assert any(item["path"].endswith("/resource.d/pacemail/vip") and not item["stale"]
               for item in found["launchers"])
    done = run([PACEMAIL, "doctor", "--clean", "--lab", lab.name], timeout=120, check=False)
    assert done.returncode == 1 and f"lab {lab.name}: in use by PID" in done.stdout
    assert all(power.is_on(lab, node) for node in lab.nodes)
