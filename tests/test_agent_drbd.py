"""ocf:pacemail:drbd: parsers and decisions on generated states, then the agent in the lab.

The lab has no DRBD kernel module: its nodes run the DRBD test double
(pacemail.lab.drbd_double, DRBD 9 formats; "kernel": "8.4.11" in its config
switches the drbdadm words to 8.4's). The cluster tests run the agent under
real Pacemaker as a promotable clone created with pcs, with real fencing.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacemail.agents import drbd_policy as policy
from pacemail.agents import drbd_status as status
from pacemail.agents.drbd_status import Peer, State
from pacemail.agents.ocf import (
    OCF_DEGRADED, OCF_DEGRADED_PROMOTED, OCF_ERR_CONFIGURED, OCF_ERR_GENERIC,
    OCF_FAILED_PROMOTED, OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED, OCF_SUCCESS,
)
from pacemail.lab import cluster, net, power, switchd
from pacemail.lab.nodes import NodeDown, node_run, node_runner
from pacemail.pacemaker import attributes, fencing
from pacemail.pacemaker import status as crm_status
from pacemail.proc import CommandError

from ocf_node import exit_reasons, run_action

RES = "mail"
ALL = ["node1", "node2", "node3"]
BEST, LOCAL_OK = 10000, 1000
SCORES = policy.parse_scores(policy.DEFAULT_SCORES)
DISKS = ("Diskless", "Attaching", "Detaching", "Failed", "Negotiating", "Inconsistent",
         "Outdated", "DUnknown", "Consistent", "UpToDate")
CONNECTIONS = ("Connected", "Connecting", "StandAlone", "Disconnecting", "NetworkFailure")

# /proc/drbd of DRBD 8.4 as the 8.4 user's guide documents it (one line per
# minor; progress lines under a resync; an unconfigured minor; flag letter s
# while I/O is suspended).
PROC_84 = """\
version: 8.4.11 (api:1/proto:86-101)
srcversion: 9A7EB07EAA9A1A2A3A3C4B7
 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----
    ns:0 nr:0 dw:0 dr:656 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
 1: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----
    ns:124088 nr:0 dw:0 dr:124824 al:0 bm:0 lo:0 pe:2 ua:0 ap:0 ep:1 wo:f oos:923308
\t[=>..................] sync'ed: 12.3% (901/1020)M
\tfinish: 0:00:28 speed: 31,020 (31,020) K/sec
 2: cs:WFConnection ro:Secondary/Unknown ds:UpToDate/DUnknown C r-----
    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
 3: cs:Unconfigured
 4: cs:StandAlone ro:Secondary/Unknown ds:Outdated/DUnknown   r-----
    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
 5: cs:Connected ro:Primary/Secondary ds:Diskless/UpToDate C s-----
    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
