"""The controller daemon's Prometheus metrics, read as Prometheus reads them.

Every scrape here goes through prometheus_client's own parser. The inputs are
the tools' real output: crm_mon run on a CIB file, corosync-quorumtool captured
in the lab (tests/data/corosync), ``drbdsetup status --json`` as the lab's DRBD
double prints it, DRBD 8.4's /proc/drbd, stonith_admin's history XML, and drill
reports written by the drills' own writer.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from lxml import etree

from pacemail.controller import daemon, metrics, serve
from pacemail.controller.build import build_cib
from pacemail.controller.description import load, parse
from pacemail.drills import report
from pacemail.lab import drbd_double
from pacemail.pacemaker import fencing, quorum, runner, simulate, status
from pacemail.pacemaker.status import NodeState, ResourceInstance, ResourceState, Status
from pacemail.proc import CommandError

from test_controller_daemon import LAB_TEMPLATE
from test_controller_simulate import STACK, TEMPLATES, online
from test_pacemaker import HISTORY

COROSYNC = Path(__file__).resolve().parent / "data" / "corosync"
QUORATE = (COROSYNC / "quorumtool-s-3node-quorate.txt").read_text()
DESCRIPTION = load(TEMPLATES / "mail-3node.yaml").description
CONFIG = daemon.Config(DESCRIPTION)
LAB = parse(LAB_TEMPLATE, "lab.yaml").description     # the template as the lab runs it: no ProxySQL


def scrape(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)], as Prometheus' client parses the text."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(samples, **labels) -> float | None:
    found = [v for got, v in samples if all(got.get(k) == w for k, w in labels.items())]
    assert len(found) <= 1, (labels, found)
    return found[0] if found else None


@pytest.fixture(scope="module")
def mon() -> bytes:
    """The 3-node template's CIB after the scheduler started it (proxysql's start failed on
    node1)."""
    return simulate.simulate(online(build_cib(DESCRIPTION)),
                             ops_fail=("pm-proxysql_start_0@node1=1",)).cib_after


@pytest.fixture(scope="module")
def crm_mon(mon, tmp_path_factory) -> bytes:
    return crm_mon_of(mon, tmp_path_factory.mktemp("cib"))


def crm_mon_of(cib: bytes, folder: Path) -> bytes:
    """crm_mon's XML of ``cib``: the real crm_mon, as the daemon runs it, on a CIB file."""
    path = folder / "cib.xml"
    path.write_bytes(cib)
    answers = []

    def keep(argv, **kwargs):
        answers.append(runner.cib_file(path)(argv, **kwargs))
        return answers[-1]

    status.read(run=keep)
    return runner.output(answers[0])


def drbd_json(role="Primary", peers=None) -> str:
    """``drbdsetup status --json`` as the lab's DRBD double prints it on node1."""
    hosts = {"node1": {"node_id": 0}, "node2": {"node_id": 1}, "node3": {"node_id": 2}}
    peers = peers or {"node2": {"role": "Secondary", "disk": "UpToDate", "connected": True},
                      "node3": {"role": "Secondary", "disk": "UpToDate", "connected": False}}
    state = {"role": role, "disk": "UpToDate", "suspended": False, "peers": peers}
    patch = pytest.MonkeyPatch()
    patch.setattr(drbd_double, "config", lambda res: {"hosts": hosts, "minor": 0})
    patch.setattr(drbd_double, "read_state", lambda res: state)
    patch.setattr(drbd_double, "me", lambda: "node1")
    patch.setattr(drbd_double, "configured", lambda: ["mail"])
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            assert drbd_double.drbdsetup(["status", "--json"]) == 0
    finally:
        patch.undo()
    return out.getvalue()


def tools(answers: dict[str, object], seen: list | None = None):
    """A runner answering each tool (argv[0]) with (exit code, stdout) or raising."""
    def run(argv, *, timeout, check=True, input=None):
        if seen is not None:
            seen.append(list(argv))
        answer = answers[argv[0]]
        if isinstance(answer, Exception):
            raise answer
        code, out = answer
        if check and code:
            raise CommandError(argv, code, out, "failed")
        return subprocess.CompletedProcess(argv, code, out, "")
    return run


# -- crm_mon -----------------------------------------------------------------------------

