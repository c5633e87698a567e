"""The drill's VM target without VMs: the guest probe, the streamed samples, the invariant
bookkeeping for quiet nodes, the target's parsers, per-kind back times and the report's
comparison of a VM run with a lab run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pacemail.drills import report, timing, vmprobe, vmsampler, vmtarget
from pacemail.drills.checks import split_brain
from pacemail.drills.engine import DrillTarget
from pacemail.drills.labtarget import LabTarget
from pacemail.drills.sampler import Sample
from pacemail.drills.scenarios import SCENARIOS, sequence

PROC_DRBD = """version: 8.4.11 (api:1/proto:86-101)
srcversion: 0DC2F4B5A1B8B1D8D6D1E2A
 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----
    ns:1024 nr:0 dw:1024 dr:2048 al:1 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
"""
FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 198.18.1.100
        /32 host LOCAL
     |-- 198.18.1.11
        /32 host LOCAL
"""


def test_probe_parses_proc_texts():
    assert vmprobe.drbd_state(PROC_DRBD) == {"cs": "Connected", "role": "Primary",
                                             "disk": "UpToDate", "peer_disk": "UpToDate"}
    assert vmprobe.drbd_state("version: 8.4.11\n") == {}
    assert vmprobe.local_addresses(FIB_TRIE) == {"198.18.1.100", "198.18.1.11"}
    mounts = "/dev/vda / ext4 rw 0 0\n/dev/drbd0 /srv/mail ext4 rw,noatime 0 0\n"
    assert vmprobe.mounted(mounts, "/srv/mail") == "/dev/drbd0"
    assert vmprobe.mounted(mounts, "/srv/other") is None
    assert vmprobe.stat_comm_ppid("812 (imap-login) S 800 812 812 0 -1") == ("imap-login", 800)
    assert vmprobe.stat_comm_ppid("9 (a) b) S 1 9") == ("a) b", 1)
    stats = {10: "10 (master) S 1 10", 11: "11 (dovecot) S 1 11",
             12: "12 (dovecot) S 4000 4000", 13: "13 (qmgr) S 10 10"}
    assert vmprobe.masters(stats) == ["dovecot", "postfix"]
    assert vmprobe.masters({12: "12 (dovecot) S 4000 4000"}) == []


