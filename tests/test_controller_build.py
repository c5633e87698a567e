"""The builder: deterministic, well-formed, owned, and accepted by crm_verify."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from lxml import etree

from pacemail.pacemaker.verify import verify
from pacemail.controller.build import build_cib, render
from pacemail.controller.cibxml import MARK, is_owned
from pacemail.controller.description import load, parse
from test_controller_parse import descriptions, dump

TEMPLATES = Path(__file__).resolve().parent.parent / "cib-templates"
RESOURCE_TAGS = ("primitive", "group", "clone")


def described(d: dict):
    parsed = parse(dump(d), "gen.yaml")
    assert parsed.description is not None, parsed.problems
    return parsed.description


def check_tree(cib: etree._Element) -> None:
    ids = [e.get("id") for e in cib.iter() if e.get("id") is not None and e.tag != "node"]
    assert len(ids) == len(set(ids)), "duplicate ids"
    resources = {e.get("id") for e in cib.iterfind("configuration/resources//*") if e.tag in RESOURCE_TAGS}
    for c in cib.find("configuration/constraints"):
        for attr in ("rsc", "with-rsc", "first", "then"):
            if c.get(attr) is not None:
                assert c.get(attr) in resources, (c.get("id"), attr)
    for element in cib.find("configuration").iter():
        if element.get("id") is not None and element.tag != "node":
            assert is_owned(element), element.get("id")
        if element.tag in RESOURCE_TAGS:
            assert element.get("description") == MARK
    devices = {e.get("id") for e in cib.iterfind("configuration/resources/primitive[@class='stonith']")}
    for level in cib.iterfind("configuration/fencing-topology/fencing-level"):
        assert set(level.get("devices").split(",")) <= devices


def test_templates_render_a_complete_cib():
    for name in ("mail-3node", "mail-2node"):
        parsed = load(TEMPLATES / f"{name}.yaml")
        assert parsed.description is not None, parsed.problems
        cib = build_cib(parsed.description)
        sections = [child.tag for child in cib.find("configuration")]
        assert {"crm_config", "nodes", "resources", "constraints", "rsc_defaults", "op_defaults"} <= set(sections)
        assert len(cib.find("status")) == 0
        check_tree(cib)


def test_seed_001_tree_and_constraint_ids():
    d = load(TEMPLATES / "mail-3node.yaml").description
    cib = build_cib(d)
    ids = {c.get("id") for c in cib.find("configuration/constraints")}
    assert {"pm-col-mount-with-drbd-promoted", "pm-ord-drbd-promote-then-mount",
            "pm-col-vip-mail-with-mount", "pm-ord-drbd-promote-then-vip-mail",
            "pm-col-postfix-main-with-vip-mail", "pm-ord-vip-mail-then-postfix-main",
            "pm-ord-mount-then-postfix-main", "pm-ord-mount-then-dovecot",
            "pm-col-dovecot-with-vip-mail", "pm-col-vip-proxysql-with-mount",
            "pm-col-proxysql-with-vip-proxysql", "pm-loc-mount-prefers-node1"} <= ids
    colocation = cib.find("configuration/constraints/rsc_colocation[@id='pm-col-mount-with-drbd-promoted']")
    assert colocation.get("with-rsc-role") == "Promoted"
    order = cib.find("configuration/constraints/rsc_order[@id='pm-ord-drbd-promote-then-mount']")
    assert (order.get("first-action"), order.get("then-action")) == ("promote", "start")
    clone = cib.find("configuration/resources/clone[@id='pm-drbd-clone']")
    assert clone.find("meta_attributes/nvpair[@name='promotable']").get("value") == "true"
    monitors = {op.get("role"): op.get("interval")
                for op in clone.iterfind("primitive/operations/op[@name='monitor']")}
    assert set(monitors) == {"Promoted", "Unpromoted"} and monitors["Promoted"] != monitors["Unpromoted"]


def test_template_renders_pass_crm_verify():
    for name in ("mail-3node", "mail-2node"):
        result = verify(render(load(TEMPLATES / f"{name}.yaml").description))
        assert result.errors == (), result.errors


def test_crm_verify_reports_errors_as_errors():
    cib = build_cib(load(TEMPLATES / "mail-3node.yaml").description)
    cib.find("configuration/resources/primitive").set("class", "nonsense")
    assert verify(etree.tostring(cib)).errors


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(descriptions())
def test_generated_descriptions_render_deterministically_and_well_formed(d):
    first = render(described(d))
    assert render(described(d)) == first
    check_tree(etree.fromstring(first))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(descriptions())
def test_generated_descriptions_pass_crm_verify(d):
    result = verify(render(described(d)))
    assert result.errors == (), result.errors


def test_operations_section_sets_the_stack_timeouts_in_the_cib():
    text = (TEMPLATES / "mail-3node.yaml").read_text() + """
