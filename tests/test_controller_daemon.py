"""The controller daemon: its cycle on CIB files and crm_mon records, then live in the lab."""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from pacemail.controller import apply, daemon, serve
from pacemail.controller.build import build_cib
from pacemail.controller.description import parse
from pacemail.pacemaker import cib
from pacemail.pacemaker.runner import capped, cib_file
from pacemail.pacemaker.status import FailedAction, NodeState, ResourceState, Status

TEMPLATE = (Path(__file__).resolve().parent.parent / "cib-templates" / "mail-3node.yaml").read_text()
DESCRIPTION = parse(TEMPLATE, "t.yaml").description
CONFIG = daemon.Config(DESCRIPTION, repair=True)
NODES = ("node1", "node2", "node3")
FENCE = ('<rsc_location id="drbd-fence-by-handler-mail-pm-drbd-clone" rsc="pm-drbd-clone">'
         '<rule id="drbd-fence-by-handler-mail-rule-pm-drbd-clone" role="Promoted" score="-INFINITY">'
         '<expression id="drbd-fence-by-handler-mail-expr-0-pm-drbd-clone" attribute="#uname" '
         'operation="ne" value="node1"/></rule></rsc_location>')


def live_cib(scores: dict[str, int] | None = None, online=NODES, fence: bool = False,
             change: bool = False) -> etree._Element:
    """The description's CIB as the cluster holds it: epoch 7, DC node 1, a status section."""
    cib = build_cib(DESCRIPTION)
    cib.attrib.update({"epoch": "7", "num_updates": "3", "admin_epoch": "0", "dc-uuid": "1",
                       "have-quorum": "1"})
    if fence:
        cib.find("configuration/constraints").append(etree.fromstring(FENCE))
    if change:    # someone edited a pacemail element behind pacemail's back
        cib.find(".//primitive[@id='pm-mount']//nvpair[@name='fstype']").set("value", "xfs")
    status = cib.find("status")
    for i, name in enumerate(NODES, 1):
        state = etree.SubElement(status, "node_state", id=str(i), uname=name,
                                 in_ccm="true" if name in online else "false",
                                 crmd="online" if name in online else "offline")
        if scores and name in scores:
            attrs = etree.SubElement(etree.SubElement(state, "transient_attributes", id=str(i)),
                                     "instance_attributes", id=f"status-{i}")
            etree.SubElement(attrs, "nvpair", id=f"status-{i}-master", name="master-pm-drbd",
                             value=str(scores[name]))
    return cib


def mon(quorate: bool = True, dc: str = "node1", promoted: str | None = "node1",
        failures: int = 0) -> Status:
    nodes = tuple(NodeState(n, True, False, False, n == dc) for n in NODES)
    placement = tuple((n, "Promoted" if n == promoted else "Unpromoted") for n in NODES)
    drbd = ResourceState("pm-drbd", "ocf:pacemail:drbd", placement, False, True, "pm-drbd-clone")
    fails = tuple(FailedAction("pm-mount", "start", "node2", "error", "", "") for _ in range(failures))
    return Status(quorate, dc, nodes, (drbd,), fails, ())


def reading(cib: etree._Element, node_id: str = "1", status: Status | None = None,
            with_cib: bool = True) -> daemon.Reading:
    header = {k: v for k, v in cib.attrib.items()}
    return daemon.Reading(header, node_id, status or mon(),
                          etree.tostring(cib) if with_cib else None)


def test_no_drift_when_the_cib_matches_and_no_cib_read_until_the_epoch_moves():
    cib = live_cib()
    assert daemon.needs_cib(daemon.State(), dict(cib.attrib), "1")
    actions, state, _ = daemon.decide(daemon.State(), reading(cib), CONFIG)
    assert actions == () and state.drift == () and state.is_dc and state.quorate
    assert not daemon.needs_cib(state, dict(cib.attrib, num_updates="99"), "1")
    assert daemon.needs_cib(state, dict(cib.attrib, epoch="8"), "1")


