"""The OCF runtime as Pacemaker sees it: exit codes, parameters, meta-data, logging, imports.

Agents run in real subprocesses where the process boundary matters (exit
codes, imports, meta-data) and in-process through ``Agent.run`` for the
decision table and the property tests, which need many runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from pacemail.agents import NAMES
from pacemail.agents import load as load_agent
from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_UNIMPLEMENTED,
    OCF_NOT_RUNNING, OCF_SUCCESS, REASON_MAX, Agent, Context, OCFError, Param, cut,
)
from pacemail.proc import CommandError, run

RNG = Path("/usr/share/pcs/data/ocf-1.1.rng")
HEAVY_MODULES = {"lxml", "click", "pyroute2", "psutil", "yaml", "pymysql",
                 "subprocess", "logging", "pacemail.proc"}


def run_agent(name, *args, env=None, python_flags=()):
    """Run agent ``name`` as Pacemaker would: a fresh isolated interpreter, action in argv."""
    code = f"from pacemail.agents.{name} import AGENT; AGENT.main()"
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HA_LOGFACILITY": "none"}
    return run([sys.executable, "-I", *python_flags, "-c", code, *args],
               timeout=60, check=False, env={**base, **(env or {})})


def run_inline(agent, action, env=None):
    """``agent.run`` in this process: (exit code, stderr text)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = agent.run([action], {"HA_LOGFACILITY": "none", **(env or {})})
    return code, err.getvalue()


def exit_reasons(stderr: str) -> list[str]:
    return [line[len("ocf-exit-reason:"):] for line in stderr.splitlines()
            if line.startswith("ocf-exit-reason:")]


def imported_modules(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines()
            if line.startswith("import time:")}


# -- meta-data -------------------------------------------------------------

@pytest.fixture(scope="module")
def pcs_schema():
    if not RNG.exists():
        pytest.skip(f"{RNG} missing: install the Debian package pcs")
    return etree.RelaxNG(file=str(RNG))


@pytest.mark.parametrize("name", NAMES)
def test_meta_data_is_valid_ocf_1_1_for_pcs(name, pcs_schema):
    done = run_agent(name, "meta-data")
    assert done.returncode == 0, done.stderr
    doc = etree.fromstring(done.stdout.encode())
    pcs_schema.assertValid(doc)
    agent = load_agent(name)
    assert doc.get("name") == name and doc.findtext("version") == "1.1"
    assert [p.get("name") for p in doc.iterfind("parameters/parameter")] == \
        [p.name for p in agent.params]
    actions = {a.get("name") for a in doc.iterfind("actions/action")}
    assert {"start", "stop", "monitor", "meta-data", "validate-all"} <= actions
    if agent.reloadable:
        assert "reload-agent" in actions


def _promotable_agent():
    agent = Agent("stateful", "2.0", "Two-role test agent", "Has <roles> & options.", params=[
        Param("mode", "select", values=("fast", "safe"), default="safe", reloadable=True),
        Param("port", "integer", required=True, unique_group="address"),
        Param("verbose", "boolean", default=False),
    ])
    for name in ("start", "stop", "promote", "demote", "notify"):
        agent.action(name, timeout=30)(lambda ctx: OCF_SUCCESS)
    agent.action("monitor", timeout=20, interval=11, promoted_interval=10, depth=0)(
        lambda ctx: OCF_SUCCESS)
    return agent


def test_promotable_meta_data_has_role_monitors_options_and_escaping(pcs_schema):
    from pacemail.agents.metadata import render_xml
    doc = etree.fromstring(render_xml(_promotable_agent()).encode())
    pcs_schema.assertValid(doc)
    monitors = {(a.get("role"), a.get("interval")) for a in doc.iterfind("actions/action")
                if a.get("name") == "monitor"}
    assert monitors == {("Promoted", "10s"), ("Unpromoted", "11s")}
    actions = {a.get("name") for a in doc.iterfind("actions/action")}
    assert {"promote", "demote", "notify", "reload-agent"} <= actions
    mode = doc.find("parameters/parameter[@name='mode']")
    assert mode.get("reloadable") == "1"
    assert mode.find("content").get("type") == "select"
    assert [o.get("value") for o in mode.iterfind("content/option")] == ["fast", "safe"]
    port = doc.find("parameters/parameter[@name='port']")
    assert port.get("required") == "1" and port.get("unique-group") == "address"
    assert doc.find("parameters/parameter[@name='verbose']/content").get("default") == "false"
    assert doc.findtext("longdesc") == "Has <roles> & options."