def test_nodes_resources_and_counts_from_crm_mon(crm_mon):
    now = status.parse(crm_mon)
    m = scrape(metrics.render(metrics.Readings(status=now), None))
    nodes = m["pacemail_pacemaker_nodes"]
    assert sum(v for labels, v in nodes if labels["status"] == "online") == 3
    assert value(nodes, node="node1", status="dc") == 1
    assert value(nodes, node="node2", status="dc") == 0
    assert {labels["type"] for labels, _ in nodes} == {"member"}
    r = m["pacemail_pacemaker_resources"]
    assert value(r, resource="pm-drbd", node="node1", role="promoted", status="active") == 1
    assert value(r, resource="pm-drbd", node="node2", role="unpromoted", status="active") == 1
    assert value(r, resource="pm-drbd", node="node1", status="active",
                 clone="pm-drbd-clone", agent="ocf:pacemail:drbd", managed="true") == 1
    assert value(r, resource="pm-mount", node="node1", role="started", status="active") == 1
    assert value(r, resource="pm-proxysql", node="node1", status="failed") == 1
    assert value(r, resource="pm-postfix-main", node="", role="stopped", status="active") == 0
    assert value(m["pacemail_pacemaker_migration_threshold"], node="node1",
                 resource="pm-mount") == 3
    assert value(m["pacemail_pacemaker_fail_count"], node="node1", resource="pm-mount") == 0
    assert m["pacemail_pacemaker_stonith_enabled"] == [({}, 1.0)]
    assert m["pacemail_pacemaker_maintenance_mode_enabled"] == [({}, 0.0)]


def test_an_infinite_fail_count_is_plus_inf(crm_mon):
    """A live crm_mon prints a resource's fail count on its ``resource_history`` (crm_mon of a
    CIB file has no attribute manager to count them), INFINITY as 1000000."""
    xml = crm_mon.replace(b'<resource_history id="pm-proxysql" orphan="false"',
                          b'<resource_history id="pm-proxysql" orphan="false" fail-count="1000000"')
    m = scrape(metrics.render(metrics.Readings(status=status.parse(xml)), None))
    fails = m["pacemail_pacemaker_fail_count"]
    assert value(fails, node="node1", resource="pm-proxysql") == math.inf


def test_a_stopped_clone_is_one_series_not_one_per_instance():
    clone = ResourceInstance("pm-drbd", "ocf:pacemail:drbd", "", "Stopped", True, False, False,
                             False, False, False, "", "pm-drbd-clone")
    now = Status(True, "node1", (), (), (), (), instances=(clone,) * 3)
    m = scrape(metrics.render(metrics.Readings(status=now), None))
    assert len(m["pacemail_pacemaker_resources"]) == len(metrics.RESOURCE_STATUSES)


# -- corosync, DRBD, the fencer ---------------------------------------------------------------

@pytest.mark.parametrize("capture, quorate, votes", [
    ("quorumtool-s-3node-quorate.txt", 1, {"expected_votes": 3, "highest_expected": 3,
                                           "total_votes": 3, "quorum": 2}),
    ("quorumtool-s-3node-isolated.txt", 0, {"expected_votes": 3, "total_votes": 1, "quorum": 2}),
])
def test_quorum_and_votes_from_corosync_quorumtool(capture, quorate, votes):
    q = quorum.parse((COROSYNC / capture).read_text())
    m = scrape(metrics.render(metrics.Readings(quorum=q), None))
    assert m["pacemail_corosync_quorate"] == [({}, quorate)]
    for kind, n in votes.items():
        assert value(m["pacemail_corosync_quorum_votes"], type=kind) == n
    members = m["pacemail_corosync_member_votes"]
    assert value(members, local="true") == 1 and len(members) == len(q.members)
    assert value(m["pacemail_scrape_source_up"], source="corosync") == 1


def test_drbd_9_from_drbdsetup_json():
    seen = []
    found = serve.read_drbd(("mail",), {}, run=tools({"drbdsetup": (0, drbd_json())}, seen))
    assert seen == [["drbdsetup", "status", "--json"]]
    m = scrape(metrics.render(metrics.Readings(drbd=found), None))
    assert m["pacemail_drbd_resources"] == [
        ({"resource": "mail", "role": "Primary", "volume": "0", "disk_state": "uptodate"}, 1)]
    connections = m["pacemail_drbd_connections"]
    assert value(connections, peer_node_id="1", peer_role="Secondary",
                 peer_disk_state="uptodate") == 1
    assert value(connections, peer_node_id="2", peer_role="Unknown",
                 peer_disk_state="dunknown") == 1
    assert m["pacemail_drbd_quorum"] == [({"resource": "mail", "volume": "0"}, 1)]


