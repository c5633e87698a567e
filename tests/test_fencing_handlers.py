"""DRBD fence-peer / unfence-peer against a CIB file (``CIB_file``, no cluster needed).

The handlers run as DRBD runs them: a process with the handler environment,
here ``python -m pacemail.cli fencing fence-peer``; what they did is read back
with cibadmin, as an admin would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pacemail.fencing import constraint, handler_env
from pacemail.fencing.handler_env import EnvError
from pacemail.proc import run

pytestmark = pytest.mark.skipif(shutil.which("cibadmin") is None, reason="needs cibadmin")

CLONE = "pm-drbd-clone"
OUR_ID = "drbd-fence-by-handler-mail-pm-drbd-clone"
NODES = ("node1", "node2", "node3")
ONLINE = 'in_ccm="true" crmd="online" join="member" expected="member"'
CLEAN_DOWN = 'in_ccm="false" crmd="offline" join="down" expected="down"'


def cib(path: Path, *args: str, check: bool = True):
    return run(["cibadmin", *args], timeout=30, check=check,
               env=dict(os.environ, CIB_file=str(path)))


def promotable_clone(clone: str, primitive: str, resource: str) -> str:
    return (f'<clone id="{clone}"><meta_attributes id="{clone}-meta">'
            f'<nvpair id="{clone}-meta-promotable" name="promotable" value="true"/>'
            f'</meta_attributes><primitive id="{primitive}" class="ocf" provider="pacemail" '
            f'type="drbd"><instance_attributes id="{primitive}-ia"><nvpair id="{primitive}-ia-res" '
            f'name="drbd_resource" value="{resource}"/></instance_attributes></primitive></clone>')


@pytest.fixture
def cib_file(tmp_path) -> Path:
    """A 3-node cluster with quorum and a DC, all online, two DRBD clones, an admin's ban."""
    path = tmp_path / "cib.xml"
    path.write_text(run(["cibadmin", "--empty"], timeout=10).stdout)
    cib(path, "--modify", "--xpath", "/cib", "-X", '<cib have-quorum="1" dc-uuid="1"/>')
    cib(path, "--create", "-o", "crm_config", "-X",
        '<cluster_property_set id="opts"><nvpair id="opts-stonith" name="stonith-enabled" '
        'value="false"/></cluster_property_set>')
    for i, node in enumerate(NODES, 1):
        cib(path, "--create", "-o", "nodes", "-X", f'<node id="{i}" uname="{node}"/>')
        cib(path, "--create", "-o", "status", "-X",
            f'<node_state id="{i}" uname="{node}" {ONLINE}/>')
    cib(path, "--create", "-o", "resources", "-X", promotable_clone(CLONE, "pm-drbd", "mail"))
    cib(path, "--create", "-o", "resources", "-X",
        promotable_clone("other-clone", "other", "other"))
    cib(path, "--create", "-o", "constraints", "-X",
        f'<rsc_location id="cli-ban-{CLONE}-on-node3" rsc="{CLONE}" role="Promoted" '
        'node="node3" score="-INFINITY"/>')
    return path


def drbd9(me: int, up_to_date: str | None = None, resource: str = "mail", **extra) -> dict:
    """DRBD 9's handler environment on node ``me`` (DRBD node ids 0..2 = node1..node3)."""
    env = {"DRBD_RESOURCE": resource, "DRBD_MINOR": "0", "DRBD_VOLUME": "0",
           "DRBD_MY_NODE_ID": str(me), "DRBD_PEER_NODE_ID": str((me + 1) % 3)}
    env.update({f"DRBD_NODE_ID_{i}": n for i, n in enumerate(NODES)})
    env["UP_TO_DATE_NODES"] = up_to_date if up_to_date is not None else hex(1 << me)
    env.update(extra)
    return env


