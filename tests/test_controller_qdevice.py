"""Quorum devices (``quorum:``) and SBD (``sbd:``) in a description: every value checked at its
key, the corosync.conf quorum section and /etc/default/sbd rendered (and read back the way
corosync and a shell read them), the CIB part accepted by crm_verify, and ``pacemail plan``'s
comparison with the quorum settings a running corosync reports."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from pacemail.cli import main
from pacemail.controller import cibxml, quorumdevice, sbd
from pacemail.controller.build import build_cib, to_xml
from pacemail.controller.description import parse
from pacemail.controller.problems import Severity, errors
from pacemail.lab import corosync_conf
from pacemail.lab.topology import Lab
from pacemail.pacemaker import quorum
from pacemail.pacemaker import sbd as sbd_tool
from pacemail.pacemaker.verify import verify
from pacemail.proc import CommandError

TEMPLATES = Path(__file__).resolve().parent.parent / "cib-templates"
needs_pacemaker = pytest.mark.skipif(shutil.which("crm_verify") is None,
                                     reason="Pacemaker CLI tools not installed")
NODES = """\
nodes:
  - {name: node1, address: 198.18.0.11}
  - {name: node2, address: 198.18.0.12}
"""
STACK = """\
storage: {drbd_resource: mail, device: /dev/drbd0, mount_point: /srv/mail}
vips:
  mail: {address: 198.18.0.100, prefix: 24}
services:
  postfix: {}
"""
FENCING = """\
fencing:
  devices:
    - {name: fence-node1, agent: fence_pacemail_lab, hosts: [node1]}
    - {name: fence-node2, agent: fence_pacemail_lab, hosts: [node2]}
