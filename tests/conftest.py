"""Shared fixtures: the labs of this test session, named from PACEMAIL_TEST_LAB.

Every lab a session uses is named from PACEMAIL_TEST_LAB (default ``pmtest``),
so two test runs with different names run side by side. The first test that
needs a lab takes the run locks of all the session's lab names for the rest
of the session (another run on them is refused at once, naming this one) and
removes whatever a killed earlier run left under those names. The ``lab``
fixture starts a fresh 3-node lab; the session ends by taking its labs down,
unless PACEMAIL_TEST_KEEP_LAB is set. Tests skip with the reason when this
machine cannot run a lab (not root, Debian cluster packages missing).

The run prints free disk and memory at its start and end.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack

import pytest

from pacemail import hostres

STARTED = time.monotonic()   # the run's start: late, costly tests weigh CI's budget from it
LAB_NAME = os.environ.get("PACEMAIL_TEST_LAB", "pmtest")  # one lab per concurrent test run
TWO_NODE_LAB = f"{LAB_NAME}2n"    # test_fencing_proof's two-node lab
DOWN_LAB = f"{LAB_NAME}dn"        # test_lab's up/down lab, up next to the main one
KILL_LAB = f"{LAB_NAME}kl"        # test_footprint's lab whose `lab up` is killed: not held here
SESSION_LABS = (LAB_NAME, TWO_NODE_LAB, DOWN_LAB)
LAB_TOOLS = ("corosync", "pacemakerd", "crm_mon", "cibadmin", "nsenter", "unshare", "ip", "nft",
             "losetup", "mkfs.ext4")


# Fixtures that start labs or VMs: a test reaching one of them is a heavy run
# (`-m "not lab"` is the quick run helpers and editors use).
HEAVY_FIXTURES = {"test_labs", "vms"}
HEAVY_MODULES = {"test_vagrant_boot_killed"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that needs a lab or the VMs ``lab``."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & HEAVY_FIXTURES or item.module.__name__.rsplit(".", 1)[-1] in HEAVY_MODULES:
            item.add_marker(pytest.mark.lab)


def pytest_report_header(config):
    return f"pacemail: {hostres.summary('/')}; test labs {', '.join(SESSION_LABS)}"


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"pacemail: at the end, {hostres.summary('/')}")


def lab_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (network, mount and PID namespaces)"
    missing = [t for t in LAB_TOOLS if shutil.which(t) is None]
    if missing:
        return f"the lab needs {', '.join(missing)} (run ./bootstrap.sh)"
    return None


@pytest.fixture(scope="session")
def test_labs():
    """This session's lab names, held for the whole session, leftovers of killed runs removed."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    from pacemail.lab import lifecycle
    from pacemail.lab.topology import check_name, lock_name
    from pacemail.runlock import hold

    for name in (*SESSION_LABS, KILL_LAB):
        check_name(name)   # PACEMAIL_TEST_LAB too long or malformed: say so before anything
    with ExitStack() as held:
        for name in SESSION_LABS:
            held.enter_context(hold(lock_name(name)))
        for name in SESSION_LABS:
            for item in lifecycle.down(name):
                print(f"\nlab {name}: removed {item}, left by an earlier run")
        yield SESSION_LABS
        if os.environ.get("PACEMAIL_TEST_KEEP_LAB"):   # left up to look at after a failure
            print("\nlabs left up (PACEMAIL_TEST_KEEP_LAB); `pacemail lab down --all`")
            return
        for name in SESSION_LABS:
            lifecycle.down(name)


@pytest.fixture(scope="session")
def lab(test_labs):
    from pacemail.lab import lifecycle

    result = lifecycle.up(LAB_NAME, 3)
    print(f"\nlab {LAB_NAME}: quorum and DC after {result.seconds_to_quorum:.1f}s")
    return result.lab
