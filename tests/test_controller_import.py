"""``pacemail import`` on CIBs built by hand with real pcs and crm commands on a file (no cluster).

Each CIB starts as ``cibadmin --empty`` with its nodes, then gets what an
admin types (``pcs -f FILE resource create ...``, or a ``crm configure``
session with ``CIB_file``). What a user checks: the
description import writes says what the CIB says (the stack with pacemail's
agents, everything else as it was), every conversion and every element it
cannot hold is listed with its id, the description renders to a CIB that
crm_verify accepts, and after moving over (the listed elements replaced by
pacemail's) ``plan`` has nothing left to change.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from pacemail.cli import main
from pacemail.controller import agentcheck, merge, stack
from pacemail.controller.apply import gate
from pacemail.controller.build import build_cib, render
from pacemail.controller.description import load, parse
from pacemail.controller.importer import import_cib
from pacemail.controller.plan import make_plan
from pacemail.controller.problems import Severity, errors
from pacemail.pacemaker import simulate
from pacemail.pacemaker.verify import verify
from test_controller_parse import descriptions, dump

TEMPLATES = Path(__file__).resolve().parent.parent / "cib-templates"
NODES = ("node1", "node2", "node3")
# Source ids of the hand-built stacks -> the ids pacemail gives them.
STACK_IDS = {"fs-mail": "pm-mount", "vip-mail": "pm-vip-mail", "drbd-mail-clone": "pm-drbd-clone"}

needs_pcs = pytest.mark.skipif(shutil.which("pcs") is None or shutil.which("cibadmin") is None,
                               reason="needs pcs and cibadmin (run ./bootstrap.sh)")


def pcs(cib: Path, *args: str) -> None:
    done = subprocess.run(["pcs", "-f", str(cib), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (args, done.stderr)


def cib_tool(cib: Path, *argv: str) -> None:
    """A Pacemaker command line tool on the CIB file ``cib`` (CIB_file)."""
    subprocess.run(argv, env=dict(os.environ, CIB_file=str(cib)), check=True, timeout=30)


def empty_cib(path: Path, nodes=NODES) -> Path:
    """What ``cibadmin --empty`` gives, with the nodes a running cluster lists."""
    path.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True,
                                   check=True, timeout=30).stdout)
    for i, name in enumerate(nodes, start=1):
        cib_tool(path, "cibadmin", "--create", "-o", "nodes", "-X", f'<node id="{i}" uname="{name}"/>')
    return path


def crm(cib: Path, script: str, force: bool = False) -> None:
    """``crm configure`` reading ``script`` (one commit) on the CIB file."""
    done = subprocess.run(["crm", *(["-F"] if force else []), "configure"], input=script,
                          env=dict(os.environ, CIB_file=str(cib)), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and (force or "ERROR" not in done.stderr), done.stderr


def group_stack(path: Path) -> Path:
    """The mail stack as the resource-agents how-tos build it: DRBD, then one group."""
    empty_cib(path)
    pcs(path, "resource", "create", "drbd-mail", "ocf:linbit:drbd", "drbd_resource=mail",
        "op", "monitor", "interval=29s", "role=Promoted", "op", "monitor", "interval=31s", "role=Unpromoted",
        "promotable", "promoted-max=1", "promoted-node-max=1", "clone-max=3", "clone-node-max=1",
        "notify=true")
    pcs(path, "resource", "create", "fs-mail", "ocf:heartbeat:Filesystem", "device=/dev/drbd0",
        "directory=/srv/mail", "fstype=ext4", "options=noatime", "op", "start", "timeout=120s",
        "--group", "mail")
    pcs(path, "resource", "create", "vip-mail", "ocf:heartbeat:IPaddr2", "ip=198.18.0.100",
        "cidr_netmask=24", "nic=eth0", "--group", "mail")
    pcs(path, "resource", "create", "postfix", "ocf:heartbeat:postfix", "config_dir=/etc/postfix",
        "--group", "mail")
    pcs(path, "resource", "create", "dovecot", "ocf:heartbeat:dovecot",
        "config_file=/etc/dovecot/dovecot.conf", "--group", "mail")
    pcs(path, "constraint", "colocation", "add", "mail", "with", "Promoted", "drbd-mail-clone", "INFINITY")
    pcs(path, "constraint", "order", "promote", "drbd-mail-clone", "then", "start", "mail")
    pcs(path, "constraint", "location", "mail", "prefers", "node1=50")
    pcs(path, "stonith", "create", "fence-node1", "fence_ipmilan", "ip=10.0.0.1", "username=admin",
        "password=s3cret", "lanplus=1", "pcmk_host_list=node1")
    pcs(path, "stonith", "create", "fence-pdu", "fence_apc_snmp", "ip=10.0.0.9",
        "pcmk_host_map=node2:2;node3:3")
    pcs(path, "constraint", "location", "fence-node1", "avoids", "node1")
    pcs(path, "stonith", "level", "add", "1", "node1", "fence-node1")
    pcs(path, "property", "set", "no-quorum-policy=stop", "stonith-timeout=90s")
    pcs(path, "resource", "defaults", "update", "resource-stickiness=200")
    pcs(path, "resource", "op", "defaults", "update", "timeout=60s")
    return path


@pytest.fixture(scope="module")
def group_cib(tmp_path_factory) -> Path:
    if shutil.which("pcs") is None:
        pytest.skip("needs pcs (run ./bootstrap.sh)")
    return group_stack(tmp_path_factory.mktemp("group") / "cib.xml")


# One colocation and one order per edge, systemd's dovecot, no fencing, as crmsh writes them.
EDGES = """\
property stonith-enabled=false
primitive drbd ocf:linbit:drbd params drbd_resource=mail
clone drbd-clone drbd meta promotable=true promoted-max=1 clone-max=2 notify=true
primitive fs Filesystem params device=/dev/drbd/by-res/mail/0 directory=/srv/mail/ fstype=xfs
primitive smtp-ip IPaddr2 params ip=198.18.0.100 cidr_netmask=24
primitive imap-ip IPaddr2 params ip=198.18.0.101 cidr_netmask=24 iflabel=imap
primitive smtp ocf:heartbeat:postfix op monitor interval=30s timeout=90s
primitive imap systemd:dovecot
colocation fs-on-drbd inf: fs drbd-clone:Promoted
order drbd-before-fs Mandatory: drbd-clone:promote fs:start
colocation smtp-ip-on-fs inf: smtp-ip fs
order fs-before-smtp-ip Mandatory: fs smtp-ip
colocation imap-ip-on-fs inf: imap-ip fs
order fs-before-imap-ip Mandatory: fs imap-ip
colocation smtp-on-ip inf: smtp smtp-ip
order ip-before-smtp Mandatory: smtp-ip smtp
colocation imap-on-ip inf: imap imap-ip
order ip-before-imap Mandatory: imap-ip imap
order smtp-before-imap Mandatory: smtp imap
location fs-prefers-node1 fs inf: node1
commit
"""


@pytest.fixture(scope="module")
def edges_cib(tmp_path_factory) -> Path:
    """Two nodes, the stack as separate constraints (crmsh)."""
    if shutil.which("crm") is None:
        pytest.skip("needs crmsh (run ./bootstrap.sh)")
    path = empty_cib(tmp_path_factory.mktemp("edges") / "cib.xml", NODES[:2])
    crm(path, EDGES, force=True)   # -F: crmsh looks for dovecot's systemd unit, absent here
    return path


# What crmsh writes for an admin who adds to the group stack: what extra: holds, and what not.
EXTRAS = """\
primitive web ocf:heartbeat:apache params configfile=/etc/apache2/apache2.conf \
  op monitor interval=30s timeout=20s on-fail=restart \
  meta target-role=Started migration-threshold=3 utilization cpu=2
