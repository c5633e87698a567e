"""pacemail apply/plan/status against the live lab cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from pacemail.controller import apply, merge
from pacemail.controller.description import parse
from pacemail.lab import cluster
from pacemail.lab.nodes import node_runner
from pacemail.pacemaker import attributes, cib, resources

TEMPLATE = (Path(__file__).resolve().parent.parent / "cib-templates" / "mail-3node.yaml").read_text()
PACEMAIL = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "pacemail")
# The mail stack's agents are not in the lab: keep DRBD (and so all of the stack) off every node.
NO_STACK = "".join(f"    - {{type: location, resource: drbd-clone, node: node{i}, score: -INFINITY, "
                   f"name: no-drbd-{i}}}\n" for i in (1, 2, 3))


def description_text(fake: str = "1", extra_primitive: str = "", state: str = "a") -> str:
    return f"""
extra:
  primitives:
    - {{name: dummy-a, agent: "ocf:pacemaker:Dummy", params: {{fake: "{fake}", state: "/run/dummy-{state}.state"}}, ops: [{{name: monitor, interval: 10s}}]}}
    - {{name: dummy-b, agent: "ocf:pacemaker:Dummy", ops: [{{name: monitor, interval: 10s}}]}}
{extra_primitive}  constraints:
    - {{type: colocation, resource: dummy-b, with: dummy-a, score: INFINITY}}
{NO_STACK}"""


def description(fake: str = "1", extra_primitive: str = "", state: str = "a"):
    parsed = parse(TEMPLATE + description_text(fake, extra_primitive, state), "lab.yaml")
    assert parsed.description, parsed.problems
    return parsed.description


@pytest.fixture(scope="module")
def node(lab):
    run = node_runner(lab.name, "node1")
    yield run
    assert apply.remove_owned(run=run)   # what pacemail made, and only that
    cluster.wait_for_quorum(lab.name, ["node1", "node2", "node3"], 60)


def cib_now(run) -> etree._Element:
    return etree.fromstring(cib.get(run=run))


def running(lab, *ids):
    def probe():
        where = cluster.crm_view(lab.name, "node1").resources
        return {i: where[i] for i in ids} if all(where.get(i) for i in ids) else None
    return cluster.wait_for(probe, 60, f"{', '.join(ids)} running")


def test_apply_starts_the_resources_and_reapply_changes_nothing(lab, node):
    outcome = apply.apply(description(), run=node)
    assert outcome.pushed and not outcome.refused, outcome
    where = running(lab, "pm-dummy-a", "pm-dummy-b")
    assert where["pm-dummy-a"] == where["pm-dummy-b"]      # the colocation holds
    before = merge.version(cib_now(node))[:2]
    again = apply.apply(description(), run=node)
    assert not again.pushed and again.plan.changes == ()
    assert merge.version(cib_now(node))[:2] == before           # epoch did not move


def test_foreign_constraints_and_devices_survive_apply(lab, node):
    apply.apply(description(), run=node)
    running(lab, "pm-dummy-a")
    here = cluster.crm_view(lab.name, "node1").resources["pm-dummy-a"][0]
    node(["crm_resource", "--ban", "--resource", "pm-dummy-b", "--node", here], timeout=30)
    try:
        outcome = apply.apply(description(extra_primitive='    - {name: dummy-c, agent: "ocf:pacemaker:Dummy"}\n'),
                              run=node, allow_restart=True)
        assert outcome.pushed, outcome
        after = cib_now(node)
        assert after.find(f".//rsc_location[@id='cli-ban-pm-dummy-b-on-{here}']") is not None
        assert after.find(".//primitive[@id='lab-fence']") is not None
        assert after.find(".//primitive[@id='pm-dummy-c']") is not None
        assert after.find(".//cluster_property_set[@id='cib-bootstrap-options']") is not None
    finally:
        resources.clear("pm-dummy-b", run=node)
    assert apply.apply(description(), run=node, allow_restart=True).pushed   # dummy-c goes again


def test_a_concurrent_change_of_pacemail_elements_is_refused(lab, node):
    apply.apply(description(), run=node, allow_restart=True)
    plan = apply.plan_live(description(fake="2"), run=node)
    assert [c.id for c in plan.changes] == ["pm-dummy-a"]
    # between read and push someone else edits a pacemail resource
    node(["crm_resource", "--resource", "pm-dummy-a", "--set-parameter", "fake",
          "--parameter-value", "3"], timeout=30)
    outcome = apply.push(plan, description(fake="2"), allow_restart=True, run=node)
    assert not outcome.pushed and outcome.replanned and "moved" in outcome.refused
    value = cib_now(node).find(".//primitive[@id='pm-dummy-a']//nvpair[@name='fake']").get("value")
    assert value == "3"                                       # the concurrent change stands


def test_a_concurrent_foreign_change_is_kept_and_the_plan_pushed_against_it(lab, node):
    apply.apply(description(), run=node, allow_restart=True)
    plan = apply.plan_live(description(fake="2"), run=node)
    attributes.set_property("batch-limit", "31", run=node)
    try:
        outcome = apply.push(plan, description(fake="2"), allow_restart=True, run=node)
        assert outcome.pushed and outcome.replanned, outcome
        after = cib_now(node)
        assert after.find(".//nvpair[@name='batch-limit'][@value='31']") is not None
        assert after.find(".//primitive[@id='pm-dummy-a']//nvpair[@name='fake']").get("value") == "2"
    finally:
        attributes.delete_property("batch-limit", run=node)


def test_a_restart_needs_allow_restart(lab, node):
    apply.apply(description(), run=node, allow_restart=True)
    running(lab, "pm-dummy-a")
    before = merge.version(cib_now(node))[:2]
    # the state file is not a reloadable parameter of Dummy: changing it restarts the resource
    refused = apply.apply(description(state="b"), run=node)
    assert not refused.pushed and "--allow-restart" in refused.refused
    assert ("pm-dummy-a", "restart") in {(i.resource, i.effect) for i in refused.plan.disruptions}
    assert merge.version(cib_now(node))[:2] == before
    assert apply.apply(description(state="b"), run=node, allow_restart=True).pushed
    # fake is reloadable: a reload, no restart, no gate
    assert apply.apply(description(fake="7", state="b"), run=node).pushed


def test_cli_plan_exit_codes_and_status(lab, node):
    apply.apply(description(), run=node, allow_restart=True)
    running(lab, "pm-dummy-a", "pm-dummy-b")
    path = f"/tmp/pacemail-plan-test-{lab.name}.yaml"   # a node's /tmp is the host's
    node(["tee", path], input=TEMPLATE + "\nextra:\n  constraints:\n" + NO_STACK, timeout=10)
    plan = node([PACEMAIL, "plan", "--json", path], timeout=60, check=False)
    assert plan.returncode == 2 and '"remove"' in plan.stdout and "pm-dummy-a" in plan.stdout
    node(["tee", path], input=TEMPLATE + description_text(), timeout=10)
    assert node([PACEMAIL, "plan", path], timeout=60, check=False).returncode == 0
    status = node([PACEMAIL, "status"], timeout=60)
    assert "quorum: yes" in status.stdout
    line = next(l for l in status.stdout.splitlines() if l.strip().startswith("dummy-a "))
    assert "(Started)" in line and "lab-fence" in status.stdout