def test_drift_is_detected_and_repaired_only_with_repair():
    cib = live_cib(change=True)
    actions, state, log = daemon.decide(daemon.State(), reading(cib), CONFIG)
    assert actions == (daemon.Repair(("pm-mount",)),) and state.drift == ("pm-mount",)
    assert any("pm-mount" in line and "xfs" in line for line in log)
    text = daemon.metrics(state)
    assert "pacemail_controller_drift 1\n" in text and "pacemail_controller_drift_elements 1\n" in text
    actions, state, _ = daemon.decide(daemon.State(), reading(cib), daemon.Config(DESCRIPTION))
    assert actions == () and state.drift == ("pm-mount",)


def test_no_push_without_quorum():
    cib = live_cib(change=True)
    for status, header_quorum in ((mon(quorate=False), "1"), (mon(), "0")):
        cib.set("have-quorum", header_quorum)
        actions, state, log = daemon.decide(daemon.State(), reading(cib, status=status), CONFIG)
        assert actions == () and state.drift == ("pm-mount",) and not state.quorate
        assert state.checked is None          # looked at again next cycle
        assert any("no quorum" in line for line in log)


def test_a_node_that_is_not_the_dc_only_reports():
    cib = live_cib(change=True, fence=True, scores={"node1": 10000, "node2": 10000, "node3": 10000})
    assert not daemon.needs_cib(daemon.State(), dict(cib.attrib), "2")
    actions, state, _ = daemon.decide(daemon.State(), reading(cib, node_id="2", with_cib=False,
                                                              status=mon(failures=2)), CONFIG)
    assert actions == () and not state.is_dc and state.drift == ()
    assert "pacemail_controller_failed_actions 2\n" in daemon.metrics(state)
    assert "pacemail_controller_is_dc 0\n" in daemon.metrics(state)


@pytest.mark.parametrize("scores, online, stale", [
    ({"node1": 10000, "node2": 10000, "node3": 10000}, NODES, True),
    ({"node1": 10000, "node2": 10000, "node3": 1000}, NODES, True),
    ({"node1": 10000, "node2": 10000}, NODES, False),                  # node3 reports no score
    ({"node1": 10000, "node2": 10000, "node3": 5}, NODES, False),     # Consistent, not UpToDate
    ({"node1": 10000, "node2": 10000, "node3": 10000}, NODES[:2], False),   # node3 offline
])
def test_a_fence_is_cleared_only_when_every_excluded_node_is_up_to_date(scores, online, stale):
    cib = live_cib(fence=True, scores=scores, online=online)
    actions, state, _ = daemon.decide(daemon.State(), reading(cib), CONFIG)
    assert state.fences == ("drbd-fence-by-handler-mail-pm-drbd-clone",)
    cleared = [a for a in actions if isinstance(a, daemon.ClearFence)]
    assert bool(cleared) == stale
    assert daemon.needs_cib(state, dict(cib.attrib), "1")   # watched every cycle while it is there


def test_clearing_the_fence_on_a_cib_file_and_not_after_a_new_fence(tmp_path):
    cib = live_cib(fence=True, scores={n: 10000 for n in NODES})
    path = tmp_path / "cib.xml"
    path.write_bytes(etree.tostring(cib))
    run = cib_file(path)
    actions, _, _ = daemon.decide(daemon.State(), reading(cib), CONFIG)
    (clear,) = actions
    # a handler fences again after the judgement: the epoch moved, the clearing is refused
    run(["cibadmin", "--modify", "--xml-text",
         '<expression id="drbd-fence-by-handler-mail-expr-0-pm-drbd-clone" value="node2"/>'], timeout=30)
    assert not serve.clear_fence(clear, run=run)[0]
    assert etree.parse(str(path)).find(".//rsc_location[@id='drbd-fence-by-handler-mail-pm-drbd-clone']") is not None
    actions, _, _ = daemon.decide(daemon.State(), reading(etree.parse(str(path)).getroot()), CONFIG)
    assert serve.clear_fence(actions[0], run=run)[0]
    after = etree.parse(str(path)).getroot()
    assert after.find(".//rsc_location[@id='drbd-fence-by-handler-mail-pm-drbd-clone']") is None
    assert after.find(".//primitive[@id='pm-drbd']") is not None