"""
DEVICE = "quorum:\n  device: {host: 198.18.0.210}\n"


def described(*parts: str):
    parsed = parse(NODES + STACK + "".join(parts), "mail.yaml")
    assert parsed.description is not None and not errors(parsed.problems), parsed.problems
    return parsed.description


def problems(*parts: str, nodes: str = NODES, severity: Severity = Severity.ERROR):
    parsed = parse(nodes + STACK + "".join(parts), "mail.yaml")
    found = [(p.location.key, p.message) for p in parsed.problems if p.severity is severity]
    assert found, parsed.problems
    return found


def corosync_sections(text: str) -> dict:
    """corosync.conf text -> nested dicts, read as corosync's parser does: one item a line,
    ``name {`` opens a section, ``}`` closes it, ``key: value`` is a value."""
    root: dict = {}
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            name = line[:-1].strip()
            assert name and " " not in name, raw
            stack[-1][name] = {}
            stack.append(stack[-1][name])
        elif line == "}":
            stack.pop()
            assert stack, "a '}' too many"
        else:
            key, sep, value = line.partition(":")
            assert sep and key.strip() not in stack[-1], raw
            stack[-1][key.strip()] = value.strip()
    assert len(stack) == 1, "a section left open"
    return root


# -- quorum: parsing and checks -------------------------------------------------------------

def test_a_quorum_device_with_defaults_replaces_two_node():
    d = described(DEVICE, FENCING)
    assert d.quorum_device.host == "198.18.0.210"
    assert (d.quorum_device.algorithm, d.quorum_device.tie_breaker, d.quorum_device.port) == \
        ("ffsplit", "lowest", 5403)
    assert d.two_node is False


def test_two_node_and_a_quorum_device_together_are_refused_at_two_node():
    found = problems("cluster: {two_node: true}\n", DEVICE, FENCING)
    assert found == [("cluster.two_node", found[0][1])] and "replaces two_node" in found[0][1]


@pytest.mark.parametrize("device, key, words", [
    ("{host: node1}", "quorum.device.host", "outside the cluster"),
    ("{host: 198.18.0.12}", "quorum.device.host", "is node node2"),
    ("{host: 198.18.0.100}", "quorum.device.host", "VIP 'mail'"),
    ("{host: 'qnetd example'}", "quorum.device.host", "IP address or host name of the qnetd host"),
    ("{host: 198.18.0.210, tie_breaker: 3}", "quorum.device.tie_breaker", "not one of the nodes' ids (1, 2)"),
    ("{host: 198.18.0.210, tie_breaker: first}", "quorum.device.tie_breaker", "lowest, highest or a node id"),
    ("{host: 198.18.0.210, algorithm: 2nodelms}", "quorum.device.algorithm", "one of ffsplit, lms"),
    ("{host: 198.18.0.210, port: 70000}", "quorum.device.port", "from 1 to 65535"),
    ("{algorithm: lms}", "quorum.device.host", "missing required key 'host'"),
    ("{host: 198.18.0.210, votes: 2}", "quorum.device.votes", "unknown key"),
])
def test_a_bad_quorum_device_is_an_error_at_its_key(device, key, words):
    found = problems(f"quorum:\n  device: {device}\n", FENCING)
    assert any(k == key and words in m for k, m in found), found


def test_ffsplit_on_an_odd_node_count_is_a_warning():
    three = NODES + "  - {name: node3, address: 198.18.0.13}\n"
    found = problems(DEVICE, FENCING, nodes=three, severity=Severity.WARNING)
    assert any(k == "quorum.device.algorithm" and "use lms" in m for k, m in found), found
    assert not [p for p in parse(three + STACK + FENCING + "quorum:\n  device: {host: q.example.org, "
                                 "algorithm: lms}\n").problems if p.severity is Severity.WARNING
                and p.location.key.startswith("quorum")]


def test_the_fence_race_is_left_to_the_device_and_said_so():
    d = described(DEVICE, FENCING)
    assert "priority-fencing-delay" not in dict(d.options)
    assert d.fence_race.method == "quorum.device (qnetd 198.18.0.210, ffsplit)"
    assert "fences nobody" in d.fence_race.why and "lowest node id" in d.fence_race.why


# hosts that are neither a node's address nor the VIP's
hosts = st.one_of(st.ip_addresses(v=4).map(str).filter(
    lambda a: a not in ("198.18.0.11", "198.18.0.12", "198.18.0.100")),
    st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,10}){1,2}", fullmatch=True))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(host=hosts, algorithm=st.sampled_from(["ffsplit", "lms"]),
       tie=st.sampled_from(["lowest", "highest", "1", "2"]), port=st.integers(1, 65535))
def test_any_valid_device_renders_the_quorum_section_it_describes(host, algorithm, tie, port):
    d = described(f"quorum:\n  device: {{host: '{host}', algorithm: {algorithm}, "
                  f"tie_breaker: {tie}, port: {port}}}\n", FENCING)
    section = corosync_sections(quorumdevice.corosync_quorum(d))["quorum"]
    assert section["provider"] == "corosync_votequorum" and "two_node" not in section
    device = section["device"]
    assert device["model"] == "net"
    assert device.get("votes") == ("1" if algorithm == "ffsplit" else None)
    assert device["net"] == {"host": host, "port": str(port), "algorithm": algorithm,
                             "tie_breaker": tie}
    assert quorumdevice.drift(d, {"provider": "corosync_votequorum", "two_node": "0",
                                  **{k: v for k, v in quorumdevice.corosync_settings(d).items()
                                     if k != "two_node"}}) == []


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(min_size=1, max_size=20))
def test_any_other_tie_breaker_is_refused_at_its_key_never_a_traceback(text):
    yaml_text = text.replace("\\", "\\\\").replace('"', '\\"')
    parsed = parse(NODES + STACK + FENCING +
                   f'quorum:\n  device: {{host: 198.18.0.210, tie_breaker: "{yaml_text}"}}\n')
    if text in ("lowest", "highest", "1", "2", "+1", "+2", "01", "02", "001", "002"):
        return
    found = errors(parsed.problems)
    assert parsed.description is None and found
    assert {p.location.key for p in found} <= {"quorum.device.tie_breaker", ""}, found


def test_two_node_without_a_device_renders_as_the_lab_does():
    d = described(FENCING)
    section = corosync_sections(quorumdevice.corosync_quorum(d))["quorum"]
    assert section == {"provider": "corosync_votequorum", "two_node": "1"}
    lab_text = corosync_conf.render(Lab("x", 2, two_node=True))
    assert corosync_sections(lab_text)["quorum"] == section


def test_the_qdevice_template_describes_the_labs_quorum_device():
    parsed = parse((TEMPLATES / "mail-2node-qdevice.yaml").read_text(), "mail-2node-qdevice.yaml")
    assert not errors(parsed.problems), parsed.problems
    lab = corosync_sections(corosync_conf.render(Lab("x", 2, qdevice=True)))["quorum"]
    assert corosync_sections(quorumdevice.corosync_quorum(parsed.description))["quorum"] == lab


@pytest.mark.skipif(shutil.which("corosync") is None, reason="corosync not installed")
@pytest.mark.parametrize("algorithm", ["ffsplit", "lms"])
def test_corosync_itself_accepts_the_rendered_section(tmp_path, algorithm):
    """``corosync -t``: corosync's own parser and typed keys (a nodelist on loopback, so the
    node finds itself)."""
    d = described(f"quorum:\n  device: {{host: 198.18.0.210, algorithm: {algorithm}, "
                  "tie_breaker: 2}\n", FENCING)
    totem = ("totem {\n    version: 2\n    cluster_name: mail\n    transport: knet\n"
             "    crypto_cipher: none\n    crypto_hash: none\n}\n"
             "nodelist {\n" + "".join(f"    node {{\n        ring0_addr: 127.0.0.{i}\n"
                                      f"        name: node{i}\n        nodeid: {i}\n    }}\n"
                                      for i in (1, 2)) + "}\n")
    good = tmp_path / "corosync.conf"
    good.write_text(totem + quorumdevice.corosync_quorum(d))
    done = subprocess.run(["corosync", "-t", "-c", str(good)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    # the check means something: a broken value in the same section is refused
    bad = tmp_path / "bad.conf"
    bad.write_text(good.read_text().replace("port: 5403", "port: 5403\n        votes: many")
                   .replace("    device {", "    device {\n        votes: many"))
    refused = subprocess.run(["corosync", "-t", "-c", str(bad)], capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode != 0 and "quorum.device.votes" in refused.stderr


# -- quorum: the running corosync -----------------------------------------------------------

CMAPCTL = """\
quorum.device.model (str) = net
quorum.device.net.algorithm (str) = ffsplit
quorum.device.net.host (str) = 198.18.0.210
quorum.device.net.tie_breaker (str) = lowest
quorum.device.votes (u32) = 1
quorum.provider (str) = corosync_votequorum
"""


def test_plan_finds_no_drift_when_corosync_runs_the_description():
    d = described(DEVICE, FENCING)
    live = quorum.cmap_values(CMAPCTL, "quorum.")
    assert live["device.net.host"] == "198.18.0.210" and live["device.votes"] == "1"
    assert quorumdevice.drift(d, live) == []     # port and two_node left to corosync's defaults


def test_plan_warns_for_each_setting_corosync_runs_otherwise():
    d = described(DEVICE, FENCING)
    live = quorum.cmap_values(CMAPCTL.replace("198.18.0.210", "198.18.0.5")
                              .replace("= lowest", "= highest"), "quorum.")
    found = {p.location.key: p.message for p in quorumdevice.drift(d, live)}
    assert set(found) == {"quorum.device.net.host", "quorum.device.net.tie_breaker"}
    assert found["quorum.device.net.host"].startswith(
        "corosync runs 198.18.0.5, the description says 198.18.0.210")
    assert all(p.severity is Severity.WARNING for p in quorumdevice.drift(d, live))


def test_plan_warns_when_only_one_side_has_a_device():
    with_device, without = described(DEVICE, FENCING), described(FENCING)
    two_node = quorum.cmap_values("quorum.provider (str) = corosync_votequorum\n"
                                  "quorum.two_node (u8) = 1\n", "quorum.")
    assert "corosync runs no quorum device" in quorumdevice.drift(with_device, two_node)[0].message
    assert quorumdevice.drift(without, two_node) == []
    found = quorumdevice.drift(without, quorum.cmap_values(CMAPCTL, "quorum."))
    assert len(found) == 1 and "does not describe" in found[0].message


def test_live_drift_reads_corosync_through_the_runner_and_survives_its_absence():
    d = described(DEVICE, FENCING)
    asked = []

    def corosync(argv, *, timeout, check=True, input=None):
        asked.append(argv)
        return subprocess.CompletedProcess(argv, 0, CMAPCTL.replace(".210", ".211"), "")

    def down(argv, *, timeout, check=True, input=None):
        raise CommandError(argv, 1, "", "Failed to initialize the cmap API. Error CS_ERR_LIBRARY")

    found = quorumdevice.live_drift(d, run=corosync)
    assert asked == [["corosync-cmapctl", "quorum."]]
    assert [p.location.key for p in found] == ["quorum.device.net.host"]
    [absent] = quorumdevice.live_drift(d, run=down)
    assert absent.severity is Severity.WARNING and "not compared" in absent.message


QUORUMTOOL_QDEVICE = """\
Quorum information
------------------
Date:             Sun Dec  7 01:40:00 2026
Quorum provider:  corosync_votequorum
Nodes:            2
Node ID:          1
Ring ID:          1.12
Quorate:          Yes

