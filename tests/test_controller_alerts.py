"""The ``alerts:`` section: parsed with defaults, rendered as Pacemaker's <alerts> of pacemail's
own agent, accepted by crm_verify, every bad value refused at its key, and applied like any
other part of pacemail's CIB (round trip, hand-made alerts left alone)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from pacemail.agents import alert as agent
from pacemail.agents.install import alert_path
from pacemail.controller import apply, merge
from pacemail.controller.build import build_cib, render
from pacemail.controller.description import parse
from pacemail.controller.problems import errors
from pacemail.controller.values import MAX_MS, duration_ms
from pacemail.pacemaker import cib, runner
from pacemail.pacemaker.verify import verify
from test_controller_build import check_tree
from test_controller_parse import MINIMAL
from test_controller_plan import FOREIGN, TEMPLATE

needs_pacemaker = pytest.mark.skipif(shutil.which("crm_verify") is None,
                                     reason="Pacemaker CLI tools not installed")

ALERTS = """\
alerts:
  - name: failover-log
    kind: file
    recipients: [/var/log/pacemaker/pacemail-alerts.log, '//var/log/./x.log']
    select: [fencing, nodes, resources]
    timeout: 10s
    timestamp_format: "%Y-%m-%d %H:%M:%S.%06N"
  - name: admins
    kind: smtp
    recipients: [ops@example.org]
"""
# A hand-made alert (pcs alert create): not pacemail's.
HAND_MADE = ('<alert id="ops-alert" path="/usr/share/pacemaker/alerts/alert_file.sh.sample">'
             '<recipient id="ops-alert-recipient" value="/var/log/ops.log"/></alert>')


def described(text: str):
    parsed = parse(text, "mail.yaml")
    assert parsed.description is not None, parsed.problems
    return parsed.description


def alert_errors(section: str) -> list[tuple[str, str, int | None]]:
    parsed = parse(MINIMAL + section, "mail.yaml")
    assert parsed.description is None
    return [(p.location.key, p.message, p.location.line) for p in errors(parsed.problems)]


def nvpairs(element, tag: str) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in element.iterfind(f"{tag}/nvpair")}


# -- parse and render -----------------------------------------------------------------

def test_alerts_parse_with_their_defaults():
    file_alert, mail = described(MINIMAL + ALERTS).alerts
    assert file_alert.kind == "file" and file_alert.recipients == (
        "/var/log/pacemaker/pacemail-alerts.log", "/var/log/x.log")      # normalised
    assert file_alert.select == ("fencing", "nodes", "resources") and file_alert.timeout == "10s"
    assert (file_alert.server, file_alert.port) == (None, None)
    # mail waits out a failover; it goes to the cluster's own postfix, at the mail VIP
    assert (mail.timeout, mail.select, mail.server, mail.port) == ("60s", (), "198.18.0.100", 25)


def test_the_rendered_alerts_run_pacemails_agent_by_kind():
    cib_xml = build_cib(described(MINIMAL + ALERTS))
    check_tree(cib_xml)                                   # ids unique, every element owned
    file_alert, mail = cib_xml.find("configuration/alerts")
    assert [a.get("id") for a in (file_alert, mail)] == ["pm-failover-log", "pm-admins"]
    assert {a.get("path") for a in (file_alert, mail)} == {str(alert_path())}
    assert [c.tag for c in file_alert.find("select")] == ["select_fencing", "select_nodes",
                                                           "select_resources"]
    assert mail.find("select") is None                    # every kind of event
    assert nvpairs(file_alert, "meta_attributes") == {"timeout": "10s",
                                                      "timestamp-format": "%Y-%m-%d %H:%M:%S.%06N"}
    assert nvpairs(file_alert, "instance_attributes") == {agent.KIND: "file", agent.TIMEOUT_MS: "10000"}
    assert nvpairs(mail, "instance_attributes") == {
        agent.KIND: "smtp", agent.TIMEOUT_MS: "60000", agent.CLUSTER: "mail",
        agent.SERVER: "198.18.0.100", agent.PORT: "25"}
    assert [r.get("value") for r in file_alert.iterfind("recipient")] == [
        "/var/log/pacemaker/pacemail-alerts.log", "/var/log/x.log"]


def test_a_description_without_alerts_renders_no_alerts_section():
    assert build_cib(described(MINIMAL)).find("configuration/alerts") is None


# Accepted values at their edges: text the XML must carry as it is.
EDGES = """\
alerts:
  - name: edges
    kind: file
    recipients: ["/var/log/mail alerts/événements <&>.log"]
    select: [attributes]
    timeout: 2147483s
    timestamp_format: "%d.%m.%Y \\"%H:%M\\" <%3N> & co"
  - name: mail.v6
    kind: smtp
    recipients: [a.b+c=d-e_f@mail.example.org]
    server: 2001:db8::25
    port: 2525
    sender: hacluster@example.org
    timeout: 1s