primitive webip IPaddr2 params ip=198.18.0.150 cidr_netmask=24
group webgroup webip web
primitive ping ocf:pacemaker:ping params host_list=198.18.0.1 op monitor interval=10s timeout=60s
clone ping-clone ping
primitive state ocf:pacemaker:Stateful op monitor interval=10s role=Promoted \
  op monitor interval=11s role=Unpromoted
clone state-clone state meta promotable=true
rsc_template tmpl ocf:pacemaker:Dummy params fake=1
primitive fromtmpl @tmpl
location webgroup-node2 webgroup 50: node2
location ping-avoids ping-clone -inf: node3
colocation web-away-from-mail -100: webgroup vip-mail
colocation web-with-state 50: web:Started state-clone:Promoted
order ping-first Optional: ping-clone webgroup
location web-on-ping webgroup rule -inf: not_defined pingd or pingd lt 1
location web-office webgroup rule 100: date spec hours=9-17 weekdays=1-5
location web-lease webgroup rule 100: date lt 2030-01-01
location cli-ban-web-on-node3 web role=Started -inf: node3
colocation web-set inf: webip web ping-clone
order web-after-both inf: ( ping-clone state-clone ) webgroup
rsc_ticket web-ticket ticketA: webgroup loss-policy=stop
tag webtag web webip
role reader read xpath:"/cib"
alert myalert /usr/local/bin/alert.sh
rsc_defaults dummy-defaults: rule 100: #uname eq node1 target-role=Started
commit
"""


@pytest.fixture(scope="module")
def extras_cib(group_cib, tmp_path_factory) -> Path:
    """The group stack and much besides, added with crmsh."""
    if shutil.which("crm") is None:
        pytest.skip("needs crmsh (run ./bootstrap.sh)")
    path = tmp_path_factory.mktemp("extras") / "cib.xml"
    shutil.copy(group_cib, path)
    crm(path, EXTRAS)
    return path


def imported(path: Path):
    return import_cib(path.read_bytes(), path.name)


def warnings_of(result) -> dict[str, list[str]]:
    """CIB element id -> the warnings import gives it."""
    out: dict[str, list[str]] = {}
    for p in result.problems:
        if p.severity is Severity.WARNING and p.location.file != "imported description":
            out.setdefault(p.location.key, []).append(p.message)
    return out


def moved_over(source: bytes, result) -> etree._Element:
    """The CIB after moving over: what import lists as replaced deleted, pacemail's part merged in
    (as ``pacemail apply`` merges it)."""
    cib = etree.fromstring(source)
    for rid in result.replaced:
        found = element(cib, rid)
        found.getparent().remove(found)
    return merge.merge(cib, build_cib(result.description)).cib


def element(cib: etree._Element, eid: str) -> etree._Element:
    """The element ``eid`` names (not a reference to it: a resource set's, a tag's)."""
    (found,) = cib.xpath("//*[@id=$i][not(self::resource_ref or self::obj_ref)]", i=eid)
    return found


REFERENCES = ("rsc", "with-rsc", "first", "then")
DEFAULTS = {"rsc_order": {"first-action": "start", "then-action": "start", "kind": "Mandatory"}}


def semantic(e: etree._Element, rename, lost=()) -> tuple:
    """An element as Pacemaker reads it: no ids or description text, references renamed,
    name-value pairs and operations as sets (their order means nothing), defaults spelt out,
    members in order; without the parts in ``lost`` (what import says it loses)."""
    attrs = {**DEFAULTS.get(e.tag, {}), **{k: rename(v) if k in REFERENCES else v
                                           for k, v in e.attrib.items()
                                           if k not in ("id", "description", *lost)}}
    children, members = [], []
    for c in e:
        if not isinstance(c.tag, str) or c.tag in lost:
            continue
        if c.tag in ("instance_attributes", "meta_attributes"):
            children.append((c.tag, frozenset((nv.get("name"), nv.get("value")) for nv in c)))
        elif c.tag == "operations":
            children.append((c.tag, frozenset(semantic(op, rename, lost) for op in c)))
        else:
            members.append(semantic(c, rename, lost))
    return e.tag, frozenset(attrs.items()), tuple(sorted(children, key=repr)), tuple(members)


# -- (a) the mail stack in a group, heartbeat agents -------------------------------------

def test_a_group_stack_becomes_pacemails_stack_with_each_conversion_listed(group_cib):
    result = imported(group_cib)
    d = result.description
    assert d is not None, [str(p) for p in result.problems]
    s = d.storage
    assert (s.drbd_resource, s.device, s.mount_point, s.fstype, s.mount_options) == \
        ("mail", "/dev/drbd0", "/srv/mail", "ext4", "noatime")
    (vip,) = d.vips
    assert (vip.name, vip.address, vip.prefix, vip.interface) == ("mail", "198.18.0.100", 24, "eth0")
    assert [(p.name, p.config_dir) for p in d.postfix] == [("main", "/etc/postfix")]
    assert d.dovecot.config_file == "/etc/dovecot/dovecot.conf"
    assert [(f.name, f.agent, f.hosts, f.host_map) for f in d.fence_devices] == [
        ("fence-node1", "fence_ipmilan", ("node1",), ()),
        ("fence-pdu", "fence_apc_snmp", (), (("node2", "2"), ("node3", "3")))]
    assert [(lv.target, lv.index, lv.devices) for lv in d.fencing_levels] == [("node1", 1, ("fence-node1",))]
    assert dict(d.options)["stonith-timeout"] == "90s"
    # location 50 against stickiness 200: the stack stays where it is, as with pacemail's 100
    assert (d.placement.preferred_node, d.placement.failback) == ("node1", False)
    assert dict(d.resource_defaults)["resource-stickiness"] == "200"
    assert ("mount", "start", "120s") in {(part, op.name, op.timeout) for part, op in d.operations}
    notes = "\n".join(result.notes)
    for line in ("ocf:linbit:drbd drbd-mail in drbd-mail-clone -> storage",
                 "ocf:heartbeat:Filesystem fs-mail -> storage", "ocf:heartbeat:IPaddr2 vip-mail -> vips.mail",
                 "ocf:heartbeat:postfix postfix -> services.postfix", "ocf:heartbeat:dovecot dovecot -> services.dovecot",
                 "group mail (fs-mail, vip-mail, postfix, dovecot) -> pacemail's tree",
                 "location-mail-node1-50 -> placement.preferred_node node1"):
        assert line in notes
    assert not d.extra_resources and not d.extra_constraints
    # the only thing lost is the inline password, which the description never holds
    assert set(warnings_of(result)) == {"fence-node1"}
    assert all("/etc/pacemail/secrets/" in w and "s3cret" not in w
               for ws in warnings_of(result).values() for w in ws)
    assert "s3cret" not in result.text
    assert {"mail", "drbd-mail-clone", "fence-node1", "fl-node1-1", "location-mail-node1-50",
            "location-fence-node1-node1--INFINITY", "cib-bootstrap-options-stonith-timeout",
            "rsc_defaults-meta_attributes"} <= set(result.replaced)


def test_a_rendered_passes_crm_verify_and_after_moving_over_plan_is_empty(group_cib):
    source = group_cib.read_bytes()
    result = imported(group_cib)
    assert verify(render(result.description)).ok
    moved = moved_over(source, result)
    assert verify(etree.tostring(moved)).ok
    plan = make_plan(result.description, etree.tostring(moved), check=False)
    assert plan.changes == () and plan.problems == ()
    # nothing of the hand-built stack is left beside pacemail's, and pacemail's says the same
    ids = {e.get("id") for e in moved.iter() if e.get("id")}
    assert not {"mail", "fs-mail", "vip-mail", "postfix", "dovecot", "drbd-mail-clone"} & ids
    ip = element(moved, "pm-vip-mail").find("instance_attributes")
    assert {nv.get("name"): nv.get("value") for nv in ip} == {"ip": "198.18.0.100", "cidr_netmask": "24",
                                                                "nic": "eth0"}


# -- the lab's move-over (tests/test_lab_import.py), without a lab ------------------------------

# What the admin of tests/test_lab_import.py types on node1 (pcs -f on a copy of the CIB).
LAB_BY_HAND = (
    ("resource", "create", "drbd-mail", "ocf:pacemail:drbd", "drbd_resource=mail", "op", "monitor",
     "interval=29s", "role=Promoted", "op", "monitor", "interval=31s", "role=Unpromoted",
     "promotable", "promoted-max=1", "promoted-node-max=1", "notify=true"),
    ("resource", "create", "fs-mail", "ocf:pacemail:mount", "device=/dev/drbd0",
     "directory=/srv/mail", "fstype=ext4", "drbd_resource=mail", "--group", "mail"),
    ("resource", "create", "vip-mail", "ocf:heartbeat:IPaddr2", "ip=198.18.0.100",
     "cidr_netmask=24", "nic=eth0", "--group", "mail"),
    ("resource", "create", "postfix", "ocf:heartbeat:postfix", "config_dir=/etc/postfix",
     "--group", "mail"),
    ("resource", "create", "dovecot", "ocf:heartbeat:dovecot",
     "config_file=/etc/dovecot/dovecot.conf", "--group", "mail"),
    ("constraint", "colocation", "add", "mail", "with", "Promoted", "drbd-mail-clone", "INFINITY"),
    ("constraint", "order", "promote", "drbd-mail-clone", "then", "start", "mail"),
    ("resource", "defaults", "update", "resource-stickiness=200"),
)
# The fence device `pacemail lab up` creates for every node (lab/lifecycle.py).
LAB_FENCE = ('<primitive id="lab-fence" class="stonith" type="fence_pacemail_lab">'
             '<instance_attributes id="lab-fence-instance_attributes">'
             '<nvpair id="lab-fence-instance_attributes-lab" name="lab" value="pmtest"/>'
             '<nvpair id="lab-fence-instance_attributes-pcmk_host_list" name="pcmk_host_list" '
             'value="node1 node2 node3"/></instance_attributes><operations>'
             '<op id="lab-fence-monitor-60s" name="monitor" interval="60s"/></operations></primitive>')


@pytest.fixture(scope="module")
def lab_ran(tmp_path_factory) -> bytes:
    """The lab's CIB with the hand-built stack, after the cluster (crm_simulate) ran it: every
    node up, DRBD promoted where its agent's promotion score says, and the file system's first
    start failed (the status keeps it, with the agent's exit reason); the stack ran after all."""
    if shutil.which("pcs") is None or shutil.which("crm_simulate") is None:
        pytest.skip("needs pcs and crm_simulate (run ./bootstrap.sh)")
    path = empty_cib(tmp_path_factory.mktemp("lab") / "cib.xml")
    cib_tool(path, "cibadmin", "--create", "-o", "resources", "-X", LAB_FENCE)
    pcs(path, "property", "set", "stonith-enabled=true")
    for args in LAB_BY_HAND:
        pcs(path, *args)
    path.write_bytes(simulate.simulate(path.read_bytes(), nodes_up=NODES, quorum=True).cib_after)
    for node in NODES:   # what the DRBD agent's monitor sets on an UpToDate replica
        cib_tool(path, "crm_attribute", "--node", node, "--name", "master-drbd-mail",
                 "--update", "10000", "--lifetime", "reboot")
    ran = simulate.simulate(path.read_bytes(), ops_fail=("fs-mail_start_0@node1=1",))
    for _ in range(5):
        if not ran.actions:
            break
        ran = simulate.simulate(ran.cib_after)
    assert not ran.actions and ran.placement["dovecot"] == (("node1", "Started"),)
    return ran.cib_after


def in_maintenance(cib: bytes, tmp_path: Path) -> bytes:
    """``cib`` with maintenance-mode on, the first step of moving over."""
    path = tmp_path / "live.xml"
    path.write_bytes(cib)
    cib_tool(path, "crm_attribute", "--type", "crm_config", "--name", "maintenance-mode",
             "--update", "true")
    return path.read_bytes()


def test_a_stack_whose_start_once_failed_is_applied_beside_the_hand_built_one(lab_ran, tmp_path):
    """The status remembers the failed start as Pacemaker's warning "Unexpected result (error:
    <the agent's reason>) was recorded for start of fs-mail": the cluster's history, not an error
    of the merged CIB, so apply pushes pacemail's copy (the lab's fence device among it)."""
    result = import_cib(lab_ran, "lab")
    assert result.description is not None, [str(p) for p in result.problems]
    assert {"lab-fence", "mail", "drbd-mail-clone"} <= set(result.replaced)
    plan = make_plan(result.description, in_maintenance(lab_ran, tmp_path))
    assert errors(list(plan.problems)) == [] and gate(plan, allow_restart=False) is None
    assert {"pm-lab-fence", "pm-drbd-clone", "pm-mount", "pm-dovecot"} <= {c.id for c in plan.changes}
    assert any("Unexpected result (error: " in p.message and "start of fs-mail on node1" in p.message
               for p in plan.problems if p.severity is Severity.WARNING)
    assert plan.impact == ()      # in maintenance mode nothing starts or stops


def test_a_refused_apply_says_what_crm_verify_found(lab_ran):
    """A second monitor of postfix with the same interval (cibadmin lets it in, Pacemaker calls it
    a configuration error): apply pushes nothing and its refusal quotes crm_verify."""
    d = import_cib(lab_ran, "lab").description
    live = etree.fromstring(lab_ran)
    monitor = live.find("configuration/resources//primitive[@id='postfix']/operations/op[@name='monitor']")
    twin = copy.deepcopy(monitor)
    twin.set("id", "postfix-monitor-again")
    monitor.addnext(twin)
    refused = gate(make_plan(d, etree.tostring(live)), allow_restart=False)
    assert refused is not None and refused.startswith("the merged CIB has errors; nothing was pushed")
    assert f"Operation postfix-monitor-again is duplicate of {monitor.get('id')}" in refused


# -- (b) one constraint per edge -----------------------------------------------------------

def test_b_a_stack_of_constraints_is_recognised_and_pacemails_tree_wins(edges_cib):
    result = imported(edges_cib)
    d = result.description
    assert d is not None, [str(p) for p in result.problems]
    assert (d.storage.device, d.storage.mount_point, d.storage.fstype) == \
        ("/dev/drbd/by-res/mail/0", "/srv/mail", "xfs")
    assert [(v.name, v.address) for v in d.vips] == [("smtp-ip", "198.18.0.100"), ("imap-ip", "198.18.0.101")]
    assert [(p.name, p.vips) for p in d.postfix] == [("smtp", ("smtp-ip",))]
    assert d.dovecot.vips == ("imap-ip",)
    assert ("postfix", "monitor", "30s", "90s") in {(part, op.name, op.interval, op.timeout)
                                                    for part, op in d.operations}
    # INFINITY against no stickiness (0): the stack goes back, as with pacemail's 100
    assert (d.placement.preferred_node, d.placement.failback) == ("node1", True)
    notes = "\n".join(result.notes)
    assert "systemd:dovecot imap -> services.dovecot" in notes
    assert "directory '/srv/mail/' is written '/srv/mail'" in notes
    # postfix before dovecot would close a loop with pacemail's Optional dovecot-then-postfix
    assert "smtp-before-imap -> ord-dovecot-then-postfix-smtp" in notes
    assert not any(c.first == "postfix-smtp" and c.then == "dovecot" for c in d.extra_constraints)
    assert any("iflabel" in w for w in warnings_of(result)["imap-ip"])
    assert any("fencing is disabled" in p.message for p in result.problems)
    assert verify(render(d)).ok
    moved = moved_over(edges_cib.read_bytes(), result)
    assert verify(etree.tostring(moved)).ok
    assert make_plan(d, etree.tostring(moved), check=False).changes == ()


# -- (c) everything else ----------------------------------------------------------------------

EXTRA_IDS = ("webgroup", "ping-clone", "state-clone", "webgroup-node2", "ping-avoids",
             "web-away-from-mail", "web-with-state", "ping-first")
LOST = ("utilization", "on-fail")   # web's, each warned (below)
STAYING = {  # id -> what the warning says
    "web-on-ping": "rule", "web-office": "rule", "web-lease": "rule", "web-set": "resource_set",
    "web-after-both": "resource_set", "web-ticket": "rsc_ticket", "tmpl": "template",
    "fromtmpl": "template", "cli-ban-web-on-node3": "a move, a ban", "dummy-defaults": "rule",
    "reader": "access control", "webtag": "tags", "myalert": "alerts",
}


def test_c_extras_keep_their_agents_and_say_what_pacemaker_said(extras_cib):
    source = etree.parse(str(extras_cib)).getroot()
    result = imported(extras_cib)
    assert result.description is not None, [str(p) for p in result.problems]
    rendered = build_cib(result.description)
    rename = lambda v: STACK_IDS.get(v, "pm-" + v)  # noqa: E731
    for eid in EXTRA_IDS:
        assert eid in result.replaced
        assert semantic(element(source, eid), rename, LOST) == \
            semantic(element(rendered, "pm-" + eid), str), eid


def test_c_what_a_description_cannot_hold_is_named_with_its_id_and_stays(extras_cib):
    result = imported(extras_cib)
    warned = warnings_of(result)
    for eid, says in STAYING.items():
        assert any("it stays in the CIB" in w and says in w for w in warned[eid]), (eid, warned.get(eid))
        assert eid not in result.replaced
        assert f"{eid}: warning: not in the description" in result.text   # the comment at the top
    # parts lost from what is taken over
    assert any("utilization" in w for w in warned["web"]) and any("on-fail" in w for w in warned["web"])
    # what stays but names what moves is told where to point
    assert any("webgroup (then pm-webgroup)" in w for w in warned["web-office"])
    # nothing else is dropped: every element is taken over, or named
    config = etree.parse(str(extras_cib)).getroot().find("configuration")
    for section in config:
        if section.tag in ("nodes", "crm_config"):
            continue
        for e in section:
            assert e.get("id") in result.replaced or e.get("id") in warned, e.get("id")


def test_c_the_rendered_cib_passes_crm_verify(extras_cib):
    result = imported(extras_cib)
    assert verify(render(result.description)).ok


@needs_pcs
def test_proxysql_on_its_own_vip_is_found_and_what_it_lacks_is_an_error(group_cib, tmp_path):
    """ProxySQL under systemd next to the mail stack: services.proxysql with its VIP, and the
    root-only password file ocf:pacemail:proxysql needs is asked for where it goes."""
    path = tmp_path / "cib.xml"
    shutil.copy(group_cib, path)
    crm(path, "primitive sqlip IPaddr2 params ip=198.18.0.101 cidr_netmask=24\n"
              "primitive sql systemd:proxysql\n"
              "colocation sqlip-on-fs inf: sqlip fs-mail\ncolocation sql-on-ip inf: sql sqlip\n"
              "order fs-then-sqlip Mandatory: fs-mail sqlip\norder sqlip-then-sql Mandatory: sqlip sql\n"
              "commit\n", force=True)   # -F: crmsh looks for proxysql's systemd unit, absent here
    out = tmp_path / "mail.yaml"
    result = CliRunner().invoke(main, ["import", "--cib", str(path), "-o", str(out)])
    assert result.exit_code == 1
    assert "services.proxysql: error:" in result.stderr and "admin_password_file" in result.stderr
    assert "systemd:proxysql sql -> services.proxysql" in result.stderr
    written = parse(out.read_text()).description      # it parses; only the agent's check fails
    assert written.proxysql.vip.address == "198.18.0.101" and [v.name for v in written.vips] == ["mail"]


# -- pacemail's own CIBs ---------------------------------------------------------------------

@pytest.mark.parametrize("template", ["mail-2node", "mail-3node", "mail-vagrant"])
def test_a_pacemail_cib_comes_back_as_its_description(template):
    xml = render(load(TEMPLATES / f"{template}.yaml").description)
    result = import_cib(xml)
    assert result.notes == () and result.replaced == () and result.problems == ()
    assert render(result.description) == xml


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(descriptions())
def test_any_description_rendered_and_imported_renders_the_same_cib(d):
    """The errors import reports are the ones the description had (the agents' checks, which
    ``render`` makes and the generator does not)."""
    original = parse(dump(d), "gen.yaml").description
    xml = render(original)
    result = import_cib(xml)
    said = agentcheck.check(stack.expand(original).resources)
    assert [p.message for p in errors(list(result.problems))] == [p.message for p in errors(said)]
    assert render(parse(result.text).description) == xml


@needs_pcs
def test_hand_additions_to_a_pacemail_cib_are_all_plan_adds(tmp_path):
    """A pacemail cluster someone added to with pcs: plan of its import against it changes
    nothing of pacemail's and adds only the hand-made elements (as pacemail's copies)."""
    path = empty_cib(tmp_path / "cib.xml")
    applied = merge.merge(etree.parse(str(path)).getroot(),
                          build_cib(load(TEMPLATES / "mail-3node.yaml").description))
    path.write_bytes(etree.tostring(applied.cib))
    pcs(path, "resource", "create", "web", "ocf:heartbeat:apache", "configfile=/etc/apache2/apache2.conf")
    pcs(path, "constraint", "colocation", "add", "web", "with", "pm-vip-mail")
    result = imported(path)
    plan = make_plan(result.description, path.read_bytes(), check=False)
    assert {(c.action, c.id) for c in plan.changes} == {("add", "pm-web"),
                                                        ("add", "pm-colocation-web-pm-vip-mail-INFINITY")}
    assert result.replaced == ("colocation-web-pm-vip-mail-INFINITY", "web")   # deletion order


# -- random extras ------------------------------------------------------------------------------

IDS = st.from_regex(r"x[a-z]{1,6}", fullmatch=True)
AGENTS = st.sampled_from([("ocf", "pacemaker", "Dummy"), ("ocf", "heartbeat", "apache"),
                          ("systemd", None, "nginx"), ("lsb", None, "cron")])
PARAMS = st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True),
                         st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=12),
                         max_size=3)