def test_failovers_count_moves_of_the_mail_stack():
    cib = live_cib()
    state = daemon.State()
    for promoted in ("node1", "node1", None, "node2", "node2", "node1"):
        _, state, _ = daemon.decide(state, reading(cib, status=mon(promoted=promoted), with_cib=False),
                                    CONFIG)
    assert state.failovers == 2 and state.stack_node == "node1"


def test_record_and_metrics_format():
    state = daemon.State(is_dc=True, checked=(0, 7))
    result = daemon.Result(daemon.Repair(("pm-mount",)), False, "running resources would be disrupted")
    state, log = daemon.record(state, (result,), 1700000000.0)
    assert state.checked is None and state.applies == 1 and state.last_apply_ok is False
    assert log == ("FAILED: repair of 1 element(s): running resources would be disrupted",)
    text = daemon.metrics(daemon.failed(state))
    assert "pacemail_controller_last_apply_timestamp_seconds 1700000000.0\n" in text
    assert "pacemail_controller_last_cycle_success 0\n" in text
    for line in text.splitlines():       # every sample has its HELP and TYPE
        if not line.startswith("#"):
            name = line.split()[0]
            assert f"# TYPE {name} " in text and f"# HELP {name} " in text


# -- live, in the lab ----------------------------------------------------------------

LISTEN = "127.0.0.1:9721"
# ProxySQL's agent needs settings the lab does not have; the daemon needs no ProxySQL.
LAB_TEMPLATE = re.sub(r"  proxysql:\n(    .*\n)+", "", TEMPLATE)
PACEMAIL = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "pacemail")