Votequorum information
----------------------
Expected votes:   3
Highest expected: 3
Total votes:      3
Quorum:           2  
Flags:            Quorate Qdevice 

Membership information
----------------------
    Nodeid      Votes    Qdevice Name
         1          1    A,V,NMW node1 (local)
         2          1    A,V,NMW node2
         0          1            Qdevice
"""


def test_quorumtool_with_a_device_counts_its_vote_but_not_as_a_member():
    state = quorum.parse(QUORUMTOOL_QDEVICE)
    assert state.quorate and state.qdevice and state.qdevice_votes == 1
    assert (state.expected_votes, state.total_votes, state.quorum) == (3, 3, 2)
    assert state.member_names == ("node1", "node2") and not state.two_node
    assert state.summary().endswith("quorum device casting 1 vote(s)")
    silent = quorum.parse(QUORUMTOOL_QDEVICE.replace(
        "         0          1            Qdevice", "         0          0            Qdevice (votes 1)"))
    assert silent.qdevice_votes == 0 and silent.member_names == ("node1", "node2")


# -- sbd ------------------------------------------------------------------------------------

DISKLESS = "sbd: {mode: diskless}\n"
DISK = "sbd:\n  mode: disk\n  devices: [/dev/disk/by-id/wwn-0x5000c500a1b2c3d4, /dev/disk/by-path/pci-0000:00:1f.2-ata-2]\n"


def test_diskless_sbd_is_watchdog_fencing_and_needs_no_device():
    d = described(DEVICE, DISKLESS)
    assert dict(d.options)["stonith-watchdog-timeout"] == "10s"
    assert d.fence_devices == () and d.sbd.mode == "diskless"


def test_diskless_sbd_on_two_nodes_needs_a_quorum_device():
    found = problems(DISKLESS)
    assert any(k == "sbd.mode" and "needs a quorum device" in m for k, m in found), found
    three = NODES + "  - {name: node3, address: 198.18.0.13}\n"
    assert parse(three + STACK + DISKLESS).description is not None


def test_disk_sbd_is_a_fence_sbd_device_on_every_node():
    d = described(DISK)
    [device] = d.fence_devices
    assert (device.name, device.agent, device.hosts) == ("sbd", "fence_sbd", ("node1", "node2"))
    assert dict(device.params)["devices"] == ("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4,"
                                              "/dev/disk/by-path/pci-0000:00:1f.2-ata-2")
    assert "stonith-watchdog-timeout" not in dict(d.options)
    primitive = build_cib(d).find(".//primitive[@id='pm-sbd']")
    assert primitive.get("type") == "fence_sbd"
    params = {p.get("name"): p.get("value") for p in primitive.iter("nvpair")}
    assert params["pcmk_host_list"] == "node1 node2"


@pytest.mark.parametrize("section, key, words", [
    ("sbd: {mode: disk}\n", "sbd.devices", "disk mode needs the shared disks"),
    ("sbd: {mode: diskless, devices: [/dev/sdb]}\n", "sbd.devices", "is for disk mode"),
    ("sbd: {mode: shared}\n", "sbd.mode", "one of diskless, disk"),
    ("sbd: {mode: disk, devices: [/dev/a, /dev/b, /dev/c, /dev/d]}\n", "sbd.devices", "one to 3"),
    ("sbd: {mode: disk, devices: [/dev/sdb, /dev//sdb]}\n", "sbd.devices[1]", "listed twice"),
    ("sbd: {mode: disk, devices: ['/dev/sdb;/dev/sdc']}\n", "sbd.devices[0]", "a device path under /dev"),
    ("sbd: {mode: disk, devices: [/srv/sbd.img]}\n", "sbd.devices[0]", "a device path under /dev"),
    ("sbd: {mode: disk, devices: [/dev/sdb], watchdog_timeout_s: 10, msgwait_timeout_s: 15}\n",
     "sbd.msgwait_timeout_s", "at least twice watchdog_timeout_s (20)"),
    ("sbd: {mode: disk, devices: [/dev/sdb], watchdog_timeout_s: 0}\n", "sbd.watchdog_timeout_s",
     "from 1 to 3600"),
    ("sbd: {mode: diskless, watchdog: /dev/null}\n", "sbd.watchdog", "needs one"),
    ("sbd: {mode: disk, devices: [/dev/sdb], watchdog_timeout_s: 30}\n", "sbd",
     "stonith-timeout 60s is shorter than 1.2 times the msgwait (60s)"),
])
def test_a_bad_sbd_section_is_an_error_at_its_key(section, key, words):
    found = problems(DEVICE, section)
    assert any(k == key and words in m for k, m in found), found


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(disk=st.one_of(st.text(max_size=40), st.from_regex(r"/dev/[a-z0-9/.;:_-]{1,30}",
                                                          fullmatch=True)))
def test_any_disk_path_is_taken_normalised_or_refused_at_its_key(disk):
    quoted = disk.replace("\\", "\\\\").replace('"', '\\"')
    parsed = parse(NODES + STACK + f'sbd: {{mode: disk, devices: ["{quoted}"]}}\n')
    if parsed.description is not None:
        [taken] = parsed.description.sbd.devices
        assert sbd.DISK.fullmatch(taken) and ".." not in taken.split("/")
        assert ";" not in taken and "," not in taken and taken == taken.rstrip("/")
        return
    keys = {p.location.key for p in errors(parsed.problems)}
    assert keys <= {"sbd.devices[0]", ""}, parsed.problems


def test_sbd_owns_stonith_watchdog_timeout_and_its_fence_device():
    found = problems(DEVICE, DISKLESS, "cluster:\n  options: {stonith-watchdog-timeout: 10s}\n")
    assert any(k == "cluster.options.stonith-watchdog-timeout" for k, _ in found), found
    found = problems(DISK, "fencing:\n  devices:\n    - {name: sbd, agent: fence_ipmilan, "
                           "hosts: [node1], params: {ip: 10.0.0.1}}\n")
    assert any("the name 'sbd' is already taken" in m for _, m in found), found
    found = problems(DISK, "fencing:\n  devices:\n    - {name: disk, agent: fence_sbd, "
                           "hosts: [node1], params: {devices: /dev/sdb}}\n")
    assert any("adds its own fence_sbd device (sbd); remove disk" in m for _, m in found), found


def test_a_long_enough_stonith_timeout_lets_long_sbd_timeouts_through():
    d = described("cluster:\n  options: {stonith-timeout: 72s}\n",
                  "sbd: {mode: disk, devices: [/dev/sdb], watchdog_timeout_s: 30}\n")
    assert d.sbd.msgwait_timeout_s == 60


def sysconfig_values(text: str) -> dict[str, str]:
    """/etc/default/sbd read as systemd's EnvironmentFile= and a shell read it."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            [word] = shlex.split(line)
            key, _, value = word.partition("=")
            out[key] = value
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(watchdog=st.integers(1, 40), extra=st.integers(0, 40), disks=st.integers(1, 3))
def test_sysconfig_carries_the_timeouts_and_the_create_command(watchdog, extra, disks):
    devices = [f"/dev/disk/by-id/scsi-disk{i}" for i in range(disks)]
    msgwait = 2 * watchdog + extra
    d = described(f"cluster:\n  options: {{stonith-timeout: {2 * msgwait}s}}\n",
                  f"sbd: {{mode: disk, devices: [{', '.join(devices)}], "
                  f"watchdog_timeout_s: {watchdog}, msgwait_timeout_s: {msgwait}}}\n")
    text = sbd.sysconfig(d)
    values = sysconfig_values(text)
    assert values == {"SBD_DEVICE": ";".join(devices), "SBD_PACEMAKER": "yes",
                      "SBD_STARTMODE": "always", "SBD_WATCHDOG_DEV": "/dev/watchdog",
                      "SBD_WATCHDOG_TIMEOUT": str(watchdog)}
    [create] = [line.removeprefix("#").strip() for line in text.splitlines()
                if line.startswith("#   sbd ")]
    assert shlex.split(create) == sbd_tool.create_argv(devices, watchdog, msgwait)
    assert shlex.split(create)[-5:] == ["-1", str(watchdog), "-4", str(msgwait), "create"]