"""


# -- parsing ------------------------------------------------------------------------

def test_proc_drbd_84_lines():
    assert status.version_from_proc(PROC_84.splitlines()[0]) == (8, 4, 11)
    up = status.from_proc(PROC_84, [0])
    assert up == State("Primary", ["UpToDate"], None, False,
                       [Peer("peer", "Connected", "Secondary", ["UpToDate"], ["Connected"])])
    assert policy.monitor_code(up) == (OCF_RUNNING_PROMOTED, "")
    syncing = status.from_proc(PROC_84, [1])
    assert syncing.peers[0].connected and syncing.peers[0].disks == ("Inconsistent",)
    assert syncing.peers[0].replication == ("SyncSource",)
    waiting = status.from_proc(PROC_84, [2])
    assert waiting.role == "Secondary" and waiting.peers[0].connection == "WFConnection"
    assert waiting.peers[0].disks == ("DUnknown",)
    assert policy.score_for(waiting, SCORES) == LOCAL_OK
    assert status.from_proc(PROC_84, [3]) is None            # unconfigured minor
    assert status.from_proc(PROC_84, [9]) is None            # no line: not configured
    assert status.from_proc(PROC_84, [0, 3]) is None         # one volume down: down
    split = status.from_proc(PROC_84, [4])
    assert split.disks == ("Outdated",) and split.peers[0].connection == "StandAlone"
    assert policy.score_for(split, SCORES) is None
    diskless = status.from_proc(PROC_84, [5])
    assert diskless.suspended and diskless.disks == ("Diskless",)
    assert policy.monitor_code(diskless)[0] == OCF_DEGRADED_PROMOTED  # reads via the peer
    both = status.from_proc(PROC_84, [0, 1])
    assert both.disks == ("UpToDate", "UpToDate")
    assert both.peers[0].disks == ("UpToDate", "Inconsistent")


def test_drbdadm_84_words_and_versions():
    assert status.from_84("Connected", "Secondary/Primary", "UpToDate/UpToDate") == State(
        "Secondary", ["UpToDate"], None, False,
        [Peer("peer", "Connected", "Primary", ["UpToDate"], ["Connected"])])
    assert status.from_84("Unconfigured", "Unconfigured", "Unconfigured") is None
    version = "DRBDADM_VERSION=9.22.0\nDRBD_KERNEL_VERSION_CODE=0x08040b\nDRBD_KERNEL_VERSION=8.4.11\n"
    assert status.version_from_drbdadm(version) == (8, 4, 11)
    assert status.version_from_drbdadm("DRBD_KERNEL_VERSION_CODE=0x000000\n"
                                       "DRBD_KERNEL_VERSION=0.0.0\n") is None
    assert status.version_from_drbdadm("DRBDADM_VERSION=9.22.0\n") is None
    assert status.parse_version("9.2.8-rc.1") == (9, 2, 8)
    assert status.parse_version("9.2") is None


def test_drbdsetup_json_of_drbd_9():
    document = [{
        "name": "other", "role": "Primary", "devices": [], "connections": [],
    }, {
        "name": RES, "node-id": 0, "role": "Secondary", "suspended": False,
        "devices": [{"volume": 0, "minor": 0, "disk-state": "UpToDate", "client": False,
                     "quorum": True},
                    {"volume": 1, "minor": 1, "disk-state": "Diskless", "client": True,
                     "quorum": True}],
        "connections": [
            {"peer-node-id": 1, "name": "b", "connection-state": "Connected",
             "peer-role": "Primary",
             "peer_devices": [{"volume": 0, "replication-state": "Established",
                               "peer-disk-state": "UpToDate"},
                              {"volume": 1, "replication-state": "Established",
                               "peer-disk-state": "UpToDate"}]},
            {"peer-node-id": 2, "name": "c", "connection-state": "Connecting",
             "peer-role": "Unknown",
             "peer_devices": [{"volume": 0, "replication-state": "Off",
                               "peer-disk-state": "DUnknown"}]}],
    }]
    found = status.from_json(document, RES)
    assert found.role == "Secondary" and found.quorum is True
    assert found.disks == ("UpToDate", "Diskless") and found.clients == (False, True)
    assert [p.name for p in found.peers] == ["b", "c"]
    assert found.peers[0].connected and not found.peers[1].connected
    assert status.from_json(document, "missing") is None
    assert status.from_json([], RES) is None


# -- generated states -----------------------------------------------------------------

@st.composite
def states(draw, peers=st.integers(0, 3), volumes=st.integers(1, 2)):
    n = draw(volumes)
    disks = draw(st.lists(st.sampled_from(DISKS), min_size=n, max_size=n))
    peer_list = []
    for index in range(draw(peers)):
        connection = draw(st.sampled_from(CONNECTIONS))
        connected = connection == "Connected"
        peer_list.append(Peer(
            f"n{index}", connection,
            draw(st.sampled_from(("Primary", "Secondary"))) if connected else "Unknown",
            draw(st.lists(st.sampled_from(DISKS), min_size=n, max_size=n)) if connected
            else ["DUnknown"] * n,
            ["Established" if connected else "Off"] * n))
    return State(draw(st.sampled_from(("Primary", "Secondary"))), disks,
                 draw(st.sampled_from((True, False))), draw(st.booleans()), peer_list,
                 draw(st.lists(st.booleans(), min_size=n, max_size=n)))


def as_drbdsetup_json(name: str, s: State) -> str:
    """What ``drbdsetup status --json`` prints for ``s`` (the fields the agent reads)."""
    return json.dumps([{
        "name": name, "role": s.role, "suspended": s.suspended,
        "devices": [{"volume": v, "disk-state": d, "client": c, "quorum": s.quorum}
                    for v, (d, c) in enumerate(zip(s.disks, s.clients))],
        "connections": [{"name": p.name, "connection-state": p.connection,
                         "peer-role": p.role,
                         "peer_devices": [{"volume": v, "peer-disk-state": d,
                                           "replication-state": r}
                                          for v, (d, r) in enumerate(zip(p.disks,
                                                                         p.replication))]}
                        for p in s.peers],
    }])


@given(states())
def test_drbdsetup_json_round_trip(s):
    assert status.from_json(json.loads(as_drbdsetup_json(RES, s)), RES) == s


@given(st.sampled_from(("Primary", "Secondary")), st.sampled_from(DISKS),
       st.sampled_from(("Connected", "SyncSource", "SyncTarget", "WFConnection", "StandAlone")),
       st.sampled_from(("Primary", "Secondary")), st.sampled_from(DISKS), st.booleans(),
       st.integers(0, 255))
def test_proc_drbd_line_round_trip(role, disk, cstate, peer_role, peer_disk, suspended, minor):
    connected = cstate not in ("WFConnection", "StandAlone")
    line = (f"{minor:2d}: cs:{cstate} ro:{role}/{peer_role if connected else 'Unknown'} "
            f"ds:{disk}/{peer_disk if connected else 'DUnknown'} C {'s' if suspended else 'r'}-----")
    text = f"version: 8.4.11 (api:1/proto:86-101)\n{line}\n    ns:0 nr:0 dw:0\n"
    found = status.from_proc(text, [minor])
    assert found.role == role and found.disks == (disk,) and found.suspended == suspended
    assert found.quorum is None and len(found.peers) == 1
    assert found.peers[0].connected == connected
    assert found.peers[0].disks == ((peer_disk,) if connected else ("DUnknown",))


@given(states())
def test_scores_follow_disk_states_and_quorum(s):
    score = policy.score_for(s, SCORES)
    disks = set(s.disks)
    if s.quorum is False:
        assert score is None
    elif disks == {"UpToDate"}:
        all_known = all(p.connected and "DUnknown" not in p.disks for p in s.peers)
        assert score == (BEST if s.primary or all_known else LOCAL_OK)
    elif disks & {"Outdated", "Failed", "DUnknown"}:
        assert score is None
    elif disks & policy.TRANSITIONAL:
        assert score == policy.KEEP
    else:  # Consistent, Inconsistent, Diskless: none with the default scores
        assert score is None


@given(states(), st.lists(st.integers(-5, 20000), min_size=4, max_size=4).map(sorted))
def test_scores_come_from_the_configured_values_and_never_rise_as_disks_worsen(s, values):
    scores = tuple(values)
    score = policy.score_for(s, scores)
    assert score in (None, policy.KEEP) or score in scores and score > 0
    if set(s.disks) == {"UpToDate"}:  # one volume dropping to Consistent never scores higher
        worse = State(s.role, ["Consistent"] + list(s.disks[1:]), s.quorum, s.suspended,
                      s.peers, s.clients)
        lower = policy.score_for(worse, scores)
        assert lower is None or lower == policy.KEEP or score is not None and lower <= score


@given(states())
def test_monitor_codes(s):
    code, problems = policy.monitor_code(s)
    if s.primary:
        assert code in (OCF_RUNNING_PROMOTED, OCF_DEGRADED_PROMOTED, OCF_FAILED_PROMOTED)
        assert (code == OCF_FAILED_PROMOTED) == (not policy.has_data(s))
    else:
        assert code in (OCF_SUCCESS, OCF_DEGRADED)
    assert (code in (OCF_SUCCESS, OCF_RUNNING_PROMOTED)) == (problems == "")
    if any(not p.connected for p in s.peers) or s.quorum is False:
        assert code not in (OCF_SUCCESS, OCF_RUNNING_PROMOTED)
    refusal = policy.promotion_refusal(s)
    assert (refusal is None) == (s.quorum is not False and policy.has_data(s))
    assert policy.monitor_code(None) == (OCF_NOT_RUNNING, "not running")


@pytest.mark.parametrize("text", ["0 10 1000", "0 10 1000 10000 5", "10 0 1000 10000",
                                  "a b c d", "0 10 1000 1e4"])
def test_adjust_master_score_is_checked(text):
    with pytest.raises(ValueError):
        policy.parse_scores(text)


def test_agent_import_stays_light():
    """What every monitor loads: no lxml, pyroute2, click, psutil, yaml, nor the fencing or
    Pacemaker tool code (imported when a score changes or a promotion asks the guard)."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-I", "-X", "importtime", "-c",
                           "import pacemail.agents.drbd"], capture_output=True, text=True,
                          timeout=60, check=True)
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
              if line.startswith("import time:")}
    assert "pacemail.agents.drbd_policy" in loaded
    heavy = {"lxml", "pyroute2", "click", "psutil", "yaml", "pacemail.fencing",
             "pacemail.pacemaker", "json", "subprocess", "dataclasses"}
    assert loaded & heavy == set()