# -- dispatch --------------------------------------------------------------

@pytest.mark.parametrize("args", [(), ("bogus",), ("start", "extra"), ("migrate_to",)])
def test_missing_or_unknown_action_exits_3_with_usage(args):
    done = run_agent("dummy", *args)
    assert done.returncode == OCF_ERR_UNIMPLEMENTED
    assert "usage: dummy {" in done.stderr


def test_dummy_lifecycle(tmp_path):
    env = {"OCF_RESOURCE_INSTANCE": "d1", "OCF_RESKEY_state": str(tmp_path / "d1.state")}
    probe = {**env, "OCF_RESKEY_CRM_meta_interval": "0"}
    recurring = {**env, "OCF_RESKEY_CRM_meta_interval": "10000"}
    assert run_agent("dummy", "monitor", env=probe).returncode == OCF_NOT_RUNNING
    assert run_agent("dummy", "start", env=env).returncode == OCF_SUCCESS
    assert run_agent("dummy", "start", env=env).returncode == OCF_SUCCESS
    assert run_agent("dummy", "monitor", env=recurring).returncode == OCF_SUCCESS
    assert run_agent("dummy", "monitor", env=probe).returncode == OCF_SUCCESS
    reload = run_agent("dummy", "reload-agent", env={**env, "OCF_RESKEY_fake": "changed"})
    assert reload.returncode == OCF_SUCCESS
    assert (tmp_path / "d1.state").read_text() == "changed\n"
    assert run_agent("dummy", "stop", env=env).returncode == OCF_SUCCESS
    assert run_agent("dummy", "stop", env=env).returncode == OCF_SUCCESS
    assert run_agent("dummy", "monitor", env=recurring).returncode == OCF_NOT_RUNNING


def test_dummy_missing_state_folder_is_not_installed_but_probe_says_not_running(tmp_path):
    env = {"OCF_RESOURCE_INSTANCE": "d2", "OCF_RESKEY_state": str(tmp_path / "gone" / "s")}
    start = run_agent("dummy", "start", env=env)
    assert start.returncode == OCF_ERR_INSTALLED
    assert exit_reasons(start.stderr) == [f"state folder {tmp_path / 'gone'} does not exist on this node"]
    probe = run_agent("dummy", "monitor", env={**env, "OCF_RESKEY_CRM_meta_interval": "0"})
    assert probe.returncode == OCF_NOT_RUNNING


# -- the probe / exit-code decision table ---------------------------------

def _raise(exc):
    def handler(ctx):
        raise exc
    return handler


