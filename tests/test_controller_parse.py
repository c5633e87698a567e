"""The description parser: precise problems for bad input, every valid description accepted."""

from __future__ import annotations

import copy
import importlib.util
import ipaddress

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacemail.controller.build import build_cib
from pacemail.controller.description import load, parse
from pacemail.controller.problems import Severity, errors

NET = ipaddress.ip_network("198.18.0.0/24")

MINIMAL = """\
nodes: [node1, node2]
storage:
  drbd_resource: mail
  device: /dev/drbd0
  mount_point: /srv/mail
vips:
  mail: {address: 198.18.0.100, prefix: 24}
services:
  postfix: {config_dir: /etc/postfix}
cluster:
  options: {priority-fencing-delay: 10s}
fencing:
  devices:
    - {name: fence-node1, agent: fence_pacemail_lab, hosts: [node1]}
    - {name: fence-node2, agent: fence_pacemail_lab, hosts: [node2]}
"""


def only_error(text: str):
    parsed = parse(text, "mail.yaml")
    assert parsed.description is None
    found = errors(parsed.problems)
    assert found, parsed.problems
    return found


def test_minimal_description_parses_with_defaults():
    parsed = parse(MINIMAL, "mail.yaml")
    assert errors(parsed.problems) == []
    d = parsed.description
    assert [n.name for n in d.nodes] == ["node1", "node2"]
    assert d.two_node is True
    assert dict(d.options)["no-quorum-policy"] == "stop"
    assert dict(d.resource_defaults)["resource-stickiness"] == "200"  # no failback by default
    assert d.postfix[0].name == "main" and d.postfix[0].vips == ("mail",)


def test_unknown_key_names_file_line_key_and_suggests():
    text = MINIMAL.replace("  mount_point: /srv/mail", "  mount_point: /srv/mail\n  mountpoint: /x")
    [problem] = only_error(text)
    assert problem.location.file == "mail.yaml"
    assert problem.location.line == 6
    assert problem.location.key == "storage.mountpoint"
    assert "did you mean 'mount_point'" in problem.message
    assert str(problem).startswith("mail.yaml:6: storage.mountpoint: error:")


def test_wrong_value_says_what_was_expected():
    [problem] = only_error(MINIMAL.replace("prefix: 24", "prefix: wide"))
    assert (problem.location.line, problem.location.key) == (7, "vips.mail.prefix")
    assert "expected a whole number from 1 to 128, got 'wide'" in problem.message


def test_missing_key_points_at_its_section():
    [problem] = only_error(MINIMAL.replace("  device: /dev/drbd0\n", ""))
    assert (problem.location.line, problem.location.key) == (3, "storage.device")
    assert "missing required key 'device'" in problem.message


def test_yaml_syntax_error_has_a_line():
    [problem] = only_error(MINIMAL + "vips: [unclosed\n")
    assert problem.location.line is not None and "not valid YAML" in problem.message


def test_duplicate_key_is_an_error():
    [problem] = only_error(MINIMAL + "nodes: [a, b]\n")
    assert problem.location.key == "nodes" and "duplicate key" in problem.message


def test_ignore_quorum_refused_on_two_nodes_warned_on_three():
    text = MINIMAL.replace("{priority-fencing-delay: 10s}", "{no-quorum-policy: ignore, priority-fencing-delay: 10s}")
    [problem] = only_error(text)
    assert problem.location.key == "cluster.options.no-quorum-policy" and problem.location.line == 11
    assert "refused on a two-node cluster" in problem.message
    three = text.replace("nodes: [node1, node2]", "nodes: [node1, node2, node3]")
    parsed = parse(three, "mail.yaml")
    assert parsed.description is not None
    assert [p.location.key for p in parsed.problems if p.severity is Severity.WARNING] == [
        "cluster.options.no-quorum-policy", "fencing.devices"]


def test_secrets_are_file_references_never_inline():
    inline = MINIMAL.replace("hosts: [node1]}", "hosts: [node1], params: {password: hunter2}}")
    [problem] = only_error(inline)
    assert problem.location.key == "fencing.devices[0].params.password"
    assert "never inline secrets" in problem.message
    relative = MINIMAL.replace("hosts: [node1]}", "hosts: [node1], secrets: {password: ipmi.pass}}")
    [problem] = only_error(relative)
    assert "absolute path" in problem.message