def test_diskless_sysconfig_names_no_disk():
    values = sysconfig_values(sbd.sysconfig(described(DEVICE, DISKLESS)))
    assert "SBD_DEVICE" not in values and values["SBD_WATCHDOG_TIMEOUT"] == "5"


def test_sbd_dump_is_read():
    dump = ("==Dumping header on disk /dev/loop2\nHeader version     : 2.1\n"
            "UUID               : 61eb79d2-ec56-44a4-949f-b2991d2be99e\n"
            "Number of slots    : 255\nSector size        : 512\nTimeout (watchdog) : 5\n"
            "Timeout (allocate) : 2\nTimeout (loop)     : 1\nTimeout (msgwait)  : 10\n"
            "==Header on disk /dev/loop2 is dumped\n")
    assert sbd_tool.parse_dump(dump) == sbd_tool.Header("2.1", 255, 5, 10)
    with pytest.raises(ValueError, match="not an sbd dump"):
        sbd_tool.parse_dump("sbd: failed to open /dev/loop2")


# -- the CIB part: crm_verify ---------------------------------------------------------------

@needs_pacemaker
def test_crm_verify_accepts_disk_sbd():
    result = verify(to_xml(build_cib(described(DISK))))
    assert result.ok, result.errors


@needs_pacemaker
def test_crm_verify_accepts_diskless_sbd_once_pacemaker_has_seen_the_watchdog():
    """Pacemaker fences by watchdog only with its own ``have-watchdog`` true, which the DC
    writes when sbd runs; before that crm_verify rightly finds no way to fence."""
    cib = build_cib(described(DEVICE, DISKLESS))
    without = verify(to_xml(cib))
    assert any("no STONITH resources" in e for e in without.errors), without
    crm_config = cib.find("configuration/crm_config")
    cibxml.nvset(crm_config, "cluster_property_set", "cib-bootstrap-options",
                 (("have-watchdog", "true"),))
    result = verify(to_xml(cib))
    assert result.ok, result.errors
    options = {p.get("name"): p.get("value") for p in
               cib.iterfind(".//cluster_property_set[@id='pm-cluster-options']/nvpair")}
    assert options["stonith-watchdog-timeout"] == "10s"