def test_drbd_84_from_proc_drbd_asks_the_minor_once(tmp_path, monkeypatch):
    proc = tmp_path / "drbd"
    proc.write_text("version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 0\n\n"
                    " 0: cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----\n"
                    "    ns:0 nr:8 dw:8 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n")
    monkeypatch.setattr(serve, "PROC_DRBD", proc)
    seen, minors = [], {}
    run = tools({"drbdadm": (0, "0\n")}, seen)
    for _ in range(2):
        found = serve.read_drbd(("mail",), minors, run=run)
    assert seen == [["drbdadm", "sh-minor", "mail"]]
    m = scrape(metrics.render(metrics.Readings(drbd=found), None))
    assert m["pacemail_drbd_resources"] == [
        ({"resource": "mail", "role": "Secondary", "volume": "0", "disk_state": "uptodate"}, 1)]
    assert m["pacemail_drbd_connections"] == [
        ({"resource": "mail", "peer_node_id": "", "peer_role": "Primary", "volume": "0",
          "peer_disk_state": "uptodate"}, 1)]
    assert "pacemail_drbd_quorum" not in m          # DRBD 8.4 has no quorum of its own


def test_fence_events_from_stonith_admin_history():
    seen = []
    events = fencing.history("*", run=tools({"stonith_admin": (0, HISTORY.decode())}, seen))
    assert seen == [["stonith_admin", "--history", "*", "--verbose", "--output-as=xml"]]
    m = scrape(metrics.render(metrics.Readings(fencing=events), None))
    events = m["pacemail_pacemaker_fence_events"]
    assert value(events, target="node3", action="reboot", status="success") == 1
    assert value(events, target="node3", action="off", status="failed") == 1
    assert m["pacemail_pacemaker_fence_last_timestamp_seconds"] == [
        ({"target": "node3", "action": "reboot", "status": "success"},
         1796593791.0)]                               # 2026-12-06 21:49:51 +00:00


# -- sources that fail ---------------------------------------------------------------------

def test_a_failing_source_is_absent_and_marked_down_never_a_failed_scrape(crm_mon, tmp_path,
                                                                          caplog):
    run = tools({"corosync-quorumtool": (1, ""), "drbdsetup": (0, "not json"),
                 "stonith_admin": CommandError(["stonith_admin"], None, timeout=10.0)})
    d = serve.Daemon(CONFIG, 1.0, run=run, secrets_dir=tmp_path, reports=tmp_path / "missing")
    with caplog.at_level(logging.WARNING, logger=serve.log.name):
        readings = d.read_sources(status.parse(crm_mon))
        readings = d.read_sources(status.parse(crm_mon))
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 4 and any("stonith_admin timed out" in w for w in warned)  # once each
    m = scrape(metrics.render(readings, None))
    up = {labels["source"]: v for labels, v in m["pacemail_scrape_source_up"]}
    assert up == {"crm_mon": 1, "corosync": 0, "drbd": 0, "fencing": 0, "reports": 0}
    assert "pacemail_pacemaker_nodes" in m
    for gone in ("pacemail_corosync_quorate", "pacemail_drbd_resources",
                 "pacemail_pacemaker_fence_events", "pacemail_drill_last_lost_messages"):
        assert gone not in m
    nothing = scrape(metrics.render(d.read_sources(None), None))   # crm_mon failed too
    assert value(nothing["pacemail_scrape_source_up"], source="crm_mon") == 0
    assert "pacemail_pacemaker_nodes" not in nothing