# -- the agent in the lab, called directly ---------------------------------------------

def drbd(lab, node, action, params=None, **kwargs):
    return run_action(lab, node, "drbd", action, {"drbd_resource": RES, **(params or {})},
                      **kwargs)


def monitor(lab, node, **kwargs):
    return drbd(lab, node, "monitor", interval_ms=10000, **kwargs)


def monitor_until(lab, node, code, what, seconds=10, text=""):
    """The first monitor answering ``code`` (with ``text`` in its log) within ``seconds``."""
    def probe():
        done = monitor(lab, node)
        return done if done.returncode == code and text in done.stderr else None
    return cluster.wait_for(probe, seconds, what)


def on(lab, node, *argv, check=True, timeout=20):
    return node_run(lab.name, node, list(argv), timeout=timeout, check=check)


def promotion_score(lab, node, resource="test-drbd") -> str | None:
    return attributes.get_promotion(resource, node, run=node_runner(lab.name, "node1"))


def peers_connected(lab, node) -> bool:
    """Connected to both peers, and UpToDate."""
    (res,) = json.loads(on(lab, node, "drbdsetup", "status", RES, "--json").stdout)
    return len(res["connections"]) == 2 and \
        all(c["connection-state"] == "Connected" for c in res["connections"]) and \
        all(d["disk-state"] == "UpToDate" for d in res["devices"])


