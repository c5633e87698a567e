"""Hostile descriptions: render and plan never crash, never run what a description names,
and accept only what Pacemaker accepts.

Descriptions are the 3-node template with values, keys and sections swapped for
hostile ones (YAML tags, control characters, other scripts' digits, huge numbers,
names taken twice or by themselves, paths that climb out, shell syntax). A fence
agent directory in a temporary folder holds ``fence_x``, which may run (it is an
installed agent named by name), and programs that must never run, there and
beside it; every process started while a command runs is seen by an audit hook.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings, strategies as st
from lxml import etree

from pacemail.cli import main
from pacemail.controller import clusteroptions, fencecheck
from pacemail.controller.description import load
from pacemail.controller.problems import errors
from pacemail.pacemaker.verify import verify

pytestmark = pytest.mark.skipif(shutil.which("crm_verify") is None, reason="Pacemaker CLI tools not installed")

TEMPLATE = (Path(__file__).resolve().parent.parent / "cib-templates" / "mail-3node.yaml").read_text()
METADATA = """<?xml version="1.0" ?>
<resource-agent name="fence_x" shortdesc="test agent"><parameters>
<parameter name="ip" unique="0" required="0"><content type="string"/></parameter>
<parameter name="port" unique="0" required="0"><content type="string"/></parameter>
</parameters><actions><action name="monitor"/><action name="metadata"/></actions></resource-agent>"""
EMPTY_CIB = ('<cib validate-with="pacemaker-3.7" admin_epoch="0" epoch="1" num_updates="0"><configuration>'
             '<crm_config/><nodes><node id="1" uname="node1"/><node id="2" uname="node2"/>'
             '<node id="3" uname="node3"/></nodes><resources/><constraints/></configuration><status/></cib>')
FENCERS = tuple(str(p) for p in fencecheck.FENCER)
PACEMAKER_TOOLS = ("cibadmin", "crm_verify", "crm_simulate")

# -- what starts processes ------------------------------------------------------------

SPAWNED: list[str] | None = None


def _audit(event, args):
    if SPAWNED is not None and event == "subprocess.Popen":
        SPAWNED.append(str(args[1][0] if isinstance(args[1], (list, tuple)) else args[1]))
    elif SPAWNED is not None and event in ("os.system", "os.exec", "os.posix_spawn"):
        SPAWNED.append(f"{event} {args!r}")


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """``agents/`` (the fence agent directory for the tests) and ``evil/``: what must never run."""
    top = tmp_path_factory.mktemp("hostile")
    (top / "agents").mkdir()
    (top / "evil").mkdir()
    legit = top / "agents" / "fence_x"
    legit.write_text(f"#!/bin/sh\ntouch {top}/ran-fence_x\ncat <<'EOF'\n{METADATA}\nEOF\n")
    for evil in (top / "evil" / "fence_evil", top / "evil" / "fence_evil2", top / "evil" / "nologin",
                 top / "agents" / "nologin", top / "agents" / "x.sh"):
        evil.write_text(f"#!/bin/sh\ntouch {top}/EVIL-{evil.name}\n")
    for script in list((top / "agents").iterdir()) + list((top / "evil").iterdir()):
        script.chmod(0o755)
    (top / "cib.xml").write_text(EMPTY_CIB)
    saved = fencecheck.AGENT_DIR, fencecheck.METADATA_CACHE
    fencecheck.AGENT_DIR, fencecheck.METADATA_CACHE = top / "agents", top / "cache"
    yield top
    fencecheck.AGENT_DIR, fencecheck.METADATA_CACHE = saved


def run_watched(sandbox: Path, args: list[str], env: dict | None = None):
    """The CLI in this process; (result, programs started, files that appeared)."""
    global SPAWNED
    before = set(sandbox.rglob("*"))
    SPAWNED = []
    try:
        result = CliRunner().invoke(main, args, env=env)
        spawned = SPAWNED
    finally:
        SPAWNED = None
    appeared = {p.relative_to(sandbox).as_posix() for p in set(sandbox.rglob("*")) - before}
    return result, spawned, appeared


def assert_nothing_hostile_ran(sandbox: Path, result, spawned, appeared, allowed=()):
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        "".join(traceback.format_exception(result.exception))
    assert not list(sandbox.glob("EVIL-*")), "a program the description named was run"
    for program in spawned:
        assert (program in FENCERS or program in allowed or
                (Path(program).parent == sandbox / "agents" and Path(program).name.startswith("fence_"))), \
            f"started {program!r}"
    stray = {a for a in appeared if not a.startswith("cache") and a not in ("ran-fence_x", "out.xml")}
    assert not stray, f"files appeared: {stray}"


def online(cib_xml: bytes) -> bytes:
    """The CIB as a cluster with every node online and quorum has it."""
    cib = etree.fromstring(cib_xml)
    cib.set("have-quorum", "1")
    status = cib.find("status")
    for n in cib.iterfind("configuration/nodes/node"):
        etree.SubElement(status, "node_state", id=n.get("id"), uname=n.get("uname"), in_ccm="true",
                         crmd="online", join="member", expected="member")
    return etree.tostring(cib)


# -- hostile descriptions ---------------------------------------------------------------

HOSTILE_VALUES = [
    "!foo x", "!!int notanumber", "!!timestamp not-a-date", "!!binary aGVsbG8=", "!!float x",
    "!!null x", "!!set {a, b}", "!!omap [a: 1]", "!!python/object:os.system x", "[1, 2]", "{a: 1}",
    "~", "yes", "0x1F", "0o17", "1_000", "1:30", ".inf", ".nan", "-5", "1e3", "'٦٠s'", "١٢", "١٢s",
    "9" * 24, "9" * 5000, "'/srv/../../etc'", "'/dev/../etc/passwd'", "'//srv/./mail/'", "/",
    "'$(touch {TMP}/EVIL-shell)'", "'`touch {TMP}/EVIL-shell`'", "'a;b'", "'x;node2:evil'", "'<x>'",
    "'a b'", '"a\\x01b"', '"a\\nb"', '"\\ud800"', '"\\uFFFE"', "'" + "a" * 10000 + "'", "&a [*a]",
    "INFINITY", "-INFINITY", "soon", "0", "2000000", "4294967296", "true", "''", "'fence_x'",
    "'{TMP}/evil/fence_evil2'", "'../../../../../..{TMP}/evil/fence_evil'",
]
HOSTILE_KEYS = ["'bad name'", "'<x>'", "!!int x", "cluster-name", "dc-version", "'a:b'", "x" * 200,
                "'٦'", "!foo k", "'\"'", "pcmk_host_list", "password"]
NAMES = ["x", "g", "mount", "cluster-options", "rsc-defaults", "mount-instance_attributes",
         "fence-node1", "col-mount-with-drbd-promoted", "fl-node1-1", "x-monitor-10s", "vip-mail"]
AGENTS = ["ocf:pacemaker:Dummy", "ocf:pacemail:install", "ocf:pacemail:os.path", "ocf:pacemail:dummy",
          "stonith:fence_x", "stonith:../x", "ocf:heartbeat:../../x", "systemd:nginx", "lsb:/bin/sh"]
FENCE_AGENTS = ["fence_x", "stonith:fence_x", "fence_nothere", "nologin", "x.sh",
                "../../{TMP}/evil/fence_evil", "{TMP}/evil/fence_evil2", "fence_x/../../evil/fence_evil",
                "'fence_x; touch {TMP}/EVIL-shell'"]

_VALUE_AT = re.compile(r"(?<=: )[^\s,{}\[\]#][^,{}\[\]#\n]*")
_KEY_AT = re.compile(r"(?m)(?<=[{\s,-] )[A-Za-z_][A-Za-z0-9_-]*(?=: )|^[A-Za-z_][A-Za-z0-9_-]*(?=:)")
value_spans = [m.span() for m in _VALUE_AT.finditer(TEMPLATE)]
key_spans = [m.span() for m in _KEY_AT.finditer(TEMPLATE)]

# Values that fit somewhere: a description with them may be accepted, and must then pass crm_verify.
PLAUSIBLE = ["true", "false", "yes", "off", "0", "1", "-1", "10", "+5", "007", "60s", "1500ms", "5min",
             "PT5M", "80%", "80", "stop", "panic", "reboot", "default", "INFINITY", "-INFINITY",
             "1000000", "Started", "node2", "/srv/mail2", "'//srv/./mail/'"]
hostile_value = st.one_of(st.sampled_from(HOSTILE_VALUES), st.sampled_from(PLAUSIBLE),
                          st.text(max_size=12).map(json.dumps), st.integers().map(str))


# What each part of a description is drawn from: hostile, or plausible (values that fit somewhere,
# so that enough descriptions are accepted to be held against crm_verify).
HOSTILE = dict(values=hostile_value, keys=HOSTILE_KEYS, options=sorted(clusteroptions.TABLE) + HOSTILE_KEYS,
               fence_agents=FENCE_AGENTS, names=NAMES, agents=AGENTS)
FITTING = dict(values=st.sampled_from(PLAUSIBLE), keys=[], options=sorted(clusteroptions.TABLE),
               fence_agents=["fence_x", "stonith:fence_x", "fence_nothere"], names=["x", "y", "web"],
               agents=["ocf:pacemaker:Dummy", "ocf:pacemail:dummy", "systemd:nginx"])


@st.composite
def extra_section(draw, pool):
    names = draw(st.lists(st.sampled_from(pool["names"]), min_size=1, max_size=3))
    lines = ["extra:", "  primitives:"]
    for name in names:
        ops = draw(st.sampled_from(["", ", ops: [{name: monitor, interval: 10s}, {name: monitor, interval: '10'}]",
                                    ", ops: [{name: monitor, interval: 10s, timeout: " + draw(pool["values"]) + "}]"]))
        lines.append(f"    - {{name: {name}, agent: '{draw(st.sampled_from(pool['agents']))}'{ops}}}")
    if draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2))
        lines += ["  groups:", f"    - {{name: {draw(st.sampled_from(pool['names']))}, "
                               f"resources: [{', '.join(members)}]}}"]
    if draw(st.booleans()):
        lines += ["  constraints:", f"    - {{type: location, resource: {names[0]}, node: node2, "
                                     f"score: {draw(pool['values'])}}}"]
    return "\n".join(lines) + "\n"


@st.composite
def described(draw, pool):
    """The template with up to seven changes drawn from ``pool``."""
    text = TEMPLATE
    edits = [(draw(st.sampled_from(value_spans)), draw(pool["values"]))
             for _ in range(draw(st.integers(0, 2)))]
    if pool["keys"]:
        edits += [(draw(st.sampled_from(key_spans)), draw(st.sampled_from(pool["keys"])))
                  for _ in range(draw(st.integers(0, 1)))]
    for (start, end), new in sorted(set(edits), reverse=True):
        if all(not (s < end and start < e) for (s, e), _ in edits if (s, e) != (start, end)):
            text = text[:start] + new + text[end:]
    if draw(st.booleans()):
        option = draw(st.sampled_from(pool["options"]))
        text = text.replace("    no-quorum-policy: stop\n",
                            f"    no-quorum-policy: stop\n    {option}: {draw(pool['values'])}\n", 1)
    if draw(st.booleans()):
        text = text.replace("agent: fence_pacemail_lab", f"agent: {draw(st.sampled_from(pool['fence_agents']))}")
    if draw(st.booleans()):
        text = text.replace("hosts: [node1]", f"hosts: {{node1: {draw(pool['values'])}}}")
    if draw(st.booleans()):
        text += draw(extra_section(pool))
    return text


descriptions = st.one_of(described(HOSTILE), described(FITTING))


def _write(sandbox: Path, text: str) -> Path:
    path = sandbox / "d.yaml"
    path.write_text(text.replace("{TMP}", str(sandbox)), encoding="utf-8")
    return path


def run_described(sandbox: Path, text: str, command: str, *args: str, env: dict | None = None):
    """``pacemail COMMAND DESCRIPTION ARGS`` on ``text``, watched (:func:`run_watched`)."""
    path = _write(sandbox, text)
    try:
        result, spawned, appeared = run_watched(sandbox, [command, str(path), *args], env)
    finally:
        path.unlink()
    event(f"{command} exit {result.exit_code}")
    return result, spawned, appeared - {"d.yaml"}


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=descriptions)
def test_render_survives_hostile_descriptions(sandbox, text):
    out = sandbox / "out.xml"
    out.unlink(missing_ok=True)
    result, spawned, appeared = run_described(sandbox, text, "render", "-o", str(out))
    assert result.exit_code in (0, 1), result.output
    assert_nothing_hostile_ran(sandbox, result, spawned, appeared)
    if result.exit_code == 0:
        verification = verify(online(out.read_bytes()))
        assert verification.ok, (verification.errors, text)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=descriptions)
def test_plan_survives_hostile_descriptions(sandbox, text):
    cib = sandbox / "cib.xml"
    result, spawned, appeared = run_described(sandbox, text, "plan", env={"CIB_file": str(cib)})
    assert result.exit_code in (0, 1, 2), result.output
    assert_nothing_hostile_ran(sandbox, result, spawned, appeared, PACEMAKER_TOOLS)
    assert cib.read_text() == EMPTY_CIB                 # plan changes nothing


# -- each class, once ---------------------------------------------------------------------

EXTRA = "extra:\n  primitives:\n"
CASES = [
    # (old text of the template, new text, key path of the error, words of its message)
    ("agent: fence_pacemail_lab\n      hosts: [node1]", "agent: ../../{TMP}/evil/fence_evil\n      hosts: [node1]",
     "fencing.devices[0].agent", "no path"),
    ("agent: fence_pacemail_lab\n      hosts: [node1]", "agent: {TMP}/evil/fence_evil2\n      hosts: [node1]",
     "fencing.devices[0].agent", "no path"),
    ("agent: fence_pacemail_lab\n      hosts: [node1]", "agent: nologin\n      hosts: [node1]",
     "fencing.devices[0].agent", "fence_*"),
    ("fstype: ext4", "fstype: !foo ext4", "storage.fstype", "YAML tag '!foo'"),
    ("admin_port: 6032", "admin_port: !!int notanumber", "services.proxysql.admin_port", "not a YAML int"),
    ("fstype: ext4", "fstype: !!timestamp not-a-date", "storage.fstype", "not a YAML timestamp"),
    ("  name: mail\n", "  name: mail\n  !!int x: 1\n", "cluster.x", "not a YAML int"),
    ("mount_options: noatime", 'mount_options: "noa\\x01time"', "storage.mount_options", "control characters"),
    ("admin_port: 6032", "admin_port: " + "9" * 5000, "services.proxysql.admin_port", "(5000 characters)"),
    ("hosts: [node1]", "hosts: {node1: 'x;node2:evil'}", "fencing.devices[0].hosts.node1", "port, plug"),
    ("  operation_defaults:\n    timeout: 60s", "  operation_defaults:\n    timeout: ٦٠s",
     "cluster.operation_defaults.timeout", "duration"),
    ("placement:", "operations:\n  mount:\n    stop: {timeout: 123456789012345678901234s}\nplacement:",
     "operations.mount.stop.timeout", "duration"),
    ("{name: node1, address: 198.18.0.11}", "{name: node1, address: 198.18.0.11, id: 123456789012345678901234}",
     "nodes[0].id", "from 1 to 4294967295"),
    ("mount_point: /srv/mail", "mount_point: /srv/../../etc", "storage.mount_point", "without '..'"),
    ("device: /dev/drbd0", "device: /dev/./drbd0/../../etc/passwd", "storage.device", "without '..'"),
    ("no-quorum-policy: stop", "no-quorum-policy: stop\n    'bad name': 1", "cluster.options.bad name", "unknown key"),
    ("migration-threshold: 3", "migration-threshold: 3\n    '<x>': 1", "cluster.resource_defaults.<x>", "a name of"),
    ("no-quorum-policy: stop", "no-quorum-policy: stop\n    priority-fencing-delay: soon",
     "cluster.options.priority-fencing-delay", "duration"),
    ("no-quorum-policy: stop", "no-quorum-policy: stop\n    stonith-timeout: -5", "cluster.options.stonith-timeout",
     "duration"),
    ("no-quorum-policy: stop", "no-quorum-policy: stop\n    cluster-name: other", "cluster.options.cluster-name",
     "cluster.name"),
    ("migration-threshold: 3", "migration-threshold: lots", "cluster.resource_defaults.migration-threshold", "score"),
    ("mount_options: noatime", "mount_options: 'no atime'", "storage.mount_options",
     "(ocf:pacemail:mount parameter options of mount)"),
    ("interface: eth0}\n\nservices", "interface: eth0-far-too-long}\n\nservices", "vips.mail.interface",
     "at most 15"),
    ("name: fence-node2", "name: fence-node1", "fencing.devices[1].name", "already taken by fencing.devices[0].name (line "),
    ("mount_options: noatime", "mount_options: " + "a" * 10000, "storage.mount_options", "(10000 characters)"),
    (None, EXTRA + "    - {name: x, agent: 'ocf:pacemaker:Dummy'}\n    - {name: x, agent: 'ocf:pacemaker:Stateful'}\n",
     "extra.primitives[1].name", "already taken by extra.primitives[0].name"),
    (None, EXTRA + "    - {name: g, agent: 'ocf:pacemaker:Dummy'}\n  groups:\n    - {name: g, resources: [g]}\n",
     "extra.groups[0].name", "already taken by extra.primitives[0].name"),
    (None, EXTRA + "    - {name: mount, agent: 'ocf:pacemaker:Dummy'}\n", "extra.primitives[0].name",
     "taken by the mail stack"),
    (None, EXTRA + "    - {name: cluster-options, agent: 'ocf:pacemaker:Dummy'}\n", "extra.primitives[0].name",
     "id 'pm-cluster-options'"),
    (None, EXTRA + "    - {name: x, agent: 'ocf:heartbeat:../../x'}\n", "extra.primitives[0].agent", "never a path"),
    (None, EXTRA + "    - {name: x, agent: 'ocf:pacemaker:Dummy', params: {'a b': 1}}\n",
     "extra.primitives[0].params.a b", "a name of"),
    (None, EXTRA + "    - {name: x, agent: 'ocf:pacemaker:Dummy', ops: [{name: monitor, interval: 10s}, "
                   "{name: monitor, interval: '10'}]}\n", "extra.primitives[0].ops[1]", "distinct"),
]


@pytest.mark.parametrize("old, new, key, words", CASES, ids=[c[2] + ":" + c[3][:20] for c in CASES])
def test_each_hostile_value_is_one_error_at_its_key(sandbox, old, new, key, words):
    text = TEMPLATE + new if old is None else TEMPLATE.replace(old, new, 1)
    assert old is None or old in TEMPLATE
    path = _write(sandbox, text)
    result, spawned, appeared = run_watched(sandbox, ["render", str(path)])
    assert result.exit_code == 1
    assert_nothing_hostile_ran(sandbox, result, spawned, appeared - {"d.yaml"})
    found = [(p.location.key, p.message, p.location.line) for p in errors(load(path).problems)]
    assert len(found) == 1 and found[0][0] == key and words in found[0][1], found
    assert found[0][2] is not None and len(found[0][1]) < 400


def test_numbers_are_kept_as_written_where_a_name_is_expected(sandbox):
    path = _write(sandbox, TEMPLATE.replace("drbd_resource: mail", "drbd_resource: 0x1F"))
    d = load(path).description
    assert d is not None and d.storage.drbd_resource == "0x1F"


def test_agent_modules_are_looked_up_by_name_only(sandbox):
    """``ocf:pacemail:install`` (a module, not an agent) is never imported."""
    sys.modules.pop("pacemail.agents.install", None)
    path = _write(sandbox, TEMPLATE + EXTRA + "    - {name: x, agent: 'ocf:pacemail:install'}\n"
                                              "    - {name: y, agent: 'ocf:pacemail:os.path'}\n")
    problems = load(path).problems
    assert "pacemail.agents.install" not in sys.modules
    assert sum("not available in this pacemail" in p.message for p in problems) == 2


def test_an_installed_fence_agent_named_by_name_is_asked(sandbox):
    """The one program a description may have run, and the proof that the watch sees it."""
    path = _write(sandbox, TEMPLATE.replace("agent: fence_pacemail_lab", "agent: fence_x"))
    (sandbox / "ran-fence_x").unlink(missing_ok=True)
    shutil.rmtree(sandbox / "cache", ignore_errors=True)
    result, spawned, _ = run_watched(sandbox, ["render", str(path)])
    assert result.exit_code == 0 and not result.stderr
    assert str(sandbox / "agents" / "fence_x") in spawned and (sandbox / "ran-fence_x").exists()


@pytest.mark.skipif(not any(Path(d, "pacemaker-schedulerd").is_file() for d in clusteroptions.LIBEXEC),
                    reason="Pacemaker daemons not installed")
def test_the_cluster_option_table_is_the_installed_pacemakers():
    assert clusteroptions.read_installed()[1] == clusteroptions.TABLE
