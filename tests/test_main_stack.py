"""The main job's mail stack on the session lab: mail-3node.yaml applied, running, drilled.

The template goes in as the main job applies it (:func:`mainjob.lab_description`):
``pacemail apply`` through node1, then the whole stack must run on one node,
started in the tree's order, and answer SMTP and IMAP on the mail VIP and SQL
on ProxySQL's VIP from the client namespace; the controller daemon clears a DRBD fence constraint left
behind while every peer is UpToDate; a killed postfix or dovecot master is
restarted in place,
and ``power-off-active`` must lose no message. Afterwards every
pm- element is removed again (the stack stopped first, in order) and the three
nodes are online, for the tests that follow.
"""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest

from pacemail import drillmail
from pacemail.controller import daemon, serve
from pacemail.drills import checks, client, engine, mainjob, report, target
from pacemail.drills.scenarios import SCENARIOS, sequence
from pacemail.fencing.constraint import Fence, constraint_id
from pacemail.lab import cluster, proxysql, switchd
from pacemail.lab.nodes import node_run, node_runner
from pacemail.pacemaker import cib, resources

from mail_lab import in_client, sh

# Top-level pm- elements of every configuration section (cluster options, resources,
# constraints, fencing levels, defaults); nested ones go with their parent.
# pacemail's elements, and any constraint on them (a DRBD fence-peer constraint on the clone)
PM_ELEMENTS = ("/cib/configuration/*/*[starts-with(@id, 'pm-')]"
               " | /cib/configuration/constraints/*[starts-with(@rsc, 'pm-')]")
STOP_WAIT_S = 120.0
LMTP_BLOCK = "pm_test_lmtp_refused"
OUTAGE_S = 20.0
# postfix's delivery agents at nice 19 on qmgr's CPU: descheduled between reporting a
# deferral and closing the queue file, as on a loaded server (qmgr stays at nice 0)
POSTFIX_PROCS = ("for i in $(seq 100); do m=$(pgrep -o -x master) && q=$(pgrep -x qmgr) && break; "
                 "sleep 0.1; done; [ -n \"$m\" ] && [ -n \"$q\" ] || "
                 "{ echo 'no postfix master and qmgr' >&2; ps -eo pid,ppid,comm >&2; exit 1; }; ")
STARVE_AGENTS = POSTFIX_PROCS + ("for p in $m $(pgrep -P $m); do "
                                 "taskset -cp 0 $p >/dev/null || true; "   # children come and go
                                 "[ $p = $q ] || renice -n 19 -p $p >/dev/null || true; done")
UNSTARVE_AGENTS = POSTFIX_PROCS + ("for p in $m $(pgrep -P $m); do "
                                   "taskset -cp 0-$(($(nproc) - 1)) $p >/dev/null || true; "
                                   "renice -n 0 -p $p >/dev/null || true; done")
STARTED = re.compile(r"^(\w+ +\d+ [\d:.]+) .*Result of (start|promote) operation for (pm-[\w-]+) "
                     r"on \w+: ok", re.M)


@pytest.fixture(scope="module")
def stack(lab):
    database = proxysql.start_database(lab)
    try:
        t = target.pacemail_target(lab.name, mainjob.lab_description(lab.name))
        try:
            node = cluster.wait_for(lambda: mainjob.running_on(lab, t.stack.resources),
                                    mainjob.STACK_WAIT_S, "the mail stack on one node", interval=1.0)
            yield t, node
        finally:
            remove(lab, t.stack.resources + ("pm-drbd",))
    finally:
        database.stop()     # its port is the proxysql agent tests' backend port too


def remove(lab, ids: tuple[str, ...]) -> None:
    """Stop the stack in order (DRBD's clone stopped takes everything above it), then delete."""
    run = node_runner(lab.name, "node1")
    resources.set_meta("pm-drbd-clone", "target-role", "Stopped", run=run)
    cluster.wait_for(lambda: not set(ids) & set(cluster.crm_view(lab.name, "node1").resources),
                     STOP_WAIT_S, "the mail stack stopped", interval=1.0)
    run(["cibadmin", "--delete-all", "--xpath", PM_ELEMENTS, "--force"], timeout=60)
    assert b'id="pm-' not in cib.get("configuration", run=run)
    cluster.wait_for_quorum(lab.name, [n.name for n in lab.nodes], 60)


def start_order(lab, node: str) -> list[str]:
    """pm- resources in the order their start (or promote) succeeded on ``node``, last run."""
    log = node_run(lab.name, node, ["cat", "/var/log/pacemaker/pacemaker.log"], timeout=10).stdout
    order: dict[str, str] = {}
    for stamp, action, rid in STARTED.findall(log):
        if rid != "pm-drbd" or action == "promote":
            order[rid] = stamp
    return sorted(order, key=order.get)