def reset_disks(lab) -> None:
    """Every node's DRBD meta data UpToDate again, the resource down (tests outdate nodes).

    The double resyncs a node only when it connects: an outdated node comes up
    again once its peers are UpToDate.
    """
    for node in ALL:
        on(lab, node, "drbdadm", "up", RES)
    time.sleep(3)
    for node in ALL:
        if not peers_connected(lab, node):
            on(lab, node, "drbdadm", "down", RES)
            on(lab, node, "drbdadm", "up", RES)
    cluster.wait_for(lambda: all(peers_connected(lab, n) for n in ALL), 20, "all UpToDate")
    for node in ALL:
        on(lab, node, "drbdadm", "down", RES)


@pytest.fixture
def direct(lab):
    """Direct agent calls; afterwards DRBD down and no promotion score on every node."""
    yield lab
    for node in ALL:
        drbd(lab, node, "stop")
        on(lab, node, "crm_attribute", "--promotion", "test-drbd", "-D", check=False)
    reset_disks(lab)
    for node in ALL:
        assert drbd(lab, node, "monitor").returncode == OCF_NOT_RUNNING


def test_ocf_tester_sequence_promote_demote_and_scores(direct):
    lab = direct
    assert drbd(lab, "node1", "validate-all").returncode == OCF_SUCCESS
    assert drbd(lab, "node1", "monitor").returncode == OCF_NOT_RUNNING  # probe
    for node in ALL:
        done = drbd(lab, node, "start")
        assert done.returncode == OCF_SUCCESS, done.stderr
    assert drbd(lab, "node1", "start").returncode == OCF_SUCCESS        # already running
    cluster.wait_for(lambda: all(peers_connected(lab, n) for n in ALL), 15, "DRBD connected")
    for node in ALL:
        assert monitor(lab, node).returncode == OCF_SUCCESS
        assert promotion_score(lab, node) == str(BEST)

    done = drbd(lab, "node1", "promote")
    assert done.returncode == OCF_SUCCESS, done.stderr
    assert "quorum guard: allowed: quorate" in done.stderr
    assert monitor(lab, "node1").returncode == OCF_RUNNING_PROMOTED
    assert drbd(lab, "node1", "promote").returncode == OCF_SUCCESS      # already Primary
    assert on(lab, "node1", "drbdadm", "role", RES).stdout.strip() == "Primary"

    second = drbd(lab, "node2", "promote", env=["OCF_RESKEY_CRM_meta_timeout=4000"])
    assert second.returncode == OCF_ERR_GENERIC
    assert "Multiple primaries" in exit_reasons(second.stderr)[0]
    assert second.stderr.count("retrying until the timeout") == 1        # logged once

    assert drbd(lab, "node1", "demote").returncode == OCF_SUCCESS
    assert monitor(lab, "node1").returncode == OCF_SUCCESS
    assert drbd(lab, "node1", "demote").returncode == OCF_SUCCESS        # already Secondary

    on(lab, "node1", "drbdadm", "primary", RES)                          # behind our back
    stop = drbd(lab, "node1", "stop")
    assert stop.returncode == OCF_SUCCESS and "demoting first" in stop.stderr
    assert promotion_score(lab, "node1") is None
    assert monitor(lab, "node1").returncode == OCF_NOT_RUNNING
    assert drbd(lab, "node1", "stop").returncode == OCF_SUCCESS
    monitor_until(lab, "node2", OCF_DEGRADED, "node2 noticing node1 gone",
                  text="degraded: peer node1 Connecting")
    assert promotion_score(lab, "node2") == str(LOCAL_OK)               # node1's disk unknown
    assert drbd(lab, "node1", "demote").returncode == OCF_NOT_RUNNING


