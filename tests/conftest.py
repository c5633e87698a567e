"""Shared fixtures: the one namespace lab the whole test session uses.

Tests that need the lab take the ``lab`` fixture; it skips with the reason
when this machine cannot run one (not root, Debian cluster packages missing).
The first test that asks starts a fresh 3-node lab (clearing a stale one left
by an earlier run); the session ends by taking it down, unless PACEMAIL_TEST_KEEP_LAB is set.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

STARTED = time.monotonic()   # the run's start: late, costly tests weigh CI's budget from it
LAB_NAME = os.environ.get("PACEMAIL_TEST_LAB", "pmtest")  # one lab per concurrent test run
LAB_TOOLS = ("corosync", "pacemakerd", "crm_mon", "cibadmin", "nsenter", "unshare", "ip", "nft",
             "losetup", "mkfs.ext4")


def lab_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (network, mount and PID namespaces)"
    missing = [t for t in LAB_TOOLS if shutil.which(t) is None]
    if missing:
        return f"the lab needs {', '.join(missing)} (run ./bootstrap.sh)"
    return None


@pytest.fixture(scope="session")
def lab():
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    from pacemail.lab import lifecycle

    result = lifecycle.up(LAB_NAME, 3)
    print(f"\nlab {LAB_NAME}: quorum and DC after {result.seconds_to_quorum:.1f}s")
    yield result.lab
    if os.environ.get("PACEMAIL_TEST_KEEP_LAB"):   # left up to look at after a failure
        print(f"\nlab {LAB_NAME} left up (PACEMAIL_TEST_KEEP_LAB); `pacemail lab down --name {LAB_NAME}`")
        return
    lifecycle.down(LAB_NAME)