PROBE = {"OCF_RESKEY_CRM_meta_interval": "0"}
RECURRING = {"OCF_RESKEY_CRM_meta_interval": "10000"}
CASES = [
    # id, handler, is_running hook, action, env, expected code
    ("probe-ok", lambda ctx: OCF_SUCCESS, None, "monitor", PROBE, OCF_SUCCESS),
    ("probe-not-installed", _raise(OCFError(OCF_ERR_INSTALLED, "no binary")), None,
     "monitor", PROBE, OCF_NOT_RUNNING),
    ("probe-returns-installed", lambda ctx: OCF_ERR_INSTALLED, None, "monitor", PROBE,
     OCF_NOT_RUNNING),
    ("probe-configured", _raise(OCFError(OCF_ERR_CONFIGURED, "bad")), None, "monitor",
     PROBE, OCF_NOT_RUNNING),
    ("probe-crash-hook-false", _raise(RuntimeError("boom")), lambda ctx: False, "monitor",
     PROBE, OCF_NOT_RUNNING),
    ("probe-crash-hook-true", _raise(RuntimeError("boom")), lambda ctx: True, "monitor",
     PROBE, OCF_ERR_GENERIC),
    ("probe-crash-no-hook", _raise(RuntimeError("boom")), None, "monitor", PROBE,
     OCF_ERR_GENERIC),
    ("probe-crash-hook-crashes", _raise(RuntimeError("boom")), _raise(OSError("eio")),
     "monitor", PROBE, OCF_ERR_GENERIC),
    ("probe-interval-unset-is-probe", _raise(OCFError(OCF_ERR_INSTALLED, "no binary")),
     None, "monitor", {}, OCF_NOT_RUNNING),
    ("probe-returns-none", lambda ctx: None, lambda ctx: False, "monitor", PROBE,
     OCF_NOT_RUNNING),
    ("monitor-not-installed", _raise(OCFError(OCF_ERR_INSTALLED, "no binary")), None,
     "monitor", RECURRING, OCF_ERR_INSTALLED),
    ("monitor-crash-hook-false", _raise(RuntimeError("boom")), lambda ctx: False,
     "monitor", RECURRING, OCF_ERR_GENERIC),
    ("start-not-installed", _raise(OCFError(OCF_ERR_INSTALLED, "no binary")), None,
     "start", {}, OCF_ERR_INSTALLED),
    ("start-crash", _raise(KeyError("x")), lambda ctx: False, "start", {}, OCF_ERR_GENERIC),
    ("stop-crash", _raise(ValueError("x")), lambda ctx: False, "stop", {}, OCF_ERR_GENERIC),
    ("start-bad-param", lambda ctx: OCF_SUCCESS, None, "start",
     {"OCF_RESKEY_count": "ten"}, OCF_ERR_CONFIGURED),
    ("probe-bad-param", lambda ctx: OCF_SUCCESS, None, "monitor",
     {**PROBE, "OCF_RESKEY_count": "ten"}, OCF_ERR_CONFIGURED),
    ("probe-refused-by-check", lambda ctx: OCF_SUCCESS, None, "monitor",
     {**PROBE, "OCF_RESKEY_label": "a/b"}, OCF_ERR_CONFIGURED),
    ("recurring-refused-by-check", lambda ctx: OCF_SUCCESS, None, "monitor",
     {**RECURRING, "OCF_RESKEY_label": "a/b"}, OCF_ERR_CONFIGURED),
    ("stop-bad-param", lambda ctx: OCF_SUCCESS, None, "stop",
     {"OCF_RESKEY_count": "1e3"}, OCF_ERR_CONFIGURED),
    ("monitor-bad-param", lambda ctx: OCF_SUCCESS, None, "monitor",
     {**RECURRING, "OCF_RESKEY_count": "ten"}, OCF_ERR_CONFIGURED),
]