"""


@needs_pacemaker
@pytest.mark.parametrize("alerts", [ALERTS, EDGES], ids=["example", "edges"])
def test_crm_verify_accepts_the_rendered_alerts_and_would_see_a_broken_one(alerts):
    rendered = render(described(TEMPLATE + alerts))
    assert rendered.count(b"<alert ") == 2 and verify(rendered).errors == ()
    broken = rendered.replace(b"<recipient ", b"<recipients ")
    assert verify(broken).errors                          # the check does look at <alerts>


# -- bad values, each at its key ------------------------------------------------------------

def one(kind: str = "file", recipients: str = "[/var/log/a.log]", more: str = "", name: str = "a") -> str:
    return f"alerts:\n  - name: {name}\n    kind: {kind}\n    recipients: {recipients}\n{more}"


CASES = [
    # (alerts section, key of the one error, words of its message)
    (one(kind="/usr/bin/logger"), "alerts[0].kind", "one of file, smtp"),
    (one(kind="sendmail"), "alerts[0].kind", "one of file, smtp"),
    (one(recipients="[var/log/a.log]"), "alerts[0].recipients[0]", "absolute path"),
    (one(recipients="['/var/log/../../etc/shadow']"), "alerts[0].recipients[0]", "without '..'"),
    (one(recipients="[/var/lib/pacemaker/cib/cib.xml]"), "alerts[0].recipients[0]", "may not write"),
    (one(recipients="[/dev/sda]"), "alerts[0].recipients[0]", "may not write"),
    (one(recipients="[/]"), "alerts[0].recipients[0]", "file path"),
    (one(recipients="[]"), "alerts[0].recipients", "at least one recipient"),
    (one(recipients="[/var/log/a.log, '/var/log//a.log']"), "alerts[0].recipients[1]", "listed twice"),
    (one(recipients='["/var/log/a\\nb.log"]'), "alerts[0].recipients[0]", "control characters"),
    (one(kind="smtp", recipients="['Ops <ops@example.org>']"), "alerts[0].recipients[0]", "plain mail address"),
    (one(kind="smtp", recipients="['ops%evil.org@example.org']"), "alerts[0].recipients[0]", "plain mail"),
    (one(kind="smtp", recipients="[/var/log/a.log]"), "alerts[0].recipients[0]", "plain mail"),
    (one(kind="smtp", recipients="[ops@example.org]", more="    server: 198.18.0.300\n"),
     "alerts[0].server", "IP address or host name"),
    (one(kind="smtp", recipients="[ops@example.org]", more="    server: 'smtp.example.org;x'\n"),
     "alerts[0].server", "IP address or host name"),
    (one(kind="smtp", recipients="[ops@example.org]", more="    port: 0\n"), "alerts[0].port", "from 1 to 65535"),
    (one(kind="smtp", recipients="[ops@example.org]", more="    sender: 'x@y; rm'\n"), "alerts[0].sender",
     "plain mail address"),
    (one(more="    server: 198.18.0.100\n"), "alerts[0].server", "for smtp alerts"),
    (one(more="    select: [resources, everything]\n"), "alerts[0].select[1]", "one of nodes, fencing"),
    (one(more="    select: [nodes, nodes]\n"), "alerts[0].select[1]", "listed twice"),
    (one(more="    select: []\n"), "alerts[0].select", "leave select out"),
    (one(more="    timeout: soon\n"), "alerts[0].timeout", "duration"),
    (one(more="    timeout: 500ms\n"), "alerts[0].timeout", "at least 1s"),
    (one(more="    timeout: 99999999999s\n"), "alerts[0].timeout", "at most"),
    (one(more='    timestamp_format: "%H\\x1b[2J"\n'), "alerts[0].timestamp_format", "control characters"),
    (one(more="    timestamp_format: ''\n"), "alerts[0].timestamp_format", "date(1) format"),
    (one(more="    path: /tmp/evil.sh\n"), "alerts[0].path", "unknown key"),
    (one(name="mount"), "alerts[0].name", "taken by the mail stack"),
    (one(name="fence-node1"), "alerts[0].name", "already taken by fencing.devices[0].name"),
    (one() + one(kind="smtp", recipients="[ops@example.org]").removeprefix("alerts:\n"),
     "alerts[1].name", "already taken by alerts[0].name"),
    (one(name="x") + "extra:\n  primitives:\n    - {name: x-recipient-1, agent: 'ocf:pacemaker:Dummy'}\n",
     "alerts[0].name", "id 'pm-x-recipient-1'"),
]


@pytest.mark.parametrize("section, key, words", CASES, ids=[c[1] + ":" + c[2][:20] for c in CASES])
def test_each_bad_value_is_one_error_at_its_key(section, key, words):
    found = alert_errors(section)
    assert len(found) == 1 and found[0][0] == key and words in found[0][1], found
    assert found[0][2] is not None and len(found[0][1]) < 400


def quoted(text: str) -> str:
    """Any text as a YAML double-quoted scalar, escapes and all."""
    return yaml.safe_dump(text, default_style='"', width=10**6).strip()


any_text = st.one_of(st.text(max_size=40), st.sampled_from([
    "/var/log/a.log", "//var/log/./a.log/", "/var/log/../etc/passwd", "relative.log", "/", "",
    "/var/lib/pacemaker/cib/cib.xml", "/proc/self/mem", "/dev/null", "/var/log/pacemakerx.log",
    "ops@example.org", "ops@exa_mple.org", "a.b+c=d-e_f@mail.example.org", "@example.org",
    "ops@", "ops@@example.org", "ops@example.org\n", "x" * 250 + "@example.org", "ops@-example.org",
    "10s", "1", "0", "1000ms", "999ms", "2147483s", "2147484s", "1h", "90min", "٦٠s", "-5s", "5 s"]))
# Values of each kind that may well be right (drawn more often), and anything at all.
paths = st.one_of(any_text, st.text(max_size=30).map(lambda t: "/var/log/" + t),
                  st.from_regex(r"(/[a-z.]{0,6}){1,4}", fullmatch=True),
                  st.from_regex(r"/[a-z]{1,6}(/[a-z.]{0,6}){1,3}", fullmatch=True))
_address = r"[A-Za-z0-9_+=%!-]{1,8}(\.[A-Za-z0-9_+=-]{0,4}){0,2}@[a-z0-9-]{1,8}(\.[a-z0-9]{1,4}){0,2}"
addresses = st.one_of(any_text, st.from_regex(_address, fullmatch=True),
                      st.from_regex(r"[a-z0-9_+=-]{1,8}@[a-z0-9]{1,8}\.[a-z]{2,4}", fullmatch=True))
_units = r"(ms|msec|us|usec|s|sec|m|min|h|hr)?"
durations = st.one_of(any_text, st.from_regex(r"[0-9]{1,12}" + _units, fullmatch=True),
                      st.from_regex(r"[1-9][0-9]{0,4}" + _units, fullmatch=True),
                      st.from_regex(r"[1-9][0-9]{0,3}(s|min)", fullmatch=True))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(recipient=st.one_of(st.tuples(st.just("file"), paths), st.tuples(st.just("smtp"), addresses)),
       timeout=durations)
def test_recipients_and_timeouts_are_accepted_as_pacemaker_takes_them_or_refused_at_their_key(
        recipient, timeout):
    kind, recipient = recipient
    section = one(kind=kind, recipients=f"[{quoted(recipient)}]", more=f"    timeout: {quoted(timeout)}\n")
    parsed = parse(MINIMAL + section, "mail.yaml")
    problems = errors(parsed.problems)
    if parsed.description is None:
        assert problems and {p.location.key for p in problems} <= {
            "alerts[0].recipients[0]", "alerts[0].timeout"}, problems
        return
    [a] = parsed.description.alerts
    [rendered] = build_cib(parsed.description).iterfind("configuration/alerts/alert")
    value = rendered.find("recipient").get("value")
    if kind == "file":
        assert value.startswith("/") and ".." not in value.split("/") and "//" not in value
        assert not any(value == r or value.startswith(r + "/")
                       for r in ("/var/lib/pacemaker", "/proc", "/sys", "/dev"))
    else:
        assert agent.ADDRESS.fullmatch(value) and value == recipient
    assert 1000 <= duration_ms(timeout) <= MAX_MS and a.timeout == timeout
    assert nvpairs(rendered, "meta_attributes")["timeout"] == timeout
    assert nvpairs(rendered, "instance_attributes")[agent.TIMEOUT_MS] == str(int(duration_ms(timeout)))


# -- plan and apply: pacemail's part of the CIB -------------------------------------------

@pytest.fixture
def cib_path(tmp_path) -> Path:
    path = tmp_path / "cib.xml"
    path.write_text(FOREIGN.replace("</configuration>", f"<alerts>{HAND_MADE}</alerts></configuration>"))
    return path


def live_alerts(path: Path) -> dict[str, etree._Element]:
    root = etree.parse(str(path)).getroot()
    return {a.get("id"): a for a in root.iterfind("configuration/alerts/alert")}


@needs_pacemaker
def test_alerts_round_trip_and_a_hand_made_alert_is_left_alone(cib_path):
    run = runner.cib_file(cib_path)
    hand_made = live_alerts(cib_path)["ops-alert"]
    with_alerts = described(TEMPLATE + ALERTS)
    plan = apply.plan_live(with_alerts, run=run)
    added = [(c.action, c.kind, c.id, c.what) for c in plan.changes if c.kind == "alerts"]
    assert added == [("add", "alerts", "pm-failover-log",
                      "file alert to /var/log/pacemaker/pacemail-alerts.log, /var/log/x.log"),
                     ("add", "alerts", "pm-admins", "smtp alert to ops@example.org")]
    assert apply.apply(with_alerts, run=run).pushed           # real cibadmin, on the file
    assert apply.plan_live(with_alerts, run=run).changes == ()   # render -> push -> no change
    assert set(live_alerts(cib_path)) == {"ops-alert", "pm-failover-log", "pm-admins"}

    changed = described(TEMPLATE + ALERTS.replace("[ops@example.org]", "[ops@example.org, root@node1]"))
    [change] = apply.plan_live(changed, run=run).changes
    assert (change.action, change.id) == ("change", "pm-admins")
    assert change.fields == (("recipients", "ops@example.org", "ops@example.org, root@node1"),)

    assert apply.apply(described(TEMPLATE), run=run).pushed   # alerts gone from the description
    [(kept, element)] = live_alerts(cib_path).items()         # pacemail's removed, the other kept
    assert kept == "ops-alert" and merge.same(element, hand_made)
    assert apply.plan_live(described(TEMPLATE), run=run).changes == ()


def test_an_unmarked_pm_alert_is_a_collision_not_overwritten():
    """Someone's alert that happens to be called pm-admins is not pacemail's (no mark)."""
    live = etree.fromstring(FOREIGN.replace(
        "</configuration>", f"<alerts>{HAND_MADE.replace('ops-alert', 'pm-admins')}</alerts></configuration>"))
    merged = merge.merge(live, build_cib(described(TEMPLATE + ALERTS)))
    assert merged.collisions == ("pm-admins",)
    theirs = merged.cib.find("configuration/alerts/alert[@id='pm-admins']")
    assert theirs.get("path").endswith("alert_file.sh.sample")


@needs_pacemaker
def test_remove_owned_takes_pacemails_alerts_only(cib_path):
    run = runner.cib_file(cib_path)
    assert apply.apply(described(TEMPLATE + ALERTS), run=run).pushed
    cib.create("alerts", HAND_MADE.replace("ops-alert", "ops-alert-2"), run=run)
    assert apply.remove_owned(run=run)
    assert set(live_alerts(cib_path)) == {"ops-alert", "ops-alert-2"}