META = st.fixed_dictionaries({}, optional={"target-role": st.sampled_from(["Started", "Stopped"]),
                                           "resource-stickiness": st.integers(-100, 100).map(str),
                                           "migration-threshold": st.integers(1, 9).map(str)})
SCORES = st.sampled_from(["INFINITY", "-INFINITY", "100", "-50", "0"])


@st.composite
def extras(draw):
    """(resources, constraints) as XML elements: primitives, maybe in a group or a clone."""
    ids = draw(st.lists(IDS, min_size=1, max_size=5, unique=True))
    E = etree.Element
    primitives = []
    for rid in ids:
        standard, provider, kind = draw(AGENTS)
        p = E("primitive", {"id": rid, "class": standard, "type": kind} | ({"provider": provider} if provider else {}))
        for tag, pairs in (("instance_attributes", draw(PARAMS)), ("meta_attributes", draw(META))):
            if pairs:
                s = etree.SubElement(p, tag, id=f"{rid}-{tag}")
                for name, value in pairs.items():
                    etree.SubElement(s, "nvpair", id=f"{rid}-{tag}-{name}", name=name, value=value)
        intervals = draw(st.lists(st.integers(1, 120), max_size=2, unique=True))
        if intervals:
            ops = etree.SubElement(p, "operations")
            for i in intervals:
                etree.SubElement(ops, "op", id=f"{rid}-monitor-{i}", name="monitor", interval=f"{i}s",
                                 timeout=f"{draw(st.integers(1, 99))}s")
        primitives.append(p)
    tops = list(primitives)
    if len(primitives) > 2 and draw(st.booleans()):
        group = E("group", id="xgroup")
        group.extend(tops[:2])
        tops = [group] + tops[2:]
    if draw(st.booleans()):
        clone = E("clone", id="xclone")
        clone.append(tops.pop())
        if draw(st.booleans()):
            meta = etree.SubElement(clone, "meta_attributes", id="xclone-meta")
            etree.SubElement(meta, "nvpair", id="xclone-promotable", name="promotable", value="true")
        tops.append(clone)
    names = [t.get("id") for t in tops] + ["vip-mail"]
    constraints = []
    for i, kind in enumerate(draw(st.lists(st.sampled_from(["location", "colocation", "order"]), max_size=4))):
        a, b = draw(st.sampled_from(names[:-1])), draw(st.sampled_from(names))
        if kind == "location":
            constraints.append(E("rsc_location", id=f"xloc{i}", rsc=a, node=draw(st.sampled_from(NODES)),
                                 score=draw(SCORES)))
        elif kind == "colocation" and a != b:
            constraints.append(E("rsc_colocation", {"id": f"xcol{i}", "rsc": a, "with-rsc": b,
                                                    "score": draw(SCORES)}))
        elif kind == "order" and a != b:
            constraints.append(E("rsc_order", {"id": f"xord{i}", "first": a, "then": b,
                                               "first-action": draw(st.sampled_from(["start", "stop"])),
                                               "kind": draw(st.sampled_from(["Mandatory", "Optional"]))}))
    return tops, constraints


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(extras())
def test_random_extras_render_as_the_same_elements(group_cib, extra):
    tops, constraints = extra
    cib = etree.parse(str(group_cib)).getroot()
    for e in tops:
        cib.find("configuration/resources").append(copy.deepcopy(e))
    for c in constraints:
        cib.find("configuration/constraints").append(copy.deepcopy(c))
    result = import_cib(etree.tostring(cib))
    assert result.description is not None, [str(p) for p in result.problems]
    rendered = build_cib(result.description)
    rename = lambda v: STACK_IDS.get(v, "pm-" + v)  # noqa: E731
    for e in tops + constraints:
        assert e.get("id") in result.replaced
        assert semantic(e, rename) == semantic(element(rendered, "pm-" + e.get("id")), str)