def test_stonith_without_devices_is_an_error():
    text = MINIMAL.split("fencing:")[0]
    [problem] = only_error(text)
    assert problem.location.key == "fencing.devices" and "no fencing device" in problem.message


def test_failback_false_needs_stickiness_above_preference():
    text = MINIMAL + "placement: {preferred_node: node1}\n"
    text = text.replace("options: {priority-fencing-delay: 10s}",
                        "options: {priority-fencing-delay: 10s}\n  resource_defaults: {resource-stickiness: 50}")
    [problem] = only_error(text)
    assert problem.location.key == "cluster.resource_defaults.resource-stickiness"


def test_failback_window_renders_a_timed_stickiness_and_a_recheck():
    parsed = parse(MINIMAL + "placement: {preferred_node: node1, failback: {hours: 2-4, weekdays: 6}}\n",
                   "mail.yaml")
    d = parsed.description
    assert errors(parsed.problems) == []
    assert d.placement.failback and d.placement.failback_window == (("hours", "2-4"), ("weekdays", "6"))
    assert dict(d.resource_defaults)["resource-stickiness"] == "200"   # outside the window
    assert dict(d.options)["cluster-recheck-interval"] == "5min"
    cib = build_cib(d)
    [window] = cib.xpath("//rsc_defaults/meta_attributes[@id='pm-failback-window']")
    assert window.get("score") == "2" and window.find("rule/date_expression/date_spec").attrib == {
        "id": "pm-failback-window-spec", "hours": "2-4", "weekdays": "6"}
    assert window.find("nvpair").get("value") == "0"


@pytest.mark.parametrize("window, key, words", [
    ("{hours: 25}", "placement.failback.hours", "within 0..23"),
    ("{hours: 4-2}", "placement.failback.hours", "within 0..23"),
    ("{weekdays: '\u0661'}", "placement.failback.weekdays", "within 1..7"),
    ("{minutes: 5}", "placement.failback.minutes", "unknown key"),
    ("{}", "placement.failback", "at least one of"),
])
def test_failback_window_errors_name_the_key(window, key, words):
    [problem] = only_error(MINIMAL + f"placement: {{preferred_node: node1, failback: {window}}}\n")
    assert problem.location.key == key and words in problem.message


def test_failback_window_needs_the_cluster_to_recheck():
    text = MINIMAL.replace("options: {priority-fencing-delay: 10s}",
                           "options: {priority-fencing-delay: 10s, cluster-recheck-interval: 0}")
    [problem] = only_error(text + "placement: {preferred_node: node1, failback: {hours: 3}}\n")
    assert problem.location.key == "placement.failback" and "recheck" in problem.message


def test_legacy_role_names_rejected_with_the_2_1_name():
    text = MINIMAL + """extra:
  constraints:
    - {type: colocation, resource: postfix-main, with: drbd-clone, with_role: Master}
"""
    [problem] = only_error(text)
    assert "'Promoted'" in problem.message and problem.location.key.endswith("with_role")


def test_missing_agent_module_is_a_warning_not_an_error(tmp_path):
    path = tmp_path / "mail.yaml"
    path.write_text(MINIMAL)
    parsed = load(path)
    assert parsed.description is not None
    warnings = [p.message for p in parsed.problems if p.severity is Severity.WARNING]
    for name in ("drbd", "mount", "vip", "postfix"):
        if importlib.util.find_spec(f"pacemail.agents.{name}") is None:
            assert f"parameters of ocf:pacemail:{name} not checked: agent not available in this pacemail" in warnings


@pytest.mark.skipif(importlib.util.find_spec("pacemail.agents.dummy") is None,
                    reason="agents/dummy.py (the first OCF agent) is not in this checkout yet")
def test_parameters_checked_against_the_agents_own_declaration(tmp_path):
    text = MINIMAL + """extra:
  primitives:
    - name: probe
      agent: ocf:pacemail:dummy
      params: {state: relative/path, fake: x}
"""
    path = tmp_path / "mail.yaml"
    path.write_text(text)
    parsed = load(path)
    assert parsed.description is None
    [problem] = [p for p in errors(parsed.problems)]
    assert problem.location.key == "extra.primitives[0].params.state" and problem.location.line == 20
    assert "state" in problem.message and "absolute" in problem.message
    path.write_text(text.replace("relative/path", "/run/probe.state"))
    assert load(path).description is not None


# -- generated descriptions -------------------------------------------------------

NAMES = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)


