"""A failover drill on three Vagrant VMs with real DRBD, end to end, or a skip saying why.

Boots the locally built box here (libvirt, TCG) in pacemail's network
namespace when the VMs are not running yet (the cached box added to Vagrant
first when it is not the box added, then ``vagrant up``, provisioning the
cluster), checks that every VM runs that box (its key in the image), drills
power-off-active through the drill engine's Vagrant target (the workload from
the namespace against the VIP, the sampler streaming from each VM, ``virsh
destroy`` of the VM holding the stack) and, when it booted them, destroys
the VMs afterwards (PACEMAIL_VAGRANT_KEEP=1 keeps them). The whole module
holds the VM side's run lock. Each phase is bounded (``vms.readiness``: net
up, vagrant up, the drill, destroy, net down) and their sum is what the run
must have left of CI's budget, else it skips; so do missing tools, a missing
box, or too little memory or pool space for the VMs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from conftest import STARTED
from pacemail.drills import engine, vmtarget
from pacemail.drills.scenarios import SCENARIOS
from pacemail.proc import run
from pacemail.runlock import Busy, hold
from pacemail.vms import box, build, guests, netns, paths, readiness, vagrantcmd
from pacemail.vms.readiness import DESTROY_S, DRILL_S, NODES, VAGRANT_UP_S


@pytest.fixture(scope="module")
def vms():
    reason = readiness.unavailable() or readiness.over_budget(
        time.monotonic() - STARTED, adding_box=readiness.box_add_due())
    if reason:
        pytest.skip(reason)
    with ExitStack() as held:
        try:
            held.enter_context(hold(paths.LOCK))
        except Busy as exc:
            pytest.skip(f"another run uses the VMs: {exc}")
        booted = not netns.exists() or any(guests.power_state(n) != "running" for n in NODES)
        try:
            if booted:
                netns.up(say=print)
                vagrantcmd.ensure_box(build.cached_box(), say=print)
                log = paths.state_dir() / "vagrant-up.log"
                argv, env = vagrantcmd.isolated(["up"], VAGRANT_UP_S)  # bounded by timeout(1)
                seconds = timed(argv, env, log)
                print(f"\nvagrant up (parallel): {seconds:.0f}s; each line's time in {log}")
            yield
        finally:
            if booted and os.environ.get("PACEMAIL_VAGRANT_KEEP") != "1":
                argv, env = vagrantcmd.isolated(["destroy", "-f"], DESTROY_S)
                run(argv, timeout=vagrantcmd.worst_s(DESTROY_S), env=env, check=False)
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


@contextmanager
def bounded(seconds: float, what: str):
    """Fail the test once ``seconds`` have passed, wherever it is (the drill engine's own
    cleanup, stopping the workload and undoing the fault, still runs as the failure
    unwinds): the drill's share of CI's budget is a bound, not a hope."""
    def expired(signum, frame):
        pytest.fail(f"{what} took longer than its bound, {seconds:.0f}s", pytrace=False)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_power_off_active_on_vagrant_vms(vms):
    with bounded(DRILL_S, "the VM drill"):
        t = vmtarget.connect()
        # The box is replaced in Vagrant and libvirt's pool when it changes: every VM runs
        # the image of the box built for this checkout.
        keys = {n: t.on(n, "cat", box.KEY_FILE, check=False).strip() for n in t.nodes}
        current = build.current_key()
        assert keys == {n: current for n in t.nodes}, \
            f"not every VM runs the current box {current} ({box.KEY_FILE}): {keys}"
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