def started(lab, node: str, wanted: set[str]) -> list[str] | None:
    order = [r for r in start_order(lab, node) if r in wanted]
    return order if set(order) == wanted else None


def test_the_whole_stack_runs_on_one_node_in_the_tree_order(lab, stack):
    t, node = stack
    view = cluster.crm_view(lab.name, node)
    for rid in t.stack.resources:
        assert view.resources.get(rid) == [node], (rid, view.resources)
    wanted = set(t.stack.resources) | {"pm-drbd"}
    order = cluster.wait_for(lambda: started(lab, node, wanted), 15,  # the log may trail crm_mon
                             f"every start in {node}'s log")
    assert order.index("pm-drbd") < order.index("pm-mount") < order.index("pm-vip-mail")
    assert order.index("pm-vip-mail") < order.index("pm-dovecot") < order.index("pm-postfix-main")


def test_smtp_and_imap_answer_on_the_mail_vip_from_the_client(lab, stack):
    t, _ = stack
    probe = ("import socket, sys\n"
             "for port in (25, 143):\n"
             "    with socket.create_connection((sys.argv[1], port), timeout=5) as s:\n"
             "        print(s.makefile('rb').readline().decode().strip())\n")
    done = in_client(lab, ["python3", "-c", probe, t.stack.address], capture_output=True,
                     text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    smtp, imap = done.stdout.splitlines()
    assert smtp.startswith("220 ")
    assert imap.startswith("* OK")


def test_sql_through_the_proxysql_vip_reaches_the_user_database(lab, stack):
    """ProxySQL (the lab's double) on its own VIP, colocated with the stack, fronts MariaDB."""
    t, node = stack
    # the mail stack is up before ProxySQL, which starts beside it: wait for ProxySQL itself
    cluster.wait_for(lambda: cluster.crm_view(lab.name, node).resources.get("pm-proxysql")
                     == [node], 60, "pm-proxysql running with the stack", interval=0.5)
    vip = mainjob.lab_description(lab.name).proxysql.vip.address
    password = proxysql.database_password(lab)

    def query():
        return in_client(lab, ["mariadb", "--no-defaults", "-h", vip, "-P", "6033", "-u",
                               proxysql.USER, f"-p{password}", "-N", "-B", "-e", "SELECT 40 + 2"],
                         capture_output=True, text=True, timeout=30)
    done = query()
    deadline = time.monotonic() + 20      # a start Pacemaker shows as running may still be listening
    while done.returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        done = query()
    assert done.returncode == 0 and done.stdout.strip() == "42", done.stderr
    assert cluster.crm_view(lab.name, node).resources.get("pm-proxysql") == [node]


def test_the_daemon_clears_a_drbd_fence_once_the_peers_are_up_to_date(lab, stack, tmp_path):
    """What a fence-peer handler leaves when its unfence counterpart failed."""
    t, node = stack
    dc = cluster.wait_for_quorum(lab.name, [n.name for n in lab.nodes], 60).dc
    run = node_runner(lab.name, dc)
    fence = Fence("mail", "pm-drbd-clone", frozenset({node}))
    cib.create("constraints", fence.xml(), run=run)
    d = serve.Daemon(daemon.Config(mainjob.lab_description(lab.name)), 1.0, run=run, secrets_dir=tmp_path)

    def cleared():
        d.cycle()
        return d.state.fences_cleared

    cluster.wait_for(cleared, 60, "the stale fence cleared", interval=1.0)
    assert constraint_id("mail", "pm-drbd-clone").encode() not in cib.get("constraints", run=run)
    assert mainjob.running_on(lab, t.stack.resources) == node      # nothing moved


@pytest.mark.parametrize("name, down, up", [("kill-postfix", "smtp", "imap"),
                                            ("kill-dovecot", "imap", "smtp")])
def test_a_killed_daemon_is_restarted_in_place(lab, stack, name, down, up):
    t, node = stack
    r = engine.run(t, SCENARIOS[name], print)
    assert r["lost"] == 0, r["lost_numbers"]
    assert r["violations"] == [] and r["passed"]
    assert r["accepted"] > 0 and r["delivered"] == r["accepted"]
    assert r["active_before"] == r["active_after"] == node and r["fenced"] == []
    assert r["downtime_s"][down] > 0.5 and r["detect_s"] is not None
    assert r["downtime_s"][up] is not None and r["downtime_s"][up] < r["downtime_s"][down]


def test_mail_accepted_while_lmtp_refuses_is_in_the_inbox_soon_after(lab, stack):
    """What a user checks after dovecot was away: every message the server accepted
    meanwhile is in the inbox within seconds of dovecot answering again.

    LMTP refuses for a while (a firewall rule in the node: Pacemaker restarts nothing)
    as the client sends as fast as it can, so postfix defers message after message. A
    deferred queue file that qmgr takes back before the delivery agent that deferred it
    has closed it is "skipped, still being delivered" and parked for 60 s or more: the
    lab's postfix backoff under 3 s made that possible (a kill-dovecot drill missed a
    message after 30 s); delivery agents at nice 19 make it likely, as load does.
    """
    t, node = stack
    run_id = f"lmtp{uuid.uuid4().hex[:8]}"
    block = (f"table ip {LMTP_BLOCK} {{\n chain out {{\n  type filter hook output priority 0;\n"
             f"  ip daddr 127.0.0.1 tcp dport {drillmail.LMTP_PORT} reject with tcp reset\n }}\n}}\n")
    refusals = lambda: int(sh(lab, node, "grep -c 'status=deferred (.*Connection refused' "  # noqa: E731
                                         "/var/log/postfix.log || true").stdout)
    refused_before = refusals()
    sh(lab, node, STARVE_AGENTS)
    try:
        node_run(lab.name, node, ["nft", "-f", "-"], input=block, timeout=10)
        try:
            workload = client.Workload(lab.client_netns, t.stack.address, run_id,
                                       messages=400, duration=OUTAGE_S, interval=0.05)
            time.sleep(OUTAGE_S)
            accepted = checks.accepted(workload.stop())
        finally:
            node_run(lab.name, node, ["nft", "delete", "table", "ip", LMTP_BLOCK], timeout=10,
                     check=False)
        refused = refusals() - refused_before
        mailbox = client.settle_mailbox(lab.client_netns, t.stack.address, run_id, accepted,
                                        wait_s=30.0)
    finally:
        sh(lab, node, UNSTARVE_AGENTS, check=False)
    d = checks.delivery(accepted, mailbox)
    assert len(accepted) > 50 and refused > 0, (len(accepted), refused)   # LMTP did refuse
    skipped = sh(lab, node, "grep 'skipped, still being delivered' /var/log/postfix.log "
                            "| tail -5 || true").stdout
    assert d.lost == (), (f"{len(d.lost)} of {d.accepted} accepted messages not in the inbox "
                          f"30 s after LMTP answered again: {d.lost[:10]}; {skipped}")


def test_power_off_active_loses_nothing(lab, stack):
    t, node = stack
    r = engine.run(t, SCENARIOS["power-off-active"], print)
    assert r["stack"] == "pacemail"
    assert r["lost"] == 0, r["lost_numbers"]
    assert r["violations"] == []
    assert r["accepted"] > 0 and r["delivered"] == r["accepted"]
    assert r["active_before"] == node and r["active_after"] != node
    assert node in r["fenced"] and r["fence_s"] is not None
    assert r["downtime_s"]["smtp"] > 0.5 and r["downtime_s"]["imap"] > 0.5
    assert r["recover_s"] >= r["fence_s"] and r["passed"]


def test_random_faults_in_sequence_each_recover_and_lose_nothing(lab, stack, tmp_path):
    """Last in this module: it leaves the stack wherever the faults took it."""
    t, _ = stack
    plan = sequence("random", lab, 3, seed=11)
    runs = []
    for s in plan:
        runs.append(engine.run(t, s, print))
        r = runs[-1]
        assert r["lost"] == 0 and r["violations"] == [] and r["passed"], (s.name, r)
        assert r["delivered"] == r["accepted"] > 0
        assert mainjob.running_on(lab, t.stack.resources)     # whole again before the next fault
    data = report.build(runs, {"scenario": "random", "seed": 11})
    assert [r["scenario"] for r in data["runs"]] == [s.name for s in plan]
    summary = data["summary"]
    assert summary["runs"] == summary["passed"] == 3 and summary["lost"] == summary["violations"] == 0
    assert summary["downtime_imap"]["n"] == 3 and summary["downtime_imap"]["median"] > 0.5
    text = report.write(data, tmp_path)["markdown"].read_text()
    assert all(f"| {s.name} |" in text for s in plan)            # a row per fault


PLACEMENT_CYCLES = int(os.environ.get("PACEMAIL_PLACEMENT_CYCLES", "3"))


def whole(t, sampler) -> str | None:
    """The node the sampled stack runs on whole, if it does."""
    return sampler.samples and checks.holder(sampler.samples[-1], t.kinds)


def power_off(lab, t, node: str) -> float:
    """Pull ``node``'s plug; returns when, once the survivors have fenced it (booted before
    that, the fencing, action off in the lab, would power the repaired node off again)."""
    off_at = time.time()
    assert switchd.request(str(lab.switch_socket), "off", node)["ok"]
    cluster.wait_for(lambda: node in t.fenced(off_at), 60, f"{node} fenced")
    return off_at


def back_on(lab, t, node: str) -> None:
    assert switchd.request(str(lab.switch_socket), "on", node)["ok"]
    t.wait_rejoined(150)
    t.wait_redundant(150)                 # settled, every DRBD replica UpToDate again


def unforced(moves, failovers) -> list[str]:
    """Moves outside every (fault, stack back) interval: nobody chose them."""
    return [f"{m[1]} -> {m[2]} at {time.strftime('%H:%M:%S', time.localtime(m[0]))}"
            for m in moves if not any(off <= m[0] <= back for off, back in failovers)]


def test_the_stack_moves_only_when_its_node_fails(lab, stack):
    """The shipped template (failback: false), fencing on, sampled ten times a second through
    PLACEMENT_CYCLES cycles of: a standby node powered off (fenced), back on and resynced;
    the active node powered off, the stack taken over, the old active back and resynced.
    Exactly one move per active failure, onto a survivor; none for a standby's return or
    the old active's (each move is a mail outage nobody chose)."""
    t, _ = stack
    sampler = t.sampler()
    failovers = []    # (power-off time, stack back time, from, to)
    try:
        t.wait_redundant(120)
        for i in range(PLACEMENT_CYCLES):
            active = cluster.wait_for(lambda: whole(t, sampler), 60, "the stack whole on one node")
            standby = next(n.name for n in lab.nodes if n.name != active)
            power_off(lab, t, standby)
            back_on(lab, t, standby)
            active = cluster.wait_for(lambda: whole(t, sampler), 60, "the stack whole on one node")
            off_at = time.time()
            assert switchd.request(str(lab.switch_socket), "off", active)["ok"]
            new = cluster.wait_for(lambda: (n := whole(t, sampler)) and n != active and n, 120,
                                   f"the stack taken over from {active}")
            failovers.append((off_at, time.time(), active, new))
            cluster.wait_for(lambda: active in t.fenced(off_at), 60, f"{active} fenced")
            back_on(lab, t, active)
            print(f"cycle {i + 1}: {active} -> {new} in {failovers[-1][1] - off_at:.1f}s")
        time.sleep(10)                        # a late move after the last rejoin counts too
    finally:
        samples = sampler.stop()
    moves = checks.moves(samples, t.kinds)
    stray = unforced(moves, [(off, back) for off, back, _, _ in failovers])
    assert stray == [], f"moves without a fault on the stack's node: {stray}"
    assert [(m[1], m[2]) for m in moves] == [(a, b) for _, _, a, b in failovers]


def windowed(lab_name: str, preferred: str, weekdays: str):
    """The template as the lab runs it, preferring ``preferred``, failback only on ``weekdays``."""
    from importlib import resources

    from pacemail.controller import description

    text = resources.files("pacemail.cib_templates").joinpath(mainjob.TEMPLATE).read_text()
    text = text.replace("preferred_node: node1", f"preferred_node: {preferred}")
    text = text.replace("failback: false", f"failback: {{weekdays: '{weekdays}'}}")
    parsed = description.parse(text, mainjob.TEMPLATE)
    assert parsed.description, parsed.problems
    return target.as_lab_runs(parsed.description, lab_name)


def test_failback_waits_for_its_window_then_moves_back_once(lab, stack):
    """``failback: {weekdays: ...}``: the preferred node, failed and repaired, does not take the
    stack back while the window is closed (a weekday that is neither today nor tomorrow);
    once the description opens the window (every weekday), it takes it back exactly once
    and keeps it. The template is applied again at the end (failback: false)."""
    t, _ = stack
    closed = str((time.localtime().tm_wday + 3) % 7 + 1)   # date_spec: 1 is Monday
    sampler = t.sampler()
    try:
        t.wait_redundant(120)
        home = cluster.wait_for(lambda: whole(t, sampler), 60, "the stack whole on one node")
        t = target.pacemail_target(lab.name, windowed(lab.name, home, closed))
        off_at = power_off(lab, t, home)
        away = cluster.wait_for(lambda: (n := whole(t, sampler)) and n != home and n, 120,
                                f"the stack taken over from {home}")
        taken = time.time()
        back_on(lab, t, home)
        time.sleep(20)                        # window closed: the stack stays on `away`
        assert whole(t, sampler) == away
        opened = time.time()
        t = target.pacemail_target(lab.name, windowed(lab.name, home, "1-7"))
        cluster.wait_for(lambda: whole(t, sampler) == home, 120, f"the stack back on {home}")
        back = time.time()
        time.sleep(20)                        # and it stays there
    finally:
        samples = sampler.stop()
        target.pacemail_target(lab.name, mainjob.lab_description(lab.name))
    moves = checks.moves(samples, t.kinds)
    stray = unforced(moves, [(off_at, taken), (opened, back)])
    assert stray == [], f"moves outside the failure and the window: {stray}"
    assert [(m[1], m[2]) for m in moves] == [(home, away), (away, home)]