def test_the_endpoint_serves_the_controller_and_the_cluster(crm_mon, tmp_path):
    d = serve.Daemon(CONFIG, 1.0, secrets_dir=tmp_path)
    d.readings = metrics.Readings(status=status.parse(crm_mon), quorum=quorum.parse(QUORATE))
    server = serve.serve_http(d, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            kind = answer.headers["Content-Type"]
            m = scrape(answer.read().decode())
    finally:
        server.shutdown()
    assert kind.startswith("text/plain; version=0.0.4")
    assert m["pacemail_controller_cycles_total"] == [({}, 0)]
    assert m["pacemail_corosync_quorate"] == [({}, 1)]
    assert value(m["pacemail_scrape_source_up"], source="drbd") == 0


def test_a_cycle_runs_each_tool_once_and_serves_what_it_read(crm_mon, tmp_path):
    seen = []
    run = tools({"cibadmin": (0, '<cib epoch="7" admin_epoch="0" num_updates="1" dc-uuid="1" '
                                 'have-quorum="1"/>'),
                 "crm_node": (0, "2\n"), "crm_mon": (0, crm_mon.decode()),
                 "corosync-quorumtool": (0, QUORATE),
                 "drbdsetup": (0, drbd_json(role="Secondary")),
                 "stonith_admin": (0, HISTORY.decode())}, seen)
    d = serve.Daemon(CONFIG, 1.0, run=run, secrets_dir=tmp_path)
    d.cycle()
    assert sorted(argv[0] for argv in seen) == ["cibadmin", "corosync-quorumtool", "crm_mon",
                                                "crm_node", "drbdsetup", "stonith_admin"]
    assert d.state.last_cycle_ok and d.state.serving is None     # postfix stopped: not whole
    m = scrape(daemon.metrics(d.state) + metrics.render(d.readings, d.state.last_failover))
    assert {labels["source"] for labels, v in m["pacemail_scrape_source_up"] if v == 1} == \
        {"crm_mon", "corosync", "drbd", "fencing"}
    assert value(m["pacemail_drbd_resources"], role="Secondary") == 1


# -- the last failover, seen by the daemon -------------------------------------------------------

def cluster_at(node: str | None, lost: str | None = None, partial: tuple[str, ...] = ()) -> Status:
    """The template's stack whole on ``node`` (None: stopped), ``lost`` offline and unclean,
    ``partial``: only these of the stack running (on ``node``)."""
    nodes = tuple(NodeState(n, n != lost, False, n == lost, n == "node2")
                  for n in ("node1", "node2", "node3"))
    promoted = (((node, "Promoted"),) if node else ())
    drbd = ResourceState("pm-drbd", "ocf:pacemail:drbd", promoted, False, True, "pm-drbd-clone")
    rest = tuple(ResourceState(r, "ocf:pacemail:x", ((node, "Started"),) if node and
                               (not partial or r in partial) else (), False, True, None)
                 for r in STACK)
    return Status(True, "node2", nodes, (drbd,) + rest, (), ())


def test_a_failover_the_daemon_sees_has_its_duration_nodes_and_gaps():
    steps = [(0.0, cluster_at("node1")), (5.0, cluster_at("node1")),
             (10.0, cluster_at("node1", lost="node1")),           # lost, still listed there
             (15.0, cluster_at("node3", lost="node1", partial=("pm-mount",))),
             (20.0, cluster_at("node3", lost="node1")), (25.0, cluster_at("node3"))]
    state, logged = daemon.State(), []
    for at, now in steps:
        reading = daemon.Reading({"dc-uuid": "2", "have-quorum": "1"}, "1", now, None, at)
        _, state, log = daemon.decide(state, reading, CONFIG)
        logged += log
    f = state.last_failover
    assert (f.from_node, f.to_node, f.stopped, f.started) == ("node1", "node3", 5.0, 20.0)
    assert dict(f.down) == {"pm-drbd": 10.0, "pm-mount": 10.0, **{r: 15.0 for r in STACK[1:]}}
    assert "failover: the mail stack whole on node3 15.0s after its last cycle whole on node1" \
        in logged
    m = scrape(metrics.render(metrics.Readings(), f))
    assert m["pacemail_failover_last_duration_seconds"] == [({}, 15.0)]
    assert m["pacemail_failover_last_timestamp_seconds"] == [({}, 5.0)]
    assert m["pacemail_failover_last_info"] == [({"from_node": "node1", "to_node": "node3"}, 1)]
    assert value(m["pacemail_failover_last_resource_down_seconds"], resource="pm-dovecot") == 15


def edited(cib: bytes, *edits) -> bytes:
    tree = etree.fromstring(cib)
    for edit in edits:
        edit(tree)
    return etree.tostring(tree)


def _history(tree: etree._Element, node: str, resource: str) -> etree._Element:
    return tree.find(f"status/node_state[@uname='{node}']/lrm/lrm_resources/"
                     f"lrm_resource[@id='{resource}']")


def _unrecorded(op: etree._Element) -> None:
    """``op`` as Pacemaker records an operation whose result it has not (yet) recorded."""
    op.attrib.update({"op-status": "-1", "rc-code": "193", "call-id": "-1"})


def degraded_promoted(node: str):
    """DRBD's Promoted monitor on ``node`` answered 191 (Promoted, a peer gone), as Pacemaker
    2.1.5 records it on the lab: as the last failure only, the monitor left pending until its
    result changes (crm_mon: ``Promoted node1 (Monitoring)``)."""
    def edit(tree):
        drbd = _history(tree, node, "pm-drbd")
        monitor = next(o for o in drbd if o.get("operation") == "monitor"
                       and o.get("rc-code") == "8")
        etree.SubElement(drbd, "lrm_rsc_op", dict(monitor.attrib, id="pm-drbd_last_failure_0",
                                                  **{"rc-code": "191"}))
        _unrecorded(monitor)
    return edit


def powered_off(node: str):
    """``node`` gone from the membership, not fenced yet: UNCLEAN, its resources still listed."""
    def edit(tree):
        tree.find(f"status/node_state[@uname='{node}']").attrib.update(
            {"in_ccm": "false", "crmd": "offline"})
    return edit


def starting(node: str, resource: str):
    """``resource``'s start on ``node`` still running (crm_mon: ``Starting``)."""
    def edit(tree):
        _unrecorded(next(o for o in _history(tree, node, resource) if o.get("operation") == "start"))
    return edit


def test_a_power_off_of_the_active_node_is_served_as_a_failover(tmp_path):
    """The lab's failover, in crm_mon's own XML: DRBD's Promoted monitor answers degraded
    while a replica is gone, so crm_mon shows it pending (``Monitoring``) before the power-off
    (a peer still resyncing) and after it (the dead node's replica gone) alike; that is no
    action under way, while a start is (``Starting``). The daemon sees the stack whole on
    node1, then on the survivor, and serves the failover with its figures."""
    up = edited(simulate.simulate(online(build_cib(LAB))).cib_after, degraded_promoted("node1"))
    fenced = simulate.simulate(up, nodes_fail=("node1",))          # node1 fenced, the stack moved
    to = fenced.placement["pm-mount"][0][0]
    moved = edited(fenced.cib_after, degraded_promoted(to))
    steps = [(0.0, up), (1.0, up), (2.0, edited(up, powered_off("node1"))),
             (3.0, edited(moved, starting(to, "pm-postfix-main"))), (4.0, moved), (5.0, moved)]
    config = daemon.Config(LAB)
    state, logged, whole = daemon.State(), [], []
    for at, cib in steps:
        xml = crm_mon_of(cib, tmp_path)
        reading = daemon.Reading({"dc-uuid": "2", "have-quorum": "1"}, "3", status.parse(xml),
                                 None, at)
        _, state, log = daemon.decide(state, reading, config)
        logged += log
        whole.append(scrape(daemon.metrics(state))["pacemail_controller_stack_whole"][0][1])
    assert b'pending="Monitoring"' in xml and to != "node1"
    assert whole == [1, 1, 0, 0, 1, 1]
    f = state.last_failover
    assert (f.from_node, f.to_node, f.stopped, f.started) == ("node1", to, 1.0, 4.0)
    assert dict(f.down) == {"pm-drbd": 2.0, "pm-mount": 2.0, "pm-vip-mail": 2.0,
                            "pm-dovecot": 2.0, "pm-postfix-main": 3.0}
    assert logged == [
        "the mail stack is whole on node1",
        "the mail stack is not whole: not running steadily on one online, clean node: "
        "pm-dovecot, pm-drbd, pm-mount, pm-postfix-main, pm-vip-mail",
        f"failover: the mail stack moved from node1 to {to}",
        "the mail stack is not whole: not running steadily on one online, clean node: "
        "pm-postfix-main",
        f"the mail stack is whole on {to}",
        f"failover: the mail stack whole on {to} 3.0s after its last cycle whole on node1"]
    m = scrape(metrics.render(metrics.Readings(status=status.parse(xml)), f))
    assert m["pacemail_failover_last_duration_seconds"] == [({}, 3.0)]
    assert m["pacemail_failover_last_info"] == [({"from_node": "node1", "to_node": to}, 1)]
    assert value(m["pacemail_failover_last_resource_down_seconds"], resource="pm-postfix-main") == 3
    assert value(m["pacemail_pacemaker_resources"], resource="pm-drbd", node=to, role="promoted",
                 status="active") == 1


def test_the_log_says_what_keeps_the_stack_from_being_whole():
    split = daemon.active(cluster_at("node1"), daemon.stack_ids(DESCRIPTION))
    split["pm-dovecot"] = "node3"
    assert daemon.wholeness(tuple(sorted(split.items()))).startswith(
        "the mail stack is not whole: split, pm-dovecot on node3, pm-drbd on node1")
    assert daemon.wholeness(()) == "the mail stack is not whole: crm_mon lists none of its resources"


def test_no_failover_without_a_move_of_the_whole_stack():
    state = daemon.State()
    for at, now in enumerate([cluster_at("node1"), cluster_at(None), cluster_at("node1"),
                              cluster_at("node1", partial=("pm-mount",)), cluster_at("node1")]):
        _, state, _ = daemon.decide(state, daemon.Reading({}, "1", now, None, float(at)), CONFIG)
    assert state.last_failover is None and state.gaps == ()
    assert "pacemail_failover" not in metrics.render(metrics.Readings(), state.last_failover)


# -- the last drill ---------------------------------------------------------------------------

def drill_run(**changes) -> dict:
    """One run as the drill engine reports it (the fields the metrics read, and some more)."""
    run = {"scenario": "power-off-active", "target": "lab pmtest", "active_before": "node1",
           "active_after": "node2", "fault_time": 1796590000.25, "recovered": True,
           "downtime_s": {"smtp": 11.5, "imap": 10.25}, "accepted": 120, "delivered": 120,
           "lost": 0, "duplicates": 1, "detect_s": 2.1, "fence_s": 4.0, "recover_s": 9.5,
           "violations": [], "passed": True, "fenced": ["node1"]}
    return {**run, **changes}


def test_the_last_drill_of_the_newest_report(tmp_path):
    reports = tmp_path / "reports"
    d = serve.Daemon(CONFIG, 1.0, run=tools({}), secrets_dir=tmp_path, reports=reports)
    assert d.attempt("reports", d.read_report) == (False, None)          # no directory yet
    reports.mkdir()
    assert d.attempt("reports", d.read_report) == (True, None)           # no report yet
    report.write(report.build([drill_run()], {"target": "lab pmtest"}), reports)
    old = sorted(reports.glob("drill-*.json"))[0]
    newer = old.with_name("drill-29990101T000000.json")
    newer.write_text(json.dumps(report.build(
        [drill_run(), drill_run(lost=3, passed=False, active_after="node3",
                                downtime_s={"smtp": 30.0, "imap": None})],
        {"target": "lab pmtest"})))
    ok, drill = d.attempt("reports", d.read_report)
    m = scrape(metrics.render(metrics.Readings(drill=drill, reports=ok), None))
    assert value(m["pacemail_scrape_source_up"], source="reports") == 1
    assert m["pacemail_drill_last_downtime_seconds"] == [({"service": "smtp"}, 30.0)]
    assert m["pacemail_drill_last_lost_messages"] == [({}, 3)]
    assert m["pacemail_drill_last_success"] == [({}, 0)]
    assert m["pacemail_drill_last_timestamp_seconds"] == [({}, 1796590000.25)]
    assert m["pacemail_drill_last_recover_seconds"] == [({}, 9.5)]
    assert m["pacemail_drill_last_info"] == [({"scenario": "power-off-active",
                                               "target": "lab pmtest", "from_node": "node1",
                                               "to_node": "node3", "file": newer.name}, 1)]


def test_a_report_without_the_fault_time_says_when_it_was_written():
    run = drill_run()
    del run["fault_time"]
    data = report.build([run], {})
    drill = metrics.drill(data, "drill-x.json")
    assert drill.when is not None and abs(drill.when - time.time()) < 60
    with pytest.raises(ValueError):
        metrics.drill({"not": "a report"}, "other.json")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
FIELDS = ("scenario", "target", "active_before", "active_after", "fault_time", "downtime_s",
          "accepted", "lost", "duplicates", "detect_s", "fence_s", "recover_s", "passed")


@given(st.dictionaries(st.sampled_from(FIELDS), JSON), JSON)
def test_any_report_content_gives_metrics_or_a_clear_error(run, generated):
    """A report from another version, or edited by hand: its figures or ValueError, never a
    crash of the daemon's cycle, and whatever it holds renders to a valid scrape."""
    try:
        drill = metrics.drill({"generated": generated, "runs": [run]}, "drill-x.json")
    except ValueError:
        return
    m = scrape(metrics.render(metrics.Readings(drill=drill, reports=True), None))
    assert m["pacemail_drill_last_success"] == [({}, 1 if run.get("passed") is True else 0)]


# -- the text format ---------------------------------------------------------------------------

NAMES = st.text(min_size=1, max_size=30)


@given(NAMES, NAMES, NAMES)
def test_any_node_and_resource_name_round_trips_through_the_parser(node, resource, agent):
    now = Status(True, node, (NodeState(node, True, False, False, True),), (), (), (),
                 instances=(ResourceInstance(resource, agent, node, "Started", True, True,
                                             False, False, False, False),))
    m = scrape(metrics.render(metrics.Readings(status=now), None))
    assert {labels["node"] for labels, _ in m["pacemail_pacemaker_nodes"]} == {node}
    (labels, active), = [s for s in m["pacemail_pacemaker_resources"]
                         if s[0]["status"] == "active"]
    assert (labels["resource"], labels["agent"], labels["node"], active) == \
        (resource, agent, node, 1)


def test_undecodable_bytes_in_a_name_still_give_a_scrape():
    name = b"node\xff1".decode("utf-8", "surrogateescape")   # how pacemail reads a tool's bytes
    q = quorum.QuorumState(True, True, members=(quorum.Member(1, name, 1, True),))
    text = metrics.render(metrics.Readings(quorum=q), None)
    text.encode("utf-8")
    assert value(scrape(text)["pacemail_corosync_member_votes"], node="node?1") == 1


def test_every_sample_has_help_and_type_and_no_series_twice(crm_mon):
    readings = metrics.Readings(
        status.parse(crm_mon), quorum.parse(QUORATE),
        serve.read_drbd(("mail",), {}, run=tools({"drbdsetup": (0, drbd_json())})),
        fencing.history("*", run=tools({"stonith_admin": (0, HISTORY.decode())})),
        metrics.drill(report.build([drill_run()], {}), "drill-x.json"), True)
    failover = metrics.Failover("node1", "node2", 1.0, 2.0, (("pm-mount", 1.0),))
    text = metrics.render(readings, failover)
    families = list(text_string_to_metric_families(text))
    assert len({f.name for f in families}) == len(families) == text.count("# TYPE ")
    assert all(f.documentation and f.type == "gauge" for f in families)
    for f in families:
        series = [tuple(sorted(s.labels.items())) for s in f.samples]
        assert len(series) == len(set(series)), f.name
    sources = {f.name for f in families}
    assert {"pacemail_pacemaker_nodes", "pacemail_corosync_quorate", "pacemail_drbd_resources",
            "pacemail_pacemaker_fence_events", "pacemail_failover_last_duration_seconds",
            "pacemail_drill_last_lost_messages"} <= sources
    for f in families:                                   # each says where it comes from
        assert any(word in f.documentation for word in ("crm_mon", "corosync-quorumtool",
                                                        "drbdsetup", "stonith_admin",
                                                        "controller daemon", "drill report",
                                                        "source")), f.name


def test_fence_times_in_crm_mons_and_stonith_admins_forms_are_read():
    """crm_mon and stonith_admin write a fence event's completion differently; both count."""
    from pacemail.pacemaker.status import fence_time
    assert fence_time("2026-12-07 01:25:24Z") == fence_time("2026-12-07 01:25:24 +00:00") \
        == 1796606724.0
    assert fence_time("") is None