@needs_pacemaker
def test_crm_verify_accepts_the_qdevice_template():
    path = TEMPLATES / "mail-2node-qdevice.yaml"
    result = verify(to_xml(build_cib(parse(path.read_text(), str(path)).description)))
    assert result.ok, result.errors


# -- the command line -----------------------------------------------------------------------

def test_render_prints_the_parts_outside_the_cib(tmp_path):
    path = tmp_path / "mail.yaml"
    path.write_text(NODES + STACK + DEVICE + DISKLESS)
    runner = CliRunner()
    corosync = runner.invoke(main, ["render", str(path), "--corosync"])
    assert corosync.exit_code == 0, corosync.output
    assert corosync_sections(corosync.output)["quorum"]["device"]["net"]["host"] == "198.18.0.210"
    out = tmp_path / "sbd"
    sysconf = runner.invoke(main, ["render", str(path), "--sbd", "-o", str(out)])
    assert sysconf.exit_code == 0 and sysconfig_values(out.read_text())["SBD_PACEMAKER"] == "yes"
    cib = runner.invoke(main, ["render", str(path)])
    assert etree.fromstring(cib.output.encode()).find(".//nvpair[@name='stonith-watchdog-timeout']") \
        is not None
    path.write_text(NODES + STACK + FENCING)
    none = runner.invoke(main, ["render", str(path), "--sbd"])
    assert none.exit_code == 1 and "has no sbd: section" in none.output