def test_probe_runs_as_shipped_source_and_prints_json_lines():
    """What the guest runs: python3 -c <the module's source> ADDRESS MOUNT PERIOD COUNT."""
    source = Path(vmprobe.__file__).read_text()
    out = subprocess.run([sys.executable, "-c", source, "198.18.1.100", "/srv/mail", "0.05", "2"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2 and {"t", "vip", "mount", "drbd", "masters"} <= set(lines[0])
    parsed = vmsampler.parse_line(out.splitlines()[0], 123.0)
    assert parsed is not None and parsed.received == 123.0


def test_stream_lines_become_holdings():
    line = json.dumps({"t": 99.5, "vip": True, "mount": True,
                       "drbd": {"cs": "Connected", "role": "Primary", "disk": "UpToDate",
                                "peer_disk": "UpToDate"}, "masters": ["dovecot", "postfix"]})
    got = vmsampler.parse_line(line, 100.0)
    assert got.held == {"vip", "mount", "drbd", "dovecot", "postfix"}
    assert got.guest_t == 99.5 and got.drbd["cs"] == "Connected"
    secondary = vmsampler.parse_line(json.dumps({"t": 1, "drbd": {"role": "Secondary"}}), 2)
    assert secondary.held == frozenset()
    for junk in ("Warning: Permanently added 'node1'", "", "[1, 2]", '{"vip": true}'):
        assert vmsampler.parse_line(junk, 1.0) is None


def _view(received, held, domain_id="7", void=False):
    return vmsampler.NodeView(vmsampler.Line(received, received - 0.2, frozenset(held)),
                              domain_id, void)


def test_combine_and_the_quiet_node_rule():
    views = {"node1": _view(10.0, {"vip", "mount", "drbd"}), "node2": _view(10.2, set()),
             "node3": vmsampler.NodeView()}
    s = vmsampler.combine(views, 10.5)
    assert s.t == 10.5 and s.holders["vip"] == ("node1",) and s.holders["postfix"] == ()
    # node1 destroyed: quiet; the hypervisor says shut off -> it holds nothing any more.
    assert vmsampler.quiet(views["node1"], 14.0) and not vmsampler.quiet(views["node2"], 12.0)
    assert vmsampler.void_after_check(views["node1"], "shut off", None)
    # fenced and rebooting: running again under a new domain id -> void too.
    assert vmsampler.void_after_check(views["node1"], "running", "9")
    # quiet but the same VM still running (a slow stream): keeps what it held.
    assert not vmsampler.void_after_check(views["node1"], "running", "7")
    views["node1"].void = True
    views["node2"] = _view(30.0, {"vip", "mount", "drbd"})
    s2 = vmsampler.combine(views, 30.5)
    assert s2.holders["vip"] == ("node2",)
    # A node kept (not void) while another took over is a split brain the checker reports.
    views["node1"].void = False
    s3 = vmsampler.combine(views, 31.0)
    assert s3.holders["vip"] == ("node1", "node2")
    assert split_brain([s, s2, s3], 0.0)


def test_clock_offset_is_the_least_delayed_line():
    assert vmsampler.clock_offset([2.5, 2.1, 3.0]) == 2.1
    assert vmsampler.clock_offset([]) is None


def test_vm_target_parsers():
    config = ("Host node1\n  HostName 198.18.0.5\n  User root\n\nHost node2\n  HostName x\n"
              "Host node3\n")
    assert vmtarget.hosts(config) == ["node1", "node2", "node3"]
    domiflist = """ Interface   Type      Source            Model    MAC
-------------------------------------------------------------------
 vnet0       network   vagrant-libvirt   virtio   52:54:00:aa:bb:01
 vnet1       network   pacemail0         virtio   52:54:00:aa:bb:02
"""
    assert vmtarget.private_mac(domiflist) == "52:54:00:aa:bb:02"
    assert vmtarget.private_mac(domiflist, {"52:54:00:aa:bb:02"}) == "52:54:00:aa:bb:01"
    assert vmtarget.private_mac(" vnet0 network x virtio 52:54:00:aa:bb:01\n") is None
    up = {"cs": "Connected", "disk": "UpToDate", "peer_disk": "UpToDate"}
    assert vmtarget.redundant({"node1": up, "node2": up})
    assert not vmtarget.redundant({"node1": up, "node2": {**up, "disk": "Inconsistent"}})
    assert not vmtarget.redundant({"node1": up, "node2": {}}) and not vmtarget.redundant({})


def test_vm_target_fits_the_vm_scenarios_only():
    t = vmtarget.VagrantTarget(None, ["node1", "node2", "node3"], ["node1", "node2"], "/srv/mail")
    for name in ("power-off-active", "partition-active", "kill-postfix", "kill-dovecot"):
        assert SCENARIOS[name].fits(t)
    assert not SCENARIOS["two-node-split"].fits(t)
    assert {s.name for s in sequence("random", t, 30, seed=3)} <= set(SCENARIOS) - {"two-node-split"}
    assert "TCG" in t.note and t.timeouts.failover >= 300


def _api() -> set[str]:
    return {n for n in vars(DrillTarget) if not n.startswith("_")} | \
        set(DrillTarget.__annotations__)


def test_both_targets_provide_the_engine_api():
    for cls in (LabTarget, vmtarget.VagrantTarget):
        missing = [n for n in _api() if not hasattr(cls, n) and n not in cls.__dataclass_fields__]
        assert not missing, (cls.__name__, missing)


def _s(t, **holders):
    return Sample(t, {k: tuple(v) for k, v in holders.items()})


def test_kinds_back_after_the_fault():
    samples = [_s(0, vip=["node1"], postfix=["node1"]), _s(10, vip=["node1"], postfix=["node1"]),
               _s(11, vip=[], postfix=[]), _s(40, vip=["node2"], postfix=[]),
               _s(55, vip=["node2"], postfix=["node2"])]
    back = timing.kinds_back(samples, ("vip", "postfix", "dovecot"), 10.5, "node2")
    assert back == {"vip": 29.5, "postfix": 44.5, "dovecot": None}
    # Never interrupted on the node it ended on (a kill of another daemon): None.
    assert timing.kind_back(samples[:2], "vip", 0.5, "node1") is None
    assert timing.kind_back(samples, "vip", 10.5, None) is None


def _run(scenario, smtp, fence, back_vip, lost=0):
    return {"scenario": scenario, "downtime_s": {"smtp": smtp, "imap": smtp}, "detect_s": 1.0,
            "fence_s": fence, "recover_s": smtp, "back_s": {"vip": back_vip}, "lost": lost,
            "violations": [], "passed": True, "active_before": "node1", "active_after": "node2",
            "accepted": 10, "duplicates": 0, "data_intact": True}


def test_report_puts_vm_figures_next_to_the_lab(tmp_path):
    lab = report.build([_run("power-off-active", 6.9, 3.7, 4.0), _run("kill-postfix", 2, None, 1)],
                       {"target": "lab pmdemo"})
    (tmp_path / "drill-20261122T010101.json").write_text(json.dumps(lab))
    (tmp_path / "drill-20261122T020202.json").write_text(json.dumps(
        report.build([_run("kill-dovecot", 1, None, 1)], {"target": "lab other"})))
    found = report.latest_report(tmp_path, "power-off-active")
    assert found["target"] == "lab pmdemo" and found["file"] == "drill-20261122T010101.json"
    assert report.latest_report(tmp_path, "partition-active") is None
    vm = report.build([_run("power-off-active", 70.0, 15.1, 52.5)],
                      {"target": "vagrant: 3 VMs", "note": "under TCG every agent operation "
                       "takes seconds"}, found)
    c = vm["comparison"]
    assert c["this"]["downtime_smtp"] == 70.0 and c["other"]["downtime_smtp"] == 6.9
    assert c["other"]["runs"] == 1 and c["this"]["back_vip"] == 52.5
    text = report.markdown(vm)
    assert "| SMTP down (s) | 70.00 | 6.90 |" in text
    assert "| fence (s) | 15.10 | 3.70 |" in text
    assert "vagrant: 3 VMs" in text and "lab pmdemo" in text and "TCG" in text
    assert "read back" in text


def test_report_says_why_a_run_failed():
    failed = {**_run("power-off-active", 9.0, 3.8, 5.0), "passed": False,
              "violations": ["the stack stayed on node1"],
              "why": ["score: pm-drbd:0 promotion score on node2: -INFINITY",
                      "crm_mon: pm-proxysql: migration-threshold=3 fail-count=1000000"]}
    text = report.markdown(report.build([_run("kill-postfix", 2, None, 1), failed], {}))
    assert "Why run 2 failed, from the cluster's own state:" in text
    assert "- score: pm-drbd:0 promotion score on node2: -INFINITY" in text
    assert "Why run 1" not in text


def test_report_says_why_a_passing_run_was_slow():
    slow = {**_run("kill-corosync", 83.2, 3.5, 4.8), "recover_s": 87.74,
            "why": ["log: node3: warning: Cluster node node1 will be fenced: peer is no longer "
                    "part of the cluster"]}
    text = report.markdown(report.build([slow], {}))
    assert "Why run 1 took 87.74s, from the cluster's own state:" in text
    assert "probes retry every" in text    # the downtimes' resolution, in every report