# -- bad input ---------------------------------------------------------------------------------

DAMAGE = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["remove", "unset", "set"]),
                            st.sampled_from(["", "x", "-1", "INFINITY", "+INFINITY", "0", "99999999999",
                                             "a b", "é", "../x", "/", "Master", "yes", "node9", "pm-x",
                                             "1m30s", "\u00a0"])), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(DAMAGE)
def test_a_damaged_cib_gives_problems_never_a_traceback(extras_cib, damage):
    """Elements removed, attributes dropped or set to odd values, anywhere in the configuration."""
    cib = etree.parse(str(extras_cib)).getroot()
    for index, action, value in damage:
        elements = [e for e in cib.find("configuration").iter() if isinstance(e.tag, str)][1:]
        e = elements[index % len(elements)]
        if action == "remove":
            e.getparent().remove(e)
        elif e.attrib:
            name = sorted(e.attrib)[index % len(e.attrib)]
            if action == "unset":
                del e.attrib[name]
            else:
                e.set(name, value)
    result = import_cib(etree.tostring(cib))
    if result.description is not None:
        render(result.description)
        assert parse(result.text).description is not None
    else:
        assert errors(list(result.problems))

@pytest.mark.parametrize("xml, says", [(b"<cib/>", "not a CIB"), (b"{}", "not XML"),
                                       (b"<configuration/>", "not a CIB")])