def test_validate_all_refuses_bad_parameters_and_clone_meta(direct):
    lab = direct
    bad = drbd(lab, "node1", "validate-all", {"adjust_master_score": "1000 10 0 5"})
    assert bad.returncode == OCF_ERR_CONFIGURED
    assert "adjust_master_score" in exit_reasons(bad.stderr)[0]
    meta = ["OCF_RESKEY_CRM_meta_clone=0", "OCF_RESKEY_CRM_meta_clone_node_max=1",
            "OCF_RESKEY_CRM_meta_notify=false"]
    no_notify = drbd(lab, "node1", "validate-all", env=meta)
    assert no_notify.returncode == OCF_ERR_CONFIGURED and "notify=true" in no_notify.stderr
    allowed = drbd(lab, "node1", "validate-all", {"ignore_missing_notifications": "true"},
                   env=meta)
    assert allowed.returncode == OCF_SUCCESS
    too_new = drbd(lab, "node1", "validate-all", {"require_drbd_module_version_lt": "9.0.0"})
    assert too_new.returncode == 5 and "DRBD module 9.2.8" in too_new.stderr
    assert drbd(lab, "node1", "monitor", {"drbd_resource": "nope"}).returncode == OCF_NOT_RUNNING


def test_without_drbd_quorum_the_score_goes_and_promotion_is_refused(direct):
    lab = direct
    for node in ALL:
        assert drbd(lab, node, "start").returncode == OCF_SUCCESS
    cluster.wait_for(lambda: all(peers_connected(lab, n) for n in ALL), 15, "DRBD connected")
    assert monitor(lab, "node3").returncode == OCF_SUCCESS
    assert promotion_score(lab, "node3") == str(BEST)
    on(lab, "node3", "drbdadm", "disconnect", RES)                       # StandAlone: alone
    lost = monitor_until(lab, "node3", OCF_DEGRADED, "node3 without DRBD quorum",
                         text="no DRBD quorum")
    assert "peer node1 StandAlone" in lost.stderr
    assert promotion_score(lab, "node3") is None
    refused = drbd(lab, "node3", "promote")
    assert refused.returncode == OCF_ERR_GENERIC
    assert exit_reasons(refused.stderr) == [
        "refusing to promote: the DRBD resource has no quorum here"]
    assert on(lab, "node3", "drbdadm", "role", RES).stdout.strip() == "Secondary"


