"""Run locks: one run per lab, a refusal that names the holder, nothing stale after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pacemail import runlock

HOLD = """
import sys, time
from pacemail.runlock import hold
with hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""
TAKE = """
import sys
from pacemail.runlock import Busy, hold
try:
    with hold(sys.argv[1], wait=float(sys.argv[2])):
        print("got it")
except Busy as exc:
    print(exc)
    sys.exit(3)
"""


@pytest.fixture
def lock_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(runlock, "LOCK_DIR", tmp_path)
    monkeypatch.setenv("PACEMAIL_LOCK_DIR", str(tmp_path))
    monkeypatch.delenv(runlock.ENV, raising=False)
    return tmp_path


def holder_process(name: str, seconds: float) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != runlock.ENV}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, name, str(seconds)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


def take(name: str, wait: float = 0.0, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TAKE, name, str(wait)], capture_output=True,
                          text=True, timeout=30, env=env)


def test_a_second_run_is_refused_at_once_naming_the_holder(lock_dir):
    proc = holder_process("lab-alpha", 30)
    try:
        started = time.monotonic()
        done = take("lab-alpha", env={k: v for k, v in os.environ.items() if k != runlock.ENV})
        assert time.monotonic() - started < 5
        assert done.returncode == 3
        assert f"lab alpha is in use by PID {proc.pid}" in done.stdout
        assert "-c" in done.stdout and "--wait SECONDS" in done.stdout
        assert runlock.holder("lab-alpha")["pid"] == proc.pid
        assert take("lab-beta").returncode == 0          # another lab is another lock
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_leaves_no_stale_lock(lock_dir):
    proc = holder_process("lab-alpha", 60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert runlock.holder("lab-alpha") is None
    assert take("lab-alpha").stdout.strip() == "got it"


def test_wait_takes_the_lock_once_the_holder_ends(lock_dir):
    proc = holder_process("lab-alpha", 1.5)
    done = take("lab-alpha", wait=20)
    proc.wait()
    assert done.stdout.strip() == "got it"
    proc = holder_process("lab-alpha", 30)
    try:
        started = time.monotonic()
        done = take("lab-alpha", wait=1.0)
        assert done.returncode == 3 and "(waited 1s)" in done.stdout
        assert time.monotonic() - started >= 1.0
    finally:
        proc.kill()
        proc.wait()


def test_commands_the_holder_starts_run_under_its_hold_others_do_not(lock_dir):
    with runlock.hold("lab-alpha") as me:
        assert me["pid"] == os.getpid()
        assert f"lab-alpha={os.getpid()}" in os.environ[runlock.ENV].split()
        with runlock.hold("lab-alpha"):               # nested in this process
            pass
        assert take("lab-alpha").stdout.strip() == "got it"   # a child: inherits the entry
        outside = {k: v for k, v in os.environ.items() if k != runlock.ENV}
        assert take("lab-alpha", env=outside).returncode == 3
        assert runlock.holder("lab-alpha")["pid"] == os.getpid()   # the nested ones kept it
    assert runlock.ENV not in os.environ or "lab-alpha" not in os.environ[runlock.ENV]
    assert runlock.holder("lab-alpha") is None


def test_a_daemon_started_by_the_holder_does_not_keep_the_lock(lock_dir):
    with runlock.hold("lab-alpha"):
        daemon = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert runlock.holder("lab-alpha") is None
        assert take("lab-alpha").stdout.strip() == "got it"
    finally:
        daemon.kill()
        daemon.wait()