operations:
  drbd: {promote: {timeout: 120s}, monitor-unpromoted: {timeout: 60s}}
  dovecot: {stop: {timeout: 90s}, monitor: {interval: 30s, timeout: 60s}}
  stonith: {monitor: {timeout: 45s}}
"""
    parsed = parse(text, "ops.yaml")
    assert parsed.description is not None, parsed.problems
    cib = build_cib(parsed.description)

    def op(resource, name, role=None):
        found = [o for o in cib.iterfind(f".//primitive[@id='{resource}']/operations/op")
                 if o.get("name") == name and o.get("role") == role]
        assert len(found) == 1, (resource, name, role)
        return found[0].get("interval"), found[0].get("timeout")

    assert op("pm-drbd", "promote") == ("0s", "120s")
    assert op("pm-drbd", "monitor", "Unpromoted") == ("31s", "60s")
    assert op("pm-drbd", "monitor", "Promoted") == ("29s", "20s")      # untouched default
    assert op("pm-dovecot", "stop") == ("0s", "90s")
    assert op("pm-dovecot", "monitor") == ("30s", "60s")
    assert op("pm-postfix-main", "stop") == ("0s", "60s")               # other services keep theirs
    assert {op(f.get("id"), "monitor") for f in cib.iterfind(".//primitive[@class='stonith']")} \
        == {("60s", "45s")}
    assert verify(render(parsed.description)).errors == ()


def test_description_reference_lists_every_default_operation():
    """DESCRIPTION.md's operations table is what stack.DEFAULT_OPS holds (a stale doc misleads)."""
    from pacemail.controller import stack

    doc = (Path(__file__).resolve().parent.parent / "controller" / "DESCRIPTION.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    for part, ops in stack.DEFAULT_OPS.items():
        row = next(r for r in rows if f"`{part}`" in r.split("|")[1])
        for op in ops:
            said = f"{op.interval}/{op.timeout}" if op.name == "monitor" else op.timeout
            assert f"`{stack.op_key(op)}` {said}" in row, (part, stack.op_key(op), row)


def test_the_rendered_operations_are_what_each_agent_advertises(tmp_path):
    """What `pcs resource describe ocf:pacemail:X` shows (the agent's meta-data, as its
    installed launcher prints it) is what pacemail renders for X's primitive: one source
    for each timeout."""
    import subprocess

    from pacemail.agents.install import agent_path, install

    install(tmp_path)
    d = load(Path(__file__).resolve().parent.parent / "cib-templates" / "mail-3node.yaml")
    cib = build_cib(d.description)
    for primitive in cib.iterfind(".//primitive[@provider='pacemail']"):
        name = primitive.get("type")
        printed = subprocess.run([agent_path(tmp_path, name), "meta-data"],
                                 capture_output=True, timeout=30, check=True).stdout
        advertised = {(a.get("name"), a.get("interval", "0s"), a.get("timeout"), a.get("role"))
                      for a in etree.fromstring(printed).iterfind("actions/action")}
        rendered = {(o.get("name"), o.get("interval"), o.get("timeout"), o.get("role"))
                    for o in primitive.iterfind("operations/op")}
        assert rendered and rendered <= advertised, (name, rendered - advertised)