def test_drbd_84_path(direct):
    """The double answers like DRBD 8.4 (no drbdsetup status): drbdadm's words are read."""
    lab = direct
    path = lab.dir / "drbd" / f"{RES}.json"
    saved = path.read_text()
    path.write_text(saved.replace('"kernel": "9.2.8"', '"kernel": "8.4.11"'))
    try:
        for node in ("node1", "node2"):
            assert drbd(lab, node, "start").returncode == OCF_SUCCESS
        assert on(lab, "node1", "drbdadm", "role", RES).stdout.strip() == "Secondary/Secondary"
        seen = monitor(lab, "node1", env=["HA_debug=1"])
        assert seen.returncode == OCF_SUCCESS, seen.stderr
        assert "DRBD 8.4.11 without /proc/drbd: reading drbdadm cstate/role/dstate" in seen.stderr
        assert promotion_score(lab, "node1") == str(BEST)
        assert drbd(lab, "node1", "promote").returncode == OCF_SUCCESS
        assert monitor(lab, "node1").returncode == OCF_RUNNING_PROMOTED
        # node2 learns of the promotion over the replication link (a ping interval later)
        cluster.wait_for(lambda: on(lab, "node2", "drbdadm", "role", RES).stdout.strip()
                         == "Secondary/Primary", 10, "node2 seeing node1 Primary")
        assert drbd(lab, "node1", "demote").returncode == OCF_SUCCESS
        assert drbd(lab, "node2", "stop").returncode == OCF_SUCCESS
        monitor_until(lab, "node1", OCF_DEGRADED, "node1 noticing node2 gone")
        assert promotion_score(lab, "node1") == str(LOCAL_OK)
        on(lab, "node1", "drbdadm", "outdate", RES)
        assert monitor(lab, "node1").returncode == OCF_DEGRADED
        assert promotion_score(lab, "node1") is None
    finally:
        for node in ALL:
            drbd(lab, node, "stop")
        path.write_text(saved)


# -- under Pacemaker: a promotable clone ----------------------------------------------------

CLONE = "pmd-clone"
CID = f"drbd-fence-by-handler-{RES}-{CLONE}"


def roles(lab, viewer="node1") -> dict[str, list[str]]:
    """{"Promoted": [...], "Unpromoted": [...]} of the clone, from ``viewer``'s crm_mon."""
    try:
        now = crm_status.read(run=node_runner(lab.name, viewer), timeout=20)
    except (CommandError, NodeDown, SyntaxError):
        return {}
    found: dict[str, list[str]] = {"Promoted": [], "Unpromoted": []}
    for rsc in now.resources:
        for node, role in rsc.placement if rsc.clone == CLONE else ():
            if role in found:
                found[role].append(node)
    return {k: sorted(v) for k, v in found.items()}