def test_service_params_reach_the_agent_and_its_declaration_checks_them(tmp_path):
    text = MINIMAL.replace("postfix: {config_dir: /etc/postfix}",
                           "postfix: {config_dir: /etc/postfix, params: {smtp_port: 2525}}")
    path = tmp_path / "mail.yaml"
    path.write_text(text)
    parsed = load(path)
    assert errors(parsed.problems) == []
    assert dict(parsed.description.postfix[0].params) == {"smtp_port": "2525"}
    from pacemail.controller.build import render
    assert b'name="smtp_port" value="2525"' in render(parsed.description)
    path.write_text(text.replace("smtp_port: 2525", "smtp_port: nope"))
    wrong = load(path)
    assert wrong.description is None
    assert any("smtp_port" in p.message and "integer" in p.message
               for p in errors(wrong.problems))


def test_service_params_cannot_set_a_key_twice():
    text = MINIMAL.replace("postfix: {config_dir: /etc/postfix}",
                           "postfix: {config_dir: /etc/postfix, params: {config_dir: /x}}")
    (problem,) = only_error(text)
    assert problem.location.key == "services.postfix.params.config_dir"


@st.composite
def descriptions(draw) -> dict:
    """Random but valid description dicts."""
    count = draw(st.integers(2, 5))
    nodes = [f"node{i}" for i in range(1, count + 1)]
    hosts = draw(st.lists(st.integers(2, 254), min_size=count + 6, max_size=count + 6, unique=True))
    addr = [str(NET.network_address + h) for h in hosts]
    vip_names = draw(st.lists(NAMES.filter(lambda n: n != "proxysql"), min_size=1, max_size=2, unique=True))
    d: dict = {
        "cluster": {"name": "mail", "options": {"stonith-enabled": True, "no-quorum-policy": "stop"}},
        "nodes": [{"name": n, "address": addr[i]} for i, n in enumerate(nodes)],
        "storage": {"drbd_resource": "mail", "device": "/dev/drbd0", "mount_point": "/srv/mail",
                    "fstype": draw(st.sampled_from(["ext4", "xfs"]))},
        "vips": {name: {"address": addr[count + i], "prefix": 24,
                        "interface": draw(st.sampled_from(["auto", "eth0"]))}
                 for i, name in enumerate(vip_names)},
        "services": {"postfix": [{"name": f"pf{i}", "config_dir": f"/etc/postfix-{i}"}
                                 for i in range(draw(st.integers(1, 3)))]},
        "fencing": {"devices": [{"name": f"fence-{n}", "agent": "fence_pacemail_lab", "hosts": [n]}
                                for n in nodes]},
    }
    if count == 2:
        d["cluster"]["options"]["priority-fencing-delay"] = "10s"
    if draw(st.booleans()):
        d["services"]["dovecot"] = {}
    if draw(st.booleans()):
        d["services"]["proxysql"] = {"vip": {"address": addr[count + 3], "prefix": 24}}
    if draw(st.booleans()):
        d["placement"] = {"preferred_node": draw(st.sampled_from(nodes)),
                          "failback": draw(st.booleans() | st.fixed_dictionaries(
                              {"hours": st.sampled_from([3, "2-4", "22-23"])},
                              optional={"weekdays": st.sampled_from(["6-7", 1])}))}
    if draw(st.booleans()):
        seconds = st.integers(1, 600).map(lambda n: f"{n}s")
        d["operations"] = {
            "drbd": {"promote": {"timeout": draw(seconds)},
                     "monitor-promoted": {"interval": draw(st.sampled_from(["10s", "15s", "29s"])),
                                          "timeout": draw(seconds)}},
            "vip": {"monitor": {"interval": draw(seconds), "timeout": draw(seconds)}},
            "postfix": {"start": {"timeout": draw(st.sampled_from(["90", "2min", "120000ms"]))}},
        }
    extra = draw(st.lists(NAMES, max_size=3, unique=True))
    if extra:
        d["extra"] = {
            "primitives": [{"name": f"x-{n}", "agent": "ocf:pacemaker:Dummy",
                            "ops": [{"name": "monitor", "interval": "30s", "timeout": "20s"}]}
                           for n in extra],
            "constraints": [{"type": "colocation", "resource": f"x-{n}", "with": f"vip-{vip_names[0]}"}
                            for n in extra],
        }
    return d


def dump(d: dict) -> str:
    return yaml.safe_dump(d, sort_keys=False)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(descriptions())