def test_live_daemon_reports_drift_repairs_it_and_survives_a_hung_cib(lab):
    from pacemail.lab import cluster
    from pacemail.lab.nodes import enter_argv, node_env, node_run

    from test_controller_apply import description_text

    dc = cluster.wait_for_quorum(lab.name, list(NODES), 60).dc
    run = functools.partial(node_run, lab.name, dc)
    path = f"/tmp/pacemail-daemon-{lab.name}.yaml"   # a node's /tmp is the host's
    run(["tee", path], input=LAB_TEMPLATE + description_text(), timeout=10)
    parsed = parse(LAB_TEMPLATE + description_text(), "lab.yaml").description
    assert apply.apply(parsed, run=run, allow_restart=True).refused is None

    def metrics() -> dict[str, float]:
        done = run(["curl", "-s", "--max-time", "3", f"http://{LISTEN}/metrics"], timeout=10, check=False)
        return {line.split()[0]: float(line.split()[1]) for line in done.stdout.splitlines()
                if line and not line.startswith("#")}

    def wait(what, check, timeout=60):
        return cluster.wait_for(lambda: check(metrics()), timeout, what)

    def start(*options):
        return subprocess.Popen(enter_argv(lab.name, dc, [PACEMAIL, "controller", "run", "--description",
                                                          path, "--interval", "1",
                                                          "--call-timeout", "5", *options]),
                                env=node_env(lab.name), stdout=subprocess.DEVNULL,
                                stderr=open(f"/tmp/pacemail-daemon-{lab.name}.log", "ab"))

    def stop(p):
        """TERM the daemon itself (nsenter's child), then reap nsenter."""
        children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        for pid in children:
            os.kill(int(pid), signal.SIGTERM)
        p.wait(10)

    def set_fake(value):
        run(["crm_resource", "--resource", "pm-dummy-a", "--set-parameter", "fake",
             "--parameter-value", value], timeout=30)

    def fake():
        cib_now = etree.fromstring(cib.get(run=run))
        return cib_now.find(".//primitive[@id='pm-dummy-a']//nvpair[@name='fake']").get("value")

    p = start()
    try:
        m = wait("the daemon on the DC", lambda m: m.get("pacemail_controller_is_dc") == 1 and m)
        assert m["pacemail_controller_drift"] == 0 and m["pacemail_controller_quorate"] == 1
        set_fake("5")                                  # a change behind pacemail's back
        wait("drift seen", lambda m: m.get("pacemail_controller_drift_elements") == 1)
        assert fake() == "5"                           # reported, not repaired
    finally:
        stop(p)
    p = start("--repair")
    try:
        wait("repaired", lambda m: m.get("pacemail_controller_applies_total", 0) >= 1
             and m.get("pacemail_controller_drift") == 0 and m)
        assert fake() == "1"
        # The DC's CIB manager hangs: cycles fail and back off, then recover when it
        # resumes. (Killing it instead can get the DC fenced, a race in Pacemaker that
        # takes the daemon down with its node: systemd's part, not the loop's.) The
        # hang lasts one 5 s call: pacemakerd kills a CIB manager that has missed about
        # 30 s of liveness checks, which twice turned this hang into that kill.
        run(["pkill", "-STOP", "-x", "pacemaker-based"], timeout=10)
        try:
            wait("a failed cycle", lambda m: m.get("pacemail_controller_last_cycle_success") == 0,
                 timeout=90)
        finally:
            run(["pkill", "-CONT", "-x", "pacemaker-based"], timeout=10, check=False)
        before = metrics()["pacemail_controller_cycles_total"]
        try:
            wait("cycling again", lambda m: m.get("pacemail_controller_cycles_total", 0) > before + 2
                 and m.get("pacemail_controller_last_cycle_success") == 1 and m, timeout=120)
        except TimeoutError as exc:
            pytest.fail(f"{exc}\n{after_the_hang(lab.name, dc, p)}")
        assert p.poll() is None
        if cluster.crm_view(lab.name, dc).dc == dc:    # still the DC: it repairs again
            set_fake("6")
            wait("repaired again", lambda m: m.get("pacemail_controller_drift") == 0
                 and fake() == "1", timeout=60)
        code = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    f"http://{LISTEN}/healthz"], timeout=10).stdout
        assert code == "200"
    finally:
        stop(p)
        cluster.wait_for_quorum(lab.name, list(NODES), 120)
        assert apply.remove_owned(run=run)


def test_a_capped_runner_never_waits_longer_than_its_limit():
    seen = []

    def runner(argv, *, timeout, check=True):
        seen.append((argv[0], timeout, check))

    limited = capped(runner, 5)
    limited(["cibadmin"], timeout=30)
    limited(["crm_mon"], timeout=2, check=False)
    assert seen == [("cibadmin", 5, True), ("crm_mon", 2, False)]


def after_the_hang(lab_name: str, dc: str, daemon_process) -> str:
    """What a failed recovery leaves to look at: was the DC fenced, is the daemon alive."""
    from pacemail.lab.nodes import NodeDown, node_run
    from pacemail.proc import CommandError

    other = next(n for n in NODES if n != dc)
    seen = [f"daemon exit code: {daemon_process.poll()}"]
    for argv in (["stonith_admin", "--history", "*"], ["crm_mon", "-1"]):
        try:
            done = node_run(lab_name, other, argv, timeout=30, check=False)
            seen.append(f"{' '.join(argv)} on {other}:\n{done.stdout}{done.stderr}")
        except (CommandError, NodeDown) as exc:
            seen.append(f"{' '.join(argv)} on {other}: {exc}")
    log = Path(f"/tmp/pacemail-daemon-{lab_name}.log")
    if log.exists():
        seen.append("daemon log (tail):\n" + "\n".join(log.read_text(errors="replace")
                                                       .splitlines()[-30:]))
    return "\n".join(seen)
