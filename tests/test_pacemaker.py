"""pacemail.pacemaker against the real tools on CIB files (CIB_file=), and on recorded output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pacemail.controller.build import build_cib
from pacemail.controller.description import load
from pacemail.lab import cluster
from pacemail.pacemaker import attributes, fencing, runner, simulate, status

from test_controller_simulate import TEMPLATES, online

# stonith_admin --history node3 --output-as=xml (Pacemaker 2.1.5)
HISTORY = b"""<pacemaker-result api-version="2.25" request="stonith_admin --history node3 --output-as=xml">
  <fence_history>
    <fence_event action="reboot" target="node3" client="pacemaker-controld.812" origin="node1"
                 status="success" delegate="node2" completed="2026-12-06 21:49:51 +00:00"/>
    <fence_event action="off" target="node3" client="stonith_admin.99" origin="node1"
                 status="failed" exit-reason="timed out"/>
  </fence_history>
  <status code="0" message="OK"/>
</pacemaker-result>
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Path:
    """A CIB file of the 3-node template after the scheduler started the stack."""
    d = load(TEMPLATES / "mail-3node.yaml").description
    start = simulate.simulate(online(build_cib(d)),
                              ops_fail=("pm-proxysql_start_0@node1=1",))
    path = tmp_path_factory.mktemp("cib") / "cib.xml"
    path.write_bytes(start.cib_after)
    return path


def test_crm_mon_of_a_cib_file_reads_into_a_status(running):
    now = status.read(run=runner.cib_file(running))
    assert now.quorate and now.dc == "node1" and now.stonith_enabled
    assert [(n.name, n.online) for n in now.nodes] == [("node1", True), ("node2", True),
                                                      ("node3", True)]
    drbd = next(r for r in now.resources if r.id == "pm-drbd")
    assert drbd.clone == "pm-drbd-clone" and drbd.agent == "ocf:pacemail:drbd"
    assert drbd.placement == (("node1", "Promoted"), ("node2", "Unpromoted"),
                              ("node3", "Unpromoted"))
    (failed,) = now.failures
    assert (failed.resource, failed.operation, failed.node, failed.interval) == \
        ("pm-proxysql", "start", "node1", "0")


def test_the_lab_view_is_crm_mon_of_the_node(running, monkeypatch):
    monkeypatch.setattr(cluster, "node_runner", lambda lab, node: runner.cib_file(running))
    view = cluster.crm_view("lab", "node2")
    assert view.quorate and view.dc == "node1" and view.online == ["node1", "node2", "node3"]
    assert view.resources["pm-mount"] == ["node1"]
    assert view.resources["pm-drbd"] == ["node1", "node2", "node3"]


def test_fence_history_from_stonith_admin_xml():
    seen = []

    def run(argv, *, timeout, check=True, input=None):
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 0, HISTORY.decode(), "")

    events = fencing.history("node3", run=run)
    assert seen == [["stonith_admin", "--history", "node3", "--verbose", "--output-as=xml"]]
    assert [(e.target, e.action, e.status, e.by) for e in events] == [
        ("node3", "reboot", "success", "node2"), ("node3", "off", "failed", "")]


def test_a_promotion_score_that_cannot_be_set_says_why():
    answers = {"-v": (0, ""), "-D": (1, "crm_attribute: Could not connect to the CIB\n")}
    seen = []

    def run(argv, *, timeout, check=True, input=None):
        seen.append(argv)
        code, err = answers[argv[4]]
        return subprocess.CompletedProcess(argv, code, "", err)

    assert attributes.set_promotion(10000, run=run) is None
    assert attributes.set_promotion(None, run=run) == \
        "crm_attribute exited 1: crm_attribute: Could not connect to the CIB"
    assert seen == [["crm_attribute", "--promotion", "-l", "reboot", "-v", "10000"],
                    ["crm_attribute", "--promotion", "-l", "reboot", "-D"]]