def test_generated_descriptions_parse_clean(d):
    parsed = parse(dump(d), "gen.yaml")
    assert errors(parsed.problems) == []
    assert len(parsed.description.nodes) == len(d["nodes"])
    assert len(parsed.description.postfix) == len(d["services"]["postfix"])


def _mutations():
    """(name, change, expected key) — each change alone must make a valid description invalid."""
    def drop(*path):
        def change(d):
            target = d
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
        return change

    def setter(value, *path):
        def change(d):
            target = d
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        return change

    return [
        ("no storage", drop("storage"), "storage"),
        ("no device", drop("storage", "device"), "storage.device"),
        ("relative mount point", setter("srv/mail", "storage", "mount_point"), "storage.mount_point"),
        ("one node", lambda d: d.update(nodes=d["nodes"][:1]), "nodes"),
        ("bad vip address", lambda d: next(iter(d["vips"].values())).update(address="198.18.0.300"), "vips."),
        ("unknown top key", setter({}, "service"), "service"),
        ("preferred node unknown", setter({"preferred_node": "ghost"}, "placement"), "placement.preferred_node"),
        ("shared config_dir", lambda d: d["services"]["postfix"].append(
            {"name": "zz", "config_dir": d["services"]["postfix"][0]["config_dir"]}), "services.postfix"),
        ("fence level unknown device", setter({"node1": ["nope"]}, "fencing", "levels"), "fencing.levels.node1"),
        ("stonith on, no devices", setter([], "fencing", "devices"), "fencing.devices"),
        ("constraint to nothing", setter({"constraints": [{"type": "order", "first": "mount", "then": "ghost"}]},
                                         "extra"), "extra.constraints[0]"),
        ("inline password", lambda d: d["fencing"]["devices"][0].update(params={"passwd": "x"}),
         "fencing.devices[0].params.passwd"),
        ("interval on a start", setter({"mount": {"start": {"interval": "5s"}}}, "operations"),
         "operations.mount.start.interval"),
        ("unknown operation", setter({"dovecot": {"promote": {"timeout": "5s"}}}, "operations"),
         "operations.dovecot.promote"),
        ("drbd monitors collide", setter({"drbd": {"monitor-unpromoted": {"interval": "29s"}}}, "operations"),
         "operations.drbd"),
        ("two_node on 3+ nodes", lambda d: (d["nodes"].append({"name": "extra-node"}),
                                            d["cluster"].update(two_node=True)), "cluster.two_node"),
    ]


MUTATIONS = _mutations()


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(descriptions(), st.sampled_from(MUTATIONS))
def test_mutated_descriptions_are_rejected_at_the_right_key(d, mutation):
    name, change, key = mutation
    d = copy.deepcopy(d)
    change(d)
    parsed = parse(dump(d), "gen.yaml")
    assert parsed.description is None, name
    assert any(p.location.key.startswith(key) for p in errors(parsed.problems)), (name, parsed.problems)


def test_operations_override_only_what_is_given():
    parsed = parse(MINIMAL + """\
operations:
  drbd:
    promote: {timeout: 2min}
  vip:
    monitor: {interval: 5s}
""", "mail.yaml")
    assert errors(parsed.problems) == []
    given = dict(((part, op.name), op) for part, op in parsed.description.operations)
    assert (given["drbd", "promote"].interval, given["drbd", "promote"].timeout) == ("0s", "2min")
    assert (given["vip", "monitor"].interval, given["vip", "monitor"].timeout) == ("5s", "20s")


@pytest.mark.parametrize("section, key, says", [
    ("{vip: {monitor: {interval: 0}}}", "operations.vip.monitor.interval", "at least 1s"),
    ("{dovecot: {stop: {timeout: 500ms}}}", "operations.dovecot.stop.timeout", "at least 1s"),
    ("{postfix: {start: {timeout: soon}}}", "operations.postfix.start.timeout", "a duration"),
    ("{drbd: {monitor: {timeout: 60s}}}", "operations.drbd.monitor", "did you mean 'monitor-promoted'"),
    ("{proxy: {}}", "operations.proxy", "did you mean 'proxysql'"),
])
def test_bad_operations_are_errors_at_their_key(section, key, says):
    parsed = parse(MINIMAL + f"operations: {section}\n", "mail.yaml")
    assert parsed.description is None
    problems = errors(parsed.problems)
    assert any(p.location.key == key and says in p.message for p in problems), problems
