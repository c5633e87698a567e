"""A failover drill on three Vagrant VMs with real DRBD, end to end, or a skip saying why.

Boots the locally built box here (libvirt, TCG) in pacemail's network
namespace when the VMs are not running yet (``vagrant up``, provisioning the
cluster), drills power-off-active through the drill engine's Vagrant target
(the workload from the namespace against the VIP, the sampler streaming from
each VM, ``virsh destroy`` of the VM holding the stack) and, when it booted
them, destroys the VMs afterwards (PACEMAIL_VAGRANT_KEEP=1 keeps them). It
costs 6.7-7.6 min of both cores (four CI runs), so it runs last, and only when everything it
needs is here and the run so far leaves CI the time (``vms.readiness``).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import STARTED
from pacemail.drills import engine, vmtarget
from pacemail.drills.scenarios import SCENARIOS
from pacemail.proc import run
from pacemail.vms import guests, netns, paths, readiness, vagrantcmd

NODES = ("node1", "node2", "node3")
UP_S = 900   # measured 3.5-4.1 min (net up included); a boot that takes this long is broken


@pytest.fixture(scope="module")
def vms():
    reason = readiness.unavailable() or readiness.over_budget(time.monotonic() - STARTED)
    if reason:
        pytest.skip(reason)
    booted = not netns.exists() or any(guests.power_state(n) != "running" for n in NODES)
    try:
        if booted:
            netns.up(say=print)
            log = paths.state_dir() / "vagrant-up.log"
            argv, env = vagrantcmd.isolated(["up"], UP_S)   # bounded by timeout(1) in argv
            seconds = timed(argv, env, log)
            print(f"\nvagrant up (parallel): {seconds:.0f}s; each line's time in {log}")
        yield
    finally:
        if booted and os.environ.get("PACEMAIL_VAGRANT_KEEP") != "1":
            argv, env = vagrantcmd.isolated(["destroy", "-f"], 600)
            run(argv, timeout=660, env=env, check=False)
            netns.down(say=print)


def timed(argv: list[str], env: dict, log: Path) -> float:
    """Run ``argv`` (bounded by its own timeout(1)); its output into ``log``, each line
    prefixed with the seconds since the start (where `vagrant up` spends its time)."""
    started = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out, subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            out.write(f"{time.monotonic() - started:7.1f} {line}")
            out.flush()
        code = proc.wait(timeout=120)
    assert code == 0, f"vagrant up exited {code}: see {log}"
    return time.monotonic() - started


def test_power_off_active_on_vagrant_vms(vms):
    t = vmtarget.connect()
    started = time.monotonic()
    r = engine.run(t, SCENARIOS["power-off-active"], print)
    print(f"\ndrill: {time.monotonic() - started:.0f}s; "
          + ", ".join(f"{k}={r.get(k)}" for k in ("active_before", "active_after", "detect_s",
                                                  "fence_s", "recover_s", "downtime_s",
                                                  "back_s", "accepted", "lost", "duplicates",
                                                  "data_intact", "fenced", "violations")))
    assert r["lost"] == 0, r["lost_numbers"]
    assert r["violations"] == []
    assert r["accepted"] > 0 and r["delivered"] == r["accepted"]
    assert r["active_before"] in r["fenced"] and r["fence_s"] is not None
    assert r["active_after"] != r["active_before"]
    assert r["data_intact"] is True
    assert r["passed"]