def test_what_is_not_a_cib_is_an_error_not_a_traceback(tmp_path, xml, says):
    path = tmp_path / "x.xml"
    path.write_bytes(xml)
    result = CliRunner().invoke(main, ["import", "--cib", str(path)])
    assert result.exit_code == 1 and says in result.stderr and result.stdout == ""
    assert "Traceback" not in result.output


def test_a_cib_without_a_mail_stack_says_what_is_missing(tmp_path):
    result = import_cib(empty_cib(tmp_path / "cib.xml").read_bytes())
    assert result.description is None and result.text == ""
    assert any("no mail volume" in p.message for p in errors(list(result.problems)))


def test_the_command_writes_the_description_and_lists_problems_on_stderr(group_cib, tmp_path):
    out = tmp_path / "mail.yaml"
    result = CliRunner().invoke(main, ["import", "--cib", str(group_cib), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "note: ocf:heartbeat:IPaddr2 vip-mail -> vips.mail" in result.stderr
    assert "fence-node1: warning: parameter password" in result.stderr
    text = out.read_text()
    assert "#   - ocf:heartbeat:IPaddr2 vip-mail -> vips.mail" in text
    assert "fence-node1: warning: parameter password" in text
    assert load(out).description is not None


def test_replaced_elements_come_in_an_order_the_schema_lets_cibadmin_delete():
    """Constraints and fencing levels before the resources they name: deleting a resource a
    constraint still names is refused by the CIB's schema."""
    from pacemail.controller.importcib import deletion_order
    sections = {"mail": "resources", "col-fs": "constraints", "fence-a": "resources",
                "lvl-1": "fencing-topology", "ord-fs": "constraints"}
    assert deletion_order(["mail", "fence-a", "col-fs", "lvl-1", "ord-fs"], sections) == (
        "col-fs", "ord-fs", "lvl-1", "mail", "fence-a")