def handler(cib_path: Path, name: str, env: dict, *args: str, tmp: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    lock = (tmp or cib_path.parent) / "handlers.lock"
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DRBD_", "UP_TO_DATE"))}
    full.update(env, CIB_file=str(cib_path), HA_LOGFACILITY="none")
    return run([sys.executable, "-m", "pacemail.cli", "fencing", name, "--lock-file", str(lock), *args],
               timeout=timeout, check=False, env=full)


def locations(path: Path) -> dict[str, str]:
    root = ET.fromstring(cib(path, "--query", "-o", "constraints").stdout)
    return {c.get("id"): ET.tostring(c, encoding="unicode") for c in root}


def fence_of(path: Path, cid: str = OUR_ID) -> ET.Element:
    return ET.fromstring(locations(path)[cid])


def allowed(path: Path, cid: str = OUR_ID) -> set[str]:
    return {e.get("value") for e in fence_of(path, cid).iter("expression")}


# --- the constraint -------------------------------------------------------------------------

def test_fence_peer_places_the_constraint_admins_know(cib_file):
    done = handler(cib_file, "fence-peer", drbd9(0))
    assert done.returncode == 4, done.stderr
    location = fence_of(cib_file)
    assert location.attrib == {"id": OUR_ID, "rsc": CLONE}
    (rule,) = location
    assert rule.tag == "rule"
    assert rule.attrib == {"id": "drbd-fence-by-handler-mail-rule-pm-drbd-clone",
                           "role": "Promoted", "score": "-INFINITY", "boolean-op": "and"}
    assert [e.attrib for e in rule] == [{
        "id": "drbd-fence-by-handler-mail-expr-0-pm-drbd-clone",
        "attribute": "#uname", "operation": "ne", "value": "node1"}]
    assert f"constraint {OUR_ID} allows Promoted only on node1; exit 4" in done.stderr
    verify = run(["crm_verify", "--xml-file", str(cib_file)], timeout=30, check=False)
    assert verify.returncode == 0, verify.stderr


def test_drbd9_keeps_every_uptodate_node_allowed(cib_file):
    done = handler(cib_file, "fence-peer", drbd9(0, up_to_date="0x3"))
    assert done.returncode == 4, done.stderr
    assert allowed(cib_file) == {"node1", "node2"}


def test_fencing_twice_is_one_constraint_and_no_cib_change(cib_file):
    assert handler(cib_file, "fence-peer", drbd9(0)).returncode == 4
    before = cib_file.read_text()
    again = handler(cib_file, "fence-peer", drbd9(0, DRBD_VOLUME="1"))
    assert again.returncode == 4, again.stderr
    assert [c for c in locations(cib_file) if c.startswith("drbd-fence")] == [OUR_ID]
    assert ET.fromstring(cib_file.read_text()).get("epoch") == ET.fromstring(before).get("epoch")


def test_a_second_fence_only_restricts_further(cib_file):
    assert handler(cib_file, "fence-peer", drbd9(0, up_to_date="0x3")).returncode == 4
    assert handler(cib_file, "fence-peer", drbd9(0, up_to_date="0x1")).returncode == 4
    assert allowed(cib_file) == {"node1"}
    # a wider mask later does not lift the restriction
    assert handler(cib_file, "fence-peer", drbd9(0, up_to_date="0x7")).returncode == 1
    assert handler(cib_file, "fence-peer", drbd9(0, up_to_date="0x3")).returncode == 4
    assert allowed(cib_file) == {"node1"}


def test_unfence_removes_exactly_that_constraint(cib_file):
    assert handler(cib_file, "fence-peer", drbd9(0)).returncode == 4
    assert handler(cib_file, "fence-peer", drbd9(0, resource="other")).returncode == 4
    before = locations(cib_file)
    assert set(before) == {OUR_ID, f"cli-ban-{CLONE}-on-node3",
                           "drbd-fence-by-handler-other-other-clone"}
    done = handler(cib_file, "unfence-peer", drbd9(1))
    assert done.returncode == 0, done.stderr
    after = locations(cib_file)
    assert set(after) == set(before) - {OUR_ID}
    assert all(after[c] == before[c] for c in after)
    assert f"removed {OUR_ID}" in done.stderr


def test_unfence_without_a_constraint_is_fine(cib_file):
    done = handler(cib_file, "unfence-peer", {"DRBD_RESOURCE": "mail"})
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stderr


# --- exit codes -----------------------------------------------------------------------------

def test_inquorate_node_outdates_itself_and_places_nothing(cib_file):
    cib(cib_file, "--modify", "--xpath", "/cib", "-X", '<cib have-quorum="0"/>')
    done = handler(cib_file, "fence-peer", drbd9(0))
    assert done.returncode == 6, done.stderr
    assert "NOT quorate" in done.stderr
    assert OUR_ID not in locations(cib_file)


def test_lost_unclean_peer_in_a_quorate_partition_is_5(cib_file):
    cib(cib_file, "--delete", "-X", f'<node_state id="3" uname="node3" {ONLINE}/>')
    done = handler(cib_file, "fence-peer", drbd9(0))
    assert done.returncode == 5, done.stderr
    assert "node3 unreachable" in done.stderr
    assert allowed(cib_file) == {"node1"}


@pytest.mark.parametrize("stonith, code", [("true", 7), ("false", 5)])
def test_peer_down_is_7_only_when_pacemaker_can_confirm_it(cib_file, stonith, code):
    """Offline and expected down: fenced or left cleanly, if STONITH is on; else unknown."""
    cib(cib_file, "--modify", "-X", f'<nvpair id="opts-stonith" value="{stonith}"/>')
    for i in (2, 3):
        cib(cib_file, "--modify", "-X", f'<node_state id="{i}" {CLEAN_DOWN}/>')
    done = handler(cib_file, "fence-peer", drbd9(0))
    assert done.returncode == code, done.stderr
    assert allowed(cib_file) == {"node1"}


def test_a_constraint_that_excludes_me_means_outdate_myself(cib_file):
    assert handler(cib_file, "fence-peer", drbd9(1)).returncode == 4  # node2 fenced us first
    done = handler(cib_file, "fence-peer", drbd9(0))
    assert done.returncode == 6, done.stderr
    assert allowed(cib_file) == {"node2"}


def test_8_4_environment_uses_the_host_name(cib_file):
    me = os.uname().nodename
    cib(cib_file, "--create", "-o", "nodes", "-X", f'<node id="9" uname="{me}"/>')
    done = handler(cib_file, "fence-peer", {"DRBD_RESOURCE": "mail", "DRBD_MINOR": "0",
                                            "DRBD_PEERS": "node2"})
    assert done.returncode == 4, done.stderr
    assert allowed(cib_file) == {me}


@pytest.mark.parametrize("env, message", [
    ({"DRBD_MINOR": "0"}, "DRBD_RESOURCE is not set"),
    ({"DRBD_RESOURCE": "mail", "DRBD_MY_NODE_ID": "0"}, "DRBD_NODE_ID_0 is not set"),
])
def test_incomplete_environment_is_1(cib_file, env, message):
    done = handler(cib_file, "fence-peer", env)
    assert done.returncode == 1
    assert message in done.stderr
    assert OUR_ID not in locations(cib_file)


def test_not_uptodate_myself_is_1(cib_file):
    done = handler(cib_file, "fence-peer", drbd9(0, up_to_date="0x2"))
    assert done.returncode == 1
    assert "not UpToDate" in done.stderr
    assert OUR_ID not in locations(cib_file)


def test_unknown_drbd_resource_is_1_and_named(cib_file):
    done = handler(cib_file, "fence-peer", drbd9(0, resource="nosuch"))
    assert done.returncode == 1
    assert "no promotable clone in the CIB runs DRBD resource nosuch" in done.stderr


def test_clone_can_be_named(cib_file):
    done = handler(cib_file, "fence-peer", drbd9(0, resource="nosuch"), "--clone", "other-clone")
    assert done.returncode == 4, done.stderr
    assert "drbd-fence-by-handler-nosuch-other-clone" in locations(cib_file)


# --- concurrency and failures ---------------------------------------------------------------

def test_ten_concurrent_handlers_leave_one_consistent_answer(cib_file):
    """Five volumes on each side of the same resource, plus the other resource, all at once."""
    envs = ([drbd9(0, DRBD_VOLUME=str(v)) for v in range(4)] +
            [drbd9(1, DRBD_VOLUME=str(v)) for v in range(4)] +
            [drbd9(0, resource="other", DRBD_VOLUME=str(v)) for v in range(2)])
    lock = cib_file.parent / "handlers.lock"
    procs = []
    for env in envs:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("DRBD_", "UP_TO_DATE"))}
        full.update(env, CIB_file=str(cib_file), HA_LOGFACILITY="none")
        procs.append((env, subprocess.Popen(
            [sys.executable, "-m", "pacemail.cli", "fencing", "fence-peer", "--lock-file", str(lock)],
            env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    codes = [(env, p.wait(timeout=120)) for env, p in procs]
    found = locations(cib_file)
    assert set(found) == {OUR_ID, f"cli-ban-{CLONE}-on-node3",
                          "drbd-fence-by-handler-other-other-clone"}
    (winner,) = allowed(cib_file)
    for env, code in codes:
        me = env[f"DRBD_NODE_ID_{env['DRBD_MY_NODE_ID']}"]
        if env["DRBD_RESOURCE"] == "other":
            assert code == 4
        else:
            assert code == (4 if me == winner else 6), (me, winner, code)
    assert allowed(cib_file, "drbd-fence-by-handler-other-other-clone") == {"node1"}
    verify = run(["crm_verify", "--xml-file", str(cib_file)], timeout=30, check=False)
    assert verify.returncode == 0, verify.stderr


def test_unfence_on_a_broken_cib_retries_then_fails_loudly(cib_file):
    assert handler(cib_file, "fence-peer", drbd9(0)).returncode == 4
    good = cib_file.read_text()
    cib_file.write_text(good[: len(good) // 2])  # truncated: cibadmin cannot parse it
    done = handler(cib_file, "unfence-peer", drbd9(1), "--timeout", "3")
    assert done.returncode == 1
    assert "attempt 1/5 to remove the fencing constraint failed" in done.stderr
    assert "attempt 2/5" in done.stderr
    assert "pacemail-unfence-peer(mail) ERROR: unfence-peer mail FAILED" in done.stderr
    cib_file.write_text(good)  # the CIB is back: the next unfence does its job
    assert handler(cib_file, "unfence-peer", drbd9(1)).returncode == 0
    assert OUR_ID not in locations(cib_file)


def test_fence_on_a_broken_cib_fails_loudly(cib_file):
    cib_file.write_text("<cib")
    done = handler(cib_file, "fence-peer", drbd9(0), "--timeout", "2")
    assert done.returncode == 1
    assert "attempt 1/5" in done.stderr and "FAILED" in done.stderr


# --- handler environment --------------------------------------------------------------------

def test_drbd9_environment():
    env = handler_env.parse(drbd9(1, up_to_date="0x3", DRBD_MINOR="0 1"), hostname="ignored")
    assert env.resource == "mail" and env.me == "node2"
    assert env.peers == ("node1", "node3")
    assert env.lost_peer == "node3"
    assert env.up_to_date == {"node1", "node2"}
    assert env.allowed == ("node1", "node2") and env.excluded == ("node3",)
    assert env.minors == ("0", "1")


def test_drbd9_without_mask_allows_only_me():
    raw = drbd9(2)
    del raw["UP_TO_DATE_NODES"]
    env = handler_env.parse(raw)
    assert env.up_to_date is None and env.allowed == ("node3",)
    assert env.excluded == ("node1", "node2")


@pytest.mark.parametrize("raw, hostname, peers", [
    ({"DRBD_RESOURCE": "r0", "DRBD_PEERS": "b c"}, "a", ("b", "c")),   # 8.4
    ({"DRBD_RESOURCE": "r0", "DRBD_PEER": "b"}, "a", ("b",)),           # 8.3
    ({"DRBD_RESOURCE": "r0", "DRBD_PEERS": "a b"}, "a", ("b",)),        # never myself
    ({"DRBD_RESOURCE": "r0"}, "a", ()),
])
def test_drbd84_environment(raw, hostname, peers):
    env = handler_env.parse(raw, hostname=hostname)
    assert env.me == hostname and env.peers == peers and env.up_to_date is None
    assert env.allowed == (hostname,)


@pytest.mark.parametrize("change, message", [
    ({"UP_TO_DATE_NODES": "7"}, "hex bit mask"),
    ({"DRBD_MY_NODE_ID": "x"}, "not a DRBD node id"),
    ({"DRBD_MY_NODE_ID": "40"}, "not a DRBD node id"),
    ({"DRBD_RESOURCE": "a b"}, "not a DRBD resource name"),
    ({"DRBD_RESOURCE": ""}, "DRBD_RESOURCE is not set"),
])
def test_garbled_environment_is_refused(change, message):
    with pytest.raises(EnvError, match=message):
        handler_env.parse(drbd9(0, **change))


def test_linbit_constraints_are_understood():
    linbit = ('<rsc_location rsc="ms_drbd" id="drbd-fence-by-handler-r0-ms_drbd">'
              '<rule role="Master" score="-INFINITY" id="drbd-fence-by-handler-r0-rule-ms_drbd">'
              '<expression attribute="#uname" operation="ne" value="a" '
              'id="drbd-fence-by-handler-r0-expr-0-ms_drbd"/></rule></rsc_location>')
    fence = constraint.parse("r0", linbit)
    assert fence.clone == "ms_drbd" and fence.allowed == {"a"}
    ban = '<rsc_location id="x" rsc="c" node="a" score="-INFINITY"/>'
    assert constraint.parse("r0", ban) is None


def test_the_default_clone_is_what_the_controller_renders():
    from pacemail.controller import cibxml, stack
    assert cibxml.owned_id(stack.DRBD_CLONE) == CLONE
