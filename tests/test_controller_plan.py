"""plan/apply properties on CIB files (CIB_file=): no cluster needed, real cibadmin,
crm_verify and crm_simulate."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from pacemail.controller import apply, merge
from pacemail.controller.description import parse
from pacemail.pacemaker import cib, runner

TEMPLATE = (Path(__file__).resolve().parent.parent / "cib-templates" / "mail-3node.yaml").read_text()

# A live CIB as a cluster of node1..3 has it, with things pacemail does not own.
FOREIGN = """<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="7" num_updates="3" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="true"/>
      </cluster_property_set>
    </crm_config>
    <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/></nodes>
    <resources>
      <primitive id="lab-fence" class="stonith" type="fence_pacemail_lab">
        <instance_attributes id="lab-fence-ia"><nvpair id="lab-fence-hosts" name="pcmk_host_list" value="node1 node2 node3"/></instance_attributes>
      </primitive>
      <primitive id="other" class="ocf" provider="pacemaker" type="Dummy"/>
    </resources>
    <constraints>
      <rsc_location id="cli-ban-other-on-node2" rsc="other" role="Started" node="node2" score="-INFINITY"/>
    </constraints>
  </configuration>
  <status/>
</cib>
"""

# What DRBD's fence-peer handler adds while a peer is outdated (it needs pm-drbd-clone to exist).
DRBD_FENCE = """<rsc_location id="drbd-fence-by-handler-mail-pm-drbd-clone" rsc="pm-drbd-clone" role="Promoted">
  <rule id="drbd-fence-by-handler-mail-rule" score="-INFINITY"><expression id="drbd-fence-by-handler-mail-expr" attribute="#uname" operation="ne" value="node1"/></rule>
</rsc_location>"""

dummies = st.lists(st.sampled_from(["d1", "d2", "d3", "d4"]), unique=True, max_size=4)
values = st.sampled_from(["1", "2", "x"])


@st.composite
def descriptions(draw):
    names = draw(dummies)
    lines = ["extra:", "  primitives:"] if names else []
    for n in names:
        lines.append(f'    - {{name: {n}, agent: "ocf:pacemaker:Dummy", params: {{fake: "{draw(values)}"}}}}')
    pairs = [(a, b) for a in names for b in names if a < b]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=3)) if pairs else []
    if chosen:
        lines.append("  constraints:")
    for a, b in chosen:
        kind = draw(st.sampled_from(["colocation", "order"]))
        if kind == "colocation":
            lines.append(f"    - {{type: colocation, resource: {a}, with: {b}, score: {draw(st.sampled_from(['INFINITY', '50']))}}}")
        else:
            lines.append(f"    - {{type: order, first: {a}, then: {b}}}")
    stickiness = draw(st.sampled_from(["", "    resource-stickiness: 300\n"]))
    text = TEMPLATE.replace("    migration-threshold: 3\n", "    migration-threshold: 3\n" + stickiness)
    parsed = parse(text + "\n" + "\n".join(lines) + "\n", "generated.yaml")
    assert parsed.description, parsed.problems
    return parsed.description


def cib_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cib") / "cib.xml"
    path.write_text(FOREIGN)
    return path


def content(path: Path) -> dict:
    """Configuration as {section: {id: canonical element}}, order-free."""
    cfg = etree.parse(str(path)).getroot().find("configuration")
    return {s.tag: {e.get("id"): etree.tostring(e, method="c14n") for e in s} for s in cfg}


def foreign(path: Path) -> list[bytes]:
    cfg = etree.parse(str(path)).getroot().find("configuration")
    return [etree.tostring(e, method="c14n") for s in cfg if s.tag != "nodes"
            for e in s if not e.get("id", "").startswith("pm-")]


SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(descriptions())
def test_plan_after_apply_is_empty_and_reapply_keeps_the_epoch(tmp_path_factory, d):
    path = cib_file(tmp_path_factory)
    run = runner.cib_file(path)
    assert apply.apply(d, run=run).pushed
    epoch = merge.version(etree.parse(str(path)).getroot())[:2]
    assert apply.plan_live(d, run=run).changes == ()
    again = apply.apply(d, run=run)
    assert not again.pushed and merge.version(etree.parse(str(path)).getroot())[:2] == epoch


@SETTINGS
@given(descriptions(), descriptions())
def test_apply_a_then_b_equals_apply_b_and_foreign_elements_survive(tmp_path_factory, a, b):
    both, only_b = cib_file(tmp_path_factory), cib_file(tmp_path_factory)
    run = runner.cib_file(both)
    assert apply.apply(a, run=run).pushed
    cib.create("constraints", DRBD_FENCE, run=run)
    before = foreign(both)
    outcome = apply.apply(b, run=run)
    assert not outcome.refused, outcome.refused
    assert foreign(both) == before
    apply.apply(b, run=runner.cib_file(only_b))
    cib.create("constraints", DRBD_FENCE, run=runner.cib_file(only_b))
    assert content(both) == content(only_b)


live_children = st.lists(st.sampled_from([
    '<rsc_location id="cli-prefer-x" rsc="x" node="node1" score="INFINITY"/>',
    '<rsc_location id="pm-loc-x" rsc="x" node="node2" score="5"/>',
    '<rsc_order id="pm-ord-d1-then-d2" first="pm-d1" then="pm-d2"/>',
    '<rsc_order id="ord-foreign" first="x" then="y"/>',
    '<rsc_colocation id="col-foreign" rsc="x" with-rsc="y" score="INFINITY"/>']), unique=True)


@settings(max_examples=60, deadline=None)
@given(descriptions(), live_children)
def test_merge_never_touches_elements_pacemail_does_not_own(d, constraints):
    from pacemail.controller.build import build_cib
    current = etree.fromstring(FOREIGN.replace("</constraints>", DRBD_FENCE + "".join(constraints) + "</constraints>"))
    merged = merge.merge(current, build_cib(d)).cib
    def not_owned(cib):
        return [etree.tostring(e, method="c14n") for e in cib.iter()
                if e.get("id") and not e.get("id").startswith("pm-")
                and not any(a.get("id", "").startswith("pm-") for a in e.iterancestors())]
    assert not_owned(merged) == not_owned(current)
    assert merged.find("status") is not None


def test_a_patch_whose_base_moved_is_refused(tmp_path):
    path = tmp_path / "cib.xml"
    path.write_text(FOREIGN)
    run = runner.cib_file(path)
    d = parse(TEMPLATE, "t.yaml").description
    plan = apply.plan_live(d, run=run)
    run(["cibadmin", "--modify", "--xml-text",
         '<primitive id="other" description="changed by someone else"/>'], timeout=30)
    assert not apply.push_at_epoch(plan.live, plan.merged, run=run)
    after = etree.parse(str(path)).getroot()
    assert after.find(".//primitive[@id='pm-mount']") is None
    assert after.find(".//primitive[@id='other']").get("description") == "changed by someone else"