@pytest.mark.parametrize("handler,hook,action,env,expected",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_probe_decision_table(handler, hook, action, env, expected):
    agent = Agent("table", "1", "s", "l", params=[Param("count", "integer", default=1),
                                                  Param("label", check=_no_slash)])
    for name in ("start", "stop", "monitor"):
        agent.action(name, timeout=20)(handler)
    if hook is not None:
        agent.running_check(hook)
    code, stderr = run_inline(agent, action, env)
    assert code == expected
    reasons = exit_reasons(stderr)
    if code in (OCF_SUCCESS, OCF_NOT_RUNNING):
        assert reasons == []
    else:
        assert len(reasons) == 1 and reasons[0]


def test_crash_is_logged_with_reason_not_just_a_traceback():
    agent = Agent("crashy", "1", "s", "l")
    agent.action("start", timeout=20)(_raise(ZeroDivisionError("division by zero")))
    code, stderr = run_inline(agent, "start", {"OCF_RESOURCE_INSTANCE": "c1"})
    assert code == OCF_ERR_GENERIC
    (reason,) = exit_reasons(stderr)
    assert reason.startswith("start failed unexpectedly: ZeroDivisionError: division by zero "
                             "(at test_ocf_runtime.py:")
    assert "pacemail-crashy(c1) ERROR: start failed unexpectedly" in stderr
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 2  # the log line, the reason


def test_validate_all_handler_runs_before_start_but_not_monitor():
    calls = []
    agent = Agent("order", "1", "s", "l")
    agent.action("validate-all", timeout=20)(lambda ctx: calls.append("validate") or OCF_ERR_INSTALLED)
    agent.action("start", timeout=20)(lambda ctx: calls.append("start") or OCF_SUCCESS)
    agent.action("monitor", timeout=20)(lambda ctx: calls.append("monitor") or OCF_SUCCESS)
    assert run_inline(agent, "start")[0] == OCF_ERR_INSTALLED
    assert run_inline(agent, "monitor", RECURRING)[0] == OCF_SUCCESS
    assert calls == ["validate", "monitor"]


# -- parameters ------------------------------------------------------------

def _no_slash(value):
    if "/" in value:
        raise ValueError("must not contain '/'")


TYPED = Agent("typed", "1", "s", "l", params=[
    Param("count", "integer", default=3),
    Param("flag", "boolean", default=False),
    Param("mode", "select", values=("a", "b"), default="a"),
    Param("label", required=True, check=_no_slash),
])
TYPED.action("start", timeout=20)(lambda ctx: OCF_SUCCESS)

raw_values = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),  # what os.environ holds
    st.sampled_from(["1", "-7", "yes", "Off", "a", "b", "$(reboot)", "x\ny", "'; rm -rf /"]),
)
param_names = st.sampled_from(["count", "flag", "mode", "label", "other", "lab el\n"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(param_names, raw_values))
def test_any_reskey_values_give_0_or_a_named_ocf_error(values):
    env = {f"OCF_RESKEY_{k}": v for k, v in values.items()}
    code, stderr = run_inline(TYPED, "validate-all", env)
    problems = TYPED.check_params(values)
    assert "Traceback" not in stderr
    assert code == (OCF_ERR_CONFIGURED if problems else OCF_SUCCESS)
    if problems:
        (reason,) = exit_reasons(stderr)
        assert reason == cut("; ".join(problems), REASON_MAX)
        assert reason.isprintable()
        for problem in problems:
            assert problem.startswith(("parameter count", "parameter flag", "parameter mode",
                                       "parameter label", "unknown parameter"))
            assert "codec" not in problem and "surrogates" not in problem


@given(st.integers(-10**18 + 1, 10**18 - 1), st.sampled_from(["", "+"]))
def test_integer_values_convert(number, sign):
    text = str(number) if number < 0 else sign + str(number)
    params, problems = TYPED.parse_params({"count": text, "label": "x"})
    assert problems == [] and params["count"] == number


@pytest.mark.parametrize("text", ["1.5", "0x10", " 1", "1 ", "1_000", "--1", "+", "\u0661", "ten"])
def test_non_integers_are_rejected_naming_the_parameter(text):
    problems = TYPED.check_params({"count": text, "label": "x"})
    assert len(problems) == 1 and problems[0].startswith("parameter count:")


@given(st.sampled_from(["true", "yes", "on", "1", "y", "false", "no", "off", "0", "n"]),
       st.randoms())
def test_boolean_words_in_any_case(word, rnd):
    text = "".join(c.upper() if rnd.random() < 0.5 else c for c in word)
    params, problems = TYPED.parse_params({"flag": text, "label": "x"})
    assert problems == []
    assert params["flag"] is (word in ("true", "yes", "on", "1", "y"))


def test_defaults_required_and_check():
    params, problems = TYPED.parse_params({"label": "mail"})
    assert problems == []
    assert params == {"count": 3, "flag": False, "mode": "a", "label": "mail"}
    assert TYPED.check_params({}) == ["parameter label is required"]
    assert TYPED.check_params({"label": "a/b"}) == ["parameter label: 'a/b' must not contain '/'"]
    assert TYPED.check_params({"label": "x", "mode": "c"}) == ["parameter mode: 'c' is not one of a, b"]
    assert TYPED.check_params({"label": "x", "colour": "red"}) == ["unknown parameter 'colour'"]
    assert TYPED.check_params({"label": "x", "CRM_meta_timeout": "1", "crm_feature_set": "3"}) == []
    assert TYPED.parse_params({"label": "x", "count": 7, "flag": True}) == (
        {"count": 7, "flag": True, "mode": "a", "label": "x"}, [])  # YAML-typed values


def test_enumerated_strings_are_select_and_types_are_checked_at_declaration():
    assert Param("mode", values=("a", "b")).type == "select"
    with pytest.raises(ValueError):
        Param("n", "integer", default="many")
    with pytest.raises(ValueError):
        Param("n", "float")


@pytest.mark.parametrize("text", ["9" * 19, "-" + "9" * 19, "9" * 5000])
def test_huge_integers_are_refused_without_python_s_own_message(text):
    (problem,) = TYPED.check_params({"count": text, "label": "x"})
    assert problem.endswith("is out of range (more than 18 digits)")


def test_values_that_are_not_utf_8_are_refused_before_any_check():
    calls = []
    agent = Agent("bytes", "1", "s", "l", params=[Param("p", check=calls.append)])
    assert agent.check_params({"p": "10.0.0.\udcff"}) == \
        ["parameter p: '10.0.0.\\xff' is not valid UTF-8"]
    assert calls == []


def test_a_check_may_return_the_value_to_use():
    agent = Agent("norm", "1", "s", "l", params=[Param("p", check=str.strip)])
    assert agent.parse_params({"p": " x "}) == ({"p": "x"}, [])


@pytest.mark.parametrize("value", ["$(touch /tmp/pwned)", "a\nb", "; rm -rf /"])
def test_hostile_values_through_a_real_process(tmp_path, value):
    bad = run_agent("dummy", "start", env={"OCF_RESKEY_state": value})
    assert bad.returncode == OCF_ERR_CONFIGURED
    (reason,) = exit_reasons(bad.stderr)
    assert reason.startswith("parameter state: '") and reason.endswith("' must be an absolute path")
    state = tmp_path / "s"
    ok = run_agent("dummy", "start", env={"OCF_RESKEY_state": str(state), "OCF_RESKEY_fake": value})
    assert ok.returncode == OCF_SUCCESS, ok.stderr
    assert state.read_bytes() == value.encode("utf-8", "surrogateescape") + b"\n"


# -- context ---------------------------------------------------------------

def _context(action, env):
    return Context(_promotable_agent(), action, {"OCF_RESKEY_port": "25", **env})


def test_notify_variables_are_parsed():
    ctx = _context("notify", {
        "OCF_RESKEY_CRM_meta_notify_type": "pre",
        "OCF_RESKEY_CRM_meta_notify_operation": "promote",
        "OCF_RESKEY_CRM_meta_notify_promote_resource": "db:1 ",
        "OCF_RESKEY_CRM_meta_notify_promote_uname": "node2",
        "OCF_RESKEY_CRM_meta_notify_active_resource": "db:0  db:1",
        "OCF_RESKEY_CRM_meta_notify_active_uname": "node1 node2",
        "OCF_RESKEY_CRM_meta_notify_master_uname": "node1",  # Pacemaker < 2.1 name
        "OCF_RESKEY_CRM_meta_notify_unpromoted_uname": "node2",
        "OCF_RESKEY_CRM_meta_notify_slave_uname": "stale",
    })
    n = ctx.notify
    assert (n.type, n.operation) == ("pre", "promote")
    assert n.resources["promote"] == ("db:1",) and n.unames["promote"] == ("node2",)
    assert n.resources["active"] == ("db:0", "db:1")
    assert n.unames["active"] == ("node1", "node2")
    assert n.unames["promoted"] == ("node1",)
    assert n.unames["unpromoted"] == ("node2",)
    assert n.unames["stop"] == () and n.resources["inactive"] == ()
    assert _context("start", {}).notify is None


def test_context_meta_clone_timeout_and_check_level():
    ctx = _context("monitor", {
        "OCF_RESOURCE_INSTANCE": "db:2", "OCF_CHECK_LEVEL": "10",
        "OCF_RESKEY_CRM_meta_interval": "11000", "OCF_RESKEY_CRM_meta_timeout": "20000",
        "OCF_RESKEY_CRM_meta_clone": "2", "OCF_RESKEY_CRM_meta_clone_max": "3",
        "OCF_RESKEY_CRM_meta_promoted_max": "1", "OCF_RESKEY_CRM_meta_on_node": "node3",
        "OCF_RESKEY_CRM_meta_role": "Promoted",
    })
    assert ctx.instance == "db:2" and ctx.node == "node3" and ctx.meta["role"] == "Promoted"
    assert ctx.params == {"mode": "safe", "port": 25, "verbose": False}
    assert (ctx.interval_ms, ctx.is_probe, ctx.check_level) == (11000, False, 10)
    assert (ctx.clone.number, ctx.clone.max, ctx.clone.promoted_max) == (2, 3, 1)
    assert ctx.timeout_s == 20.0 and 19.0 < ctx.remaining() <= 19.5
    plain = _context("start", {})
    assert plain.clone is None and plain.timeout_s == 30 and plain.is_probe is False


def test_ctx_run_is_bounded_by_the_operation_timeout():
    ctx = _context("start", {"OCF_RESKEY_CRM_meta_timeout": "1500"})
    began = time.monotonic()
    with pytest.raises(CommandError) as failed:
        ctx.run(["sleep", "10"])
    assert failed.value.timeout is not None and failed.value.timeout <= 1.0
    assert time.monotonic() - began < 3
    with pytest.raises(CommandError):  # the operation's time is used up: nothing starts
        ctx.run(["true"])
    fresh = _context("start", {"OCF_RESKEY_CRM_meta_timeout": "1500"})
    assert fresh.run(["echo", "hi"]).stdout == "hi\n"


# -- logging and imports ---------------------------------------------------

def test_log_lines_carry_agent_and_instance_and_debug_is_opt_in(tmp_path):
    env = {"OCF_RESOURCE_INSTANCE": "myres", "OCF_RESKEY_state": "relative",
           "HA_LOGFACILITY": "daemon"}  # syslog on: must not fail without /dev/log
    quiet = run_agent("dummy", "start", env=env)
    assert quiet.returncode == OCF_ERR_CONFIGURED
    assert "pacemail-dummy(myres) ERROR: parameter state: 'relative' must be an absolute path" \
        in quiet.stderr
    assert "DEBUG" not in quiet.stderr
    loud = run_agent("dummy", "start", env={**env, "HA_debug": "1"})
    assert "pacemail-dummy(myres) DEBUG: start exits 6" in loud.stderr


def test_monitor_imports_no_heavy_module_and_meta_data_only_lxml(tmp_path):
    env = {"OCF_RESKEY_state": str(tmp_path / "s"), "OCF_RESKEY_CRM_meta_interval": "10000"}
    assert run_agent("dummy", "start", env=env).returncode == OCF_SUCCESS
    monitor = run_agent("dummy", "monitor", env=env, python_flags=("-X", "importtime"))
    assert monitor.returncode == OCF_SUCCESS
    loaded = imported_modules(monitor.stderr)
    assert "pacemail.agents.dummy" in loaded
    assert loaded & HEAVY_MODULES == set()
    meta = run_agent("dummy", "meta-data", python_flags=("-X", "importtime"))
    assert meta.returncode == OCF_SUCCESS
    assert (imported_modules(meta.stderr) & HEAVY_MODULES) == {"lxml"}


def test_crash_outside_a_handler_still_gives_an_ocf_code():
    def broken_check(value):
        raise TypeError("check has a bug")
    agent = Agent("buggy", "1", "s", "l", params=[Param("p", check=broken_check)])
    agent.action("start", timeout=20)(lambda ctx: OCF_SUCCESS)
    code, stderr = run_inline(agent, "start", {"OCF_RESKEY_p": "x"})
    assert code == OCF_ERR_GENERIC
    (reason,) = exit_reasons(stderr)
    assert reason.startswith("start failed unexpectedly: TypeError: check has a bug (at ")