def settled(lab, viewer="node1", promoted_on=None):
    view = roles(lab, viewer)
    if len(view.get("Promoted", [])) == 1 and len(view["Unpromoted"]) == 2 and \
            (promoted_on is None or view["Promoted"] == [promoted_on]):
        return view
    return None


def constraint_present(lab, viewer) -> bool:
    done = on(lab, viewer, "cibadmin", "-Q", "--xpath",
              f"//rsc_location[@id='{CID}']", check=False)
    return done.returncode == 0


def back_online(lab, node) -> None:
    """Power ``node`` on if its fence left it off; wait for all three in one quorate cluster."""
    if switchd.request(str(lab.switch_socket), "status", node)["status"] != "on":
        switchd.request(str(lab.switch_socket), "on", node)
    cluster.wait_for_quorum(lab.name, ALL, 120)


@pytest.fixture
def clone(lab):
    """``pmd`` as a promotable clone on all three nodes, settled; removed afterwards."""
    on(lab, "node1", "pcs", "resource", "create", "pmd", "ocf:pacemail:drbd",
       f"drbd_resource={RES}", "promotable", "promoted-max=1", "promoted-node-max=1",
       "clone-max=3", "clone-node-max=1", "notify=true",
       "op", "monitor", "interval=3s", "role=Promoted", "timeout=20s",
       "op", "monitor", "interval=4s", "role=Unpromoted", "timeout=20s", timeout=60)
    try:
        yield cluster.wait_for(lambda: settled(lab), 90, "one Promoted, two Unpromoted")
    finally:
        net.heal(lab)
        for node in ALL:
            back_online(lab, node)
        on(lab, "node1", "pcs", "resource", "clear", CLONE, check=False)
        on(lab, "node1", "pcs", "resource", "delete", "pmd", timeout=120)
        on(lab, "node1", "cibadmin", "--delete", "--xpath", f"//rsc_location[@id='{CID}']",
           check=False)
        on(lab, "node1", "crm_resource", "--cleanup", timeout=60, check=False)
        cluster.wait_for(lambda: all(on(lab, n, "drbdsetup", "status", "--json").stdout.strip()
                                     == "[]" for n in ALL), 60, "DRBD down everywhere")
        for node in ALL:
            assert promotion_score(lab, node, "pmd") is None
        reset_disks(lab)


def test_pacemaker_promotes_exactly_one_and_scores_follow_disk_states(lab, clone):
    (primary,) = clone["Promoted"]
    secondaries = clone["Unpromoted"]
    for node in ALL:
        assert promotion_score(lab, node, "pmd") == str(BEST)
    assert on(lab, primary, "drbdadm", "role", RES).stdout.strip() == "Primary"

    stale, other = secondaries
    on(lab, stale, "drbdadm", "outdate", RES)
    cluster.wait_for(lambda: promotion_score(lab, stale, "pmd") is None, 20,
                     f"{stale}'s score removed after outdate")
    assert promotion_score(lab, other, "pmd") == str(BEST)

    on(lab, "node1", "pcs", "resource", "ban", CLONE, primary, "--promoted")
    cluster.wait_for(lambda: settled(lab, promoted_on=other), 60, f"{other} promoted")
    on(lab, "node1", "pcs", "resource", "ban", CLONE, other, "--promoted")
    cluster.wait_for(lambda: roles(lab).get("Promoted") == [], 60, "no Promoted left")
    time.sleep(10)  # several monitor intervals: the outdated node stays Unpromoted
    assert roles(lab)["Promoted"] == [] and stale in roles(lab)["Unpromoted"]
    assert on(lab, stale, "drbdadm", "role", RES).stdout.strip() == "Secondary"
    on(lab, "node1", "pcs", "resource", "clear", CLONE)
    view = cluster.wait_for(lambda: settled(lab), 60, "a Promoted again")
    assert view["Promoted"] != [stale]


