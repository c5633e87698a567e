"""STONITH in the description: agent metadata checks, the two-node fence race, CIB secrets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from lxml import etree

from pacemail.controller import fencecheck, fencerace
from pacemail.controller.build import build_cib
from pacemail.controller.description import load, parse
from pacemail.controller.model import FenceDevice
from pacemail.controller.problems import Severity, errors
from pacemail.controller import cibsecrets

BASE = """\
nodes: [node1, node2{third}]
storage: {{drbd_resource: mail, device: /dev/drbd0, mount_point: /srv/mail}}
vips:
  mail: {{address: 198.18.0.100, prefix: 24}}
services:
  postfix: {{config_dir: /etc/postfix}}
{cluster}{placement}fencing:
  devices:
{devices}"""
LAB_DEVICES = ("    - {name: fence-node1, agent: fence_pacemail_lab, hosts: [node1]}\n"
               "    - {name: fence-node2, agent: fence_pacemail_lab, hosts: [node2]}\n")
SECRET = "s3cr3t-Value-never-shown"


def describe(cluster="", placement="", devices=LAB_DEVICES, third=""):
    return BASE.format(cluster=cluster, placement=placement, devices=devices, third=third)


def parsed(text):
    p = parse(text, "mail.yaml")
    assert p.description, p.problems
    return p


def option(d, name):
    return dict(d.options).get(name)


# -- the fence race -------------------------------------------------------------------

def test_two_nodes_with_a_mail_priority_get_priority_fencing_delay():
    d = parsed(describe()).description
    assert option(d, "priority-fencing-delay") == fencerace.PRIORITY_DELAY
    assert d.fence_race.automatic and d.fence_race.method.startswith("priority-fencing-delay")
    assert "node running it" in fencerace.note(d.fence_race)
    cib = build_cib(d)
    assert cib.find(".//nvpair[@name='priority-fencing-delay']").get("value") == "15s"
    assert {n.get("value") for n in cib.iterfind(".//primitive[@id='pm-mount']//nvpair[@name='priority']")} == {"10"}
    assert not cib.findall(".//nvpair[@name='pcmk_delay_max']")


def test_priority_zero_gets_a_random_delay_on_every_device():
    d = parsed(describe(placement="placement: {priority: 0}\n")).description
    assert option(d, "priority-fencing-delay") is None
    assert all(("pcmk_delay_max", fencerace.RANDOM_DELAY_MAX) in f.params for f in d.fence_devices)
    assert d.fence_race.method.startswith("pcmk_delay_max") and d.fence_race.automatic
    assert len(build_cib(d).findall(".//primitive[@class='stonith']//nvpair[@name='pcmk_delay_max']")) == 2


def test_an_explicit_choice_is_kept_and_named():
    d = parsed(describe(cluster="cluster: {options: {priority-fencing-delay: 7s}}\n")).description
    assert option(d, "priority-fencing-delay") == "7s"
    assert not d.fence_race.automatic and d.fence_race.method == "priority-fencing-delay"
    devices = LAB_DEVICES.replace("hosts: [node1]}", "hosts: [node1], params: {pcmk_delay_base: 5s}}")
    d = parsed(describe(devices=devices)).description
    assert d.fence_race.method == "pcmk_delay_base" and option(d, "priority-fencing-delay") is None


def test_priority_fencing_delay_without_priority_is_warned():
    p = parsed(describe(cluster="cluster: {options: {priority-fencing-delay: 7s}}\n",
                        placement="placement: {priority: 0}\n"))
    assert [w.location.key for w in p.problems] == ["cluster.options.priority-fencing-delay"]
    assert "race stays open" in fencerace.note(p.description.fence_race)


def test_three_nodes_have_no_race_and_ignore_is_refused_on_two():
    d = parsed(describe(third=", node3", devices=LAB_DEVICES +
                        "    - {name: fence-node3, agent: fence_pacemail_lab, hosts: [node3]}\n")).description
    assert d.fence_race is None and option(d, "priority-fencing-delay") is None
    bad = parse(describe(cluster="cluster: {options: {no-quorum-policy: ignore}}\n"), "m.yaml")
    assert bad.description is None
    assert [e.location.key for e in errors(bad.problems)] == ["cluster.options.no-quorum-policy"]


def test_watchdog_sbd_is_warned_as_outside_the_description():
    p = parsed(describe(cluster="cluster: {options: {stonith-watchdog-timeout: 10s}}\n"))
    assert any("sbd" in w.message and w.severity is Severity.WARNING for w in p.problems)


# -- parameters against the agents' metadata -------------------------------------------------

METADATA = """<resource-agent name="fence_x"><parameters>
<parameter name="action" required="1"><content type="string"/></parameter>
<parameter name="ip" required="1" obsoletes="ipaddr"><content type="string"/></parameter>
<parameter name="ipaddr" required="1" deprecated="1"><content type="string"/></parameter>
<parameter name="plug" required="1" obsoletes="port"><content type="string"/></parameter>
<parameter name="password" required="0"><content type="string"/></parameter>
<parameter name="auth" required="0"><content type="select"><option value="md5"/>
<option value="none"/></content></parameter>
</parameters></resource-agent>"""
FENCER = {"pcmk_host_list": fencecheck.Param("pcmk_host_list"),
          "pcmk_delay_max": fencecheck.Param("pcmk_delay_max")}


def device_problems(params=(), secrets=()):
    f = FenceDevice("f1", "fence_x", ("node1",), params=tuple(params), secrets=tuple(secrets))
    return [p.message.split(": ", 1)[1] for p in
            fencecheck.check_device(f, fencecheck.parse_metadata(METADATA), FENCER)]


def test_metadata_check_is_exact():
    assert device_problems([("ip", "10.0.0.1"), ("auth", "md5"), ("pcmk_delay_max", "5s")],
                           [("password", "/etc/x")]) == []
    assert device_problems([]) == ["'ip' is required by fence_x"]   # action, plug: the fencer's
    assert device_problems([("ipaddr", "10.0.0.1")]) == ["'ipaddr' is deprecated; use 'ip'"]
    assert device_problems([("ip", "a"), ("auth", "sha1")]) == ["auth: expected one of md5, none, got 'sha1'"]
    assert device_problems([("ip", "a"), ("ipport", "623")])[0].startswith("'ipport' is not a parameter")
    assert device_problems([("ip", "a"), ("pcmk_delay_min", "1")])[0].startswith("'pcmk_delay_min' is not a fencer")


def test_agent_metadata_is_cached_until_the_agent_changes(tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    agent = tmp_path / "fence_x"
    agent.write_text(f"#!/bin/sh\necho run >> {calls}\ncat <<'EOF'\n{METADATA}\nEOF\n")
    agent.chmod(0o755)
    monkeypatch.setattr(fencecheck, "METADATA_CACHE", tmp_path / "cache")
    argv = [str(agent), "-o", "metadata"]
    first = fencecheck._metadata(argv)
    assert first == fencecheck._metadata(argv) and "ip" in first
    assert calls.read_text().count("run") == 1                   # the second came from the cache
    agent.write_text(agent.read_text().replace('name="auth"', 'name="authtype"'))   # upgraded
    assert "authtype" in fencecheck._metadata(argv) and calls.read_text().count("run") == 2
    broken = tmp_path / "fence_broken"
    broken.write_text("#!/bin/sh\necho '<not-xml'\n")
    broken.chmod(0o755)
    assert fencecheck._metadata([str(broken), "-o", "metadata"]) is None
    assert not list((tmp_path / "cache").glob("fence_broken-*"))   # never cached


INSTALLED = [a for a in ("fence_ipmilan", "fence_virsh", "fence_vbox", "fence_sbd")
             if (fencecheck.AGENT_DIR / a).is_file()]


@pytest.mark.skipif(len(INSTALLED) < 4, reason="fence-agents not installed")
@pytest.mark.parametrize("agent, params, expected", [
    ("fence_ipmilan", "{ip: 10.0.0.1, username: admin, lanplus: 1}", []),
    ("fence_ipmilan", "{ip: 10.0.0.1, username: admin, lanplus: 1, bogus: 2}", ["'bogus' is not a parameter"]),
    ("fence_virsh", "{ip: 10.0.0.1}", ["'username' is required"]),
    ("fence_virsh", "{ip: kvm-host, username: root, identity_file: /root/.ssh/id}", []),
    ("fence_vbox", "{ip: vbox-host, login: me}", ["'login' is deprecated; use 'username'"]),
    ("fence_sbd", "{}", ["'devices' is required"]),
    ("fence_sbd", "{devices: /dev/disk/by-id/sbd}", []),
])
def test_installed_agents_are_asked(tmp_path, agent, params, expected):
    devices = (f"    - {{name: fence-a, agent: {agent}, hosts: [node1, node2], params: {params}}}\n")
    path = tmp_path / "m.yaml"
    path.write_text(describe(devices=devices))
    found = [p.message for p in load(path).problems]
    assert len(found) == len(expected) and all(e in m for e, m in zip(expected, found)), found


def test_an_agent_not_installed_is_a_warning(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(describe(devices="    - {name: fence-a, agent: fence_nowhere, hosts: [node1, node2]}\n"))
    p = load(path)
    assert p.description and [w.severity for w in p.problems] == [Severity.WARNING]
    assert "fence_nowhere not checked" in p.problems[0].message


# -- secrets --------------------------------------------------------------------------

def secret_description(tmp_path, mode=0o600):
    source = tmp_path / "ipmi-pass"
    source.write_text(SECRET + "\n")
    source.chmod(mode)
    devices = LAB_DEVICES.replace("hosts: [node1]}", f"hosts: [node1], secrets: {{password: {source}}}}}")
    path = tmp_path / "m.yaml"
    path.write_text(describe(devices=devices))
    return path


def test_the_cib_gets_the_placeholder_and_each_node_the_signed_file(tmp_path):
    d = load(secret_description(tmp_path)).description
    cib = etree.tostring(build_cib(d)).decode()
    assert SECRET not in cib and 'name="password" value="lrm://"' in cib
    root = tmp_path / "secrets"
    done, problems = cibsecrets.install_all(d, root)
    assert problems == [] and [(i.secret.resource, i.changed) for i in done] == [("pm-fence-node1", True)]
    value = root / "pm-fence-node1" / "password"
    assert value.read_text() == SECRET + "\n" and value.stat().st_mode & 0o777 == 0o600
    assert (root / "pm-fence-node1").stat().st_mode & 0o777 == 0o700
    # what `cibsecret check` computes: md5 of the value without its newline
    assert (root / "pm-fence-node1" / "password.sign").read_text().strip() == \
        subprocess.run(["md5sum"], input=SECRET, capture_output=True, text=True,
                       timeout=10).stdout.split()[0]
    assert cibsecrets.install_all(d, root)[0][0].changed is False


def test_a_secret_file_others_can_read_is_refused_without_showing_it(tmp_path):
    d = load(secret_description(tmp_path, mode=0o644)).description
    done, problems = cibsecrets.install_all(d, tmp_path / "secrets")
    assert done == [] and "readable by root only" in problems[0].message
    assert SECRET not in str(problems[0]) and not (tmp_path / "secrets").exists()


def test_secrets_the_description_dropped_are_removed_and_foreign_ones_kept(tmp_path):
    d = load(secret_description(tmp_path)).description
    root = tmp_path / "secrets"
    cibsecrets.install_all(d, root)
    for rid, param in (("pm-fence-old", "password"), ("pm-fence-node1", "login"),
                       ("fence-by-hand", "password")):
        (root / rid).mkdir(exist_ok=True)
        (root / rid / param).write_text("x\n")
        (root / rid / f"{param}.sign").write_text("y\n")
    removed = cibsecrets.remove_stale(d, root)
    assert sorted((s.resource, s.param) for s in removed) == [("pm-fence-node1", "login"),
                                                             ("pm-fence-old", "password")]
    assert not (root / "pm-fence-old").exists()
    assert sorted(p.name for p in (root / "pm-fence-node1").iterdir()) == ["password", "password.sign"]
    assert (root / "fence-by-hand" / "password").exists()      # not pacemail's
    assert cibsecrets.remove_stale(d, root) == []


def test_the_daemon_installs_this_nodes_secrets_and_logs_a_problem_once(tmp_path, caplog):
    import logging

    from pacemail.controller import daemon, serve

    desc = secret_description(tmp_path)
    source = tmp_path / "ipmi-pass"
    d = serve.Daemon(daemon.Config(load(desc).description), 1.0, secrets_dir=tmp_path / "s")
    d.sync_secrets()
    assert (tmp_path / "s" / "pm-fence-node1" / "password").read_text() == SECRET + "\n"
    assert d.state.secret_problems == ()
    source.chmod(0o644)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=serve.log.name):
        d.sync_secrets()
        d.sync_secrets()
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 1 and "readable by root only" in lines[0] and SECRET not in lines[0]
    assert "pacemail_controller_secret_problems 1\n" in daemon.metrics(d.state)
    source.chmod(0o600)
    d.sync_secrets()
    assert d.state.secret_problems == ()


@pytest.mark.skipif(shutil.which("cibadmin") is None, reason="pacemaker CLI tools not installed")
def test_render_plan_apply_and_secrets_never_print_the_secret(tmp_path):
    desc = secret_description(tmp_path)
    cib = tmp_path / "cib.xml"
    cib.write_text('<cib validate-with="pacemaker-3.7" admin_epoch="0" epoch="1" num_updates="0">'
                   '<configuration><crm_config/><nodes/><resources/><constraints/></configuration>'
                   '<status/></cib>')
    env = dict(os.environ, CIB_file=str(cib))
    pacemail = [sys.executable, "-m", "pacemail.cli"]
    outputs = []
    for args in (["render", str(desc)], ["plan", str(desc)], ["plan", "--json", str(desc)],
                 ["apply", "--yes", str(desc)],
                 ["fencing", "secrets", str(desc), "--secrets-dir", str(tmp_path / "s")]):
        done = subprocess.run(pacemail + args, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode in (0, 2), (args, done.stderr)
        outputs.append(done.stdout + done.stderr)
    assert not any(SECRET in o for o in outputs)
    assert "note: fence race (two nodes): pacemail chose priority-fencing-delay" in outputs[1]
    assert '"notes": [' in outputs[2] and "Applied:" in outputs[3]
    assert "pm-fence-node1 password: installed" in outputs[4]
    assert SECRET not in cib.read_text() and 'value="lrm://"' in cib.read_text()