@pytest.fixture
def fence_leaves_off(lab):
    """stonith-action=off: a fenced node stays down, as a crashed machine would for minutes.

    The lab's reboot brings it back within seconds; with equal scores Pacemaker
    may then promote the returning node before the survivor's promotion ran.
    """
    run = node_runner(lab.name, "node1")
    attributes.set_property("stonith-action", "off", run=run)
    yield
    attributes.delete_property("stonith-action", run=run)


def test_power_off_of_the_promoted_node_promotes_another_after_fencing(lab, clone,
                                                                       fence_leaves_off):
    (primary,) = clone["Promoted"]
    viewer = clone["Unpromoted"][0]
    dc = cluster.crm_view(lab.name, viewer).dc
    began = time.monotonic()
    switchd.request(str(lab.switch_socket), "off", primary)

    def promoted_elsewhere():
        view = roles(lab, viewer)
        return view if view.get("Promoted") and view["Promoted"] != [primary] else None
    # Pacemaker 2.1.5: when the DC dies with the Promoted node, the new DC waits for
    # the cancel of a monitor the lost DC started: monitor timeout + cluster-delay (80s).
    view = cluster.wait_for(promoted_elsewhere, 150, "another node promoted")
    print(f"\n{view['Promoted'][0]} Promoted {time.monotonic() - began:.1f}s after "
          f"{primary} lost power ({primary} {'was' if dc == primary else 'was not'} the DC)")
    history = fencing.history(primary, run=node_runner(lab.name, viewer))
    assert any(e.status == "success" for e in history), history
    back_online(lab, primary)
    cluster.wait_for(lambda: settled(lab, viewer, view["Promoted"][0]), 120,
                     f"{primary} back as Unpromoted")


def test_partitioned_secondary_is_never_promoted_and_is_fenced_by_handler(lab, clone):
    (primary,) = clone["Promoted"]
    isolated, majority = clone["Unpromoted"][1], clone["Unpromoted"][0]
    assert not constraint_present(lab, primary)
    net.partition(lab, [lab.node(isolated)], [lab.node(primary), lab.node(majority)])
    seen_roles, fenced = set(), False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (fenced and constraint_present(lab, primary)):
        if power.is_on(lab, lab.node(isolated)) and not fenced:
            try:
                seen_roles.add(on(lab, isolated, "drbdadm", "role", RES, check=False,
                                  timeout=5).stdout.strip())
            except (CommandError, NodeDown):
                pass
        fenced = fenced or any(e.status == "success" for e in fencing.history(
            isolated, run=node_runner(lab.name, primary)))
        assert roles(lab, primary).get("Promoted") == [primary]
        time.sleep(0.5)
    assert fenced, f"{isolated} not fenced within 90s"
    assert "Primary" not in seen_roles and "Secondary" in seen_roles
    assert constraint_present(lab, primary) and constraint_present(lab, majority)
    log = on(lab, primary, "cat", f"/var/log/drbd-double-{RES}.log").stdout
    # 7 when the fence was confirmed by the time the handler looked, 5 when corosync had
    # dropped the node but the fence was still running: both place the constraint
    assert re.search(rf"fence-peer handler for {isolated} exited [57]\b", log), log

    net.heal(lab)
    back_online(lab, isolated)
    cluster.wait_for(lambda: settled(lab, primary, primary), 120,
                     f"{isolated} back as Unpromoted")
    cluster.wait_for(lambda: not constraint_present(lab, primary), 60,
                     f"{CID} removed after resync")
    assert promotion_score(lab, isolated, "pmd") == str(BEST)
    assert "unfence-peer handler for " + isolated + " exited 0" in on(
        lab, primary, "cat", f"/var/log/drbd-double-{RES}.log").stdout
