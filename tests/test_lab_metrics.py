"""The controller daemon's /metrics on a lab node, scraped and parsed as Prometheus does.

The mail stack (the 3-node template as the lab runs it, without ProxySQL) runs on
one node; the daemon runs on another, serving HTTP inside that node. Its scrape
must show what an admin would check on a dashboard: three nodes online, the
stack Started on one node with DRBD Promoted there, corosync quorate, DRBD
UpToDate on the daemon's node, and the daemon itself seeing the stack whole. Then
the active node loses power: the scrape must show its fencing and the failover
the daemon saw (from where to where, how long), without any drill. A wait that
times out shows the last scrape's lines it looked at, and the daemon's log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pacemail.controller.description import parse
from pacemail.drills import mainjob, target
from pacemail.lab import cluster, switchd
from pacemail.lab.nodes import enter_argv, node_env, node_run

from test_controller_daemon import LAB_TEMPLATE, PACEMAIL
from test_main_stack import back_on, remove

LISTEN = "127.0.0.1:9723"
SOURCES = {"crm_mon", "corosync", "drbd", "fencing", "reports"}


def scrape(lab_name: str, node: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of the daemon's /metrics on ``node``; {} when it does
    not answer (yet)."""
    done = node_run(lab_name, node, ["curl", "-sf", "--max-time", "3", f"http://{LISTEN}/metrics"],
                    timeout=10, check=False)
    if done.returncode != 0:
        return {}
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(done.stdout):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def where(m, name: str, **labels) -> list[tuple[dict[str, str], float]]:
    return [(got, v) for got, v in m.get(name, ())
            if all(got.get(k) == w for k, w in labels.items())]


def ready(m, ids: tuple[str, ...]) -> bool:
    """Every source read, and the stack whole on one node in the scrape: as crm_mon shows it
    and as the daemon sees it (what its failover figures start from)."""
    up = {labels["source"] for labels, v in m.get("pacemail_scrape_source_up", ()) if v == 1}
    nodes = {labels["node"] for r in ids
             for labels, v in where(m, "pacemail_pacemaker_resources", resource=r,
                                    status="active") if v == 1}
    nodes |= {labels["node"] for labels, v in where(m, "pacemail_pacemaker_resources",
                                                   resource="pm-drbd", role="promoted",
                                                   status="active") if v == 1}
    return (up == SOURCES and len(nodes) == 1
            and m.get("pacemail_controller_stack_whole") == [({}, 1.0)])


SHOWN = ("pacemail_scrape_source_up", "pacemail_controller_cycles_total",
         "pacemail_controller_cycle_errors_total", "pacemail_controller_last_cycle_success",
         "pacemail_controller_stack_whole", "pacemail_controller_failovers_total",
         "pacemail_pacemaker_fence_", "pacemail_failover_")


def shown(m, ids: tuple[str, ...]) -> str:
    """The scrape's lines the waits look at: sources, the daemon's cycles and its view of the
    stack, nodes online or unclean, where the stack's resources are active (with their
    role), fencing, failover."""
    lines = []
    for name, samples in sorted(m.items()):
        for labels, v in samples:
            if name == "pacemail_pacemaker_nodes":
                keep = labels["status"] in ("online", "unclean")
            elif name == "pacemail_pacemaker_resources":
                keep = labels["status"] == "active" and labels["resource"] in ids + ("pm-drbd",)
            else:
                keep = name.startswith(SHOWN)
            if keep:
                text = ",".join(f'{k}="{w}"' for k, w in labels.items())
                lines.append(f"{name}{{{text}}} {v}" if text else f"{name} {v}")
    return "\n".join(lines) or "(no answer)"


def test_the_daemon_serves_the_cluster_and_a_failover_to_prometheus(lab, tmp_path):
    d = target.as_lab_runs(parse(LAB_TEMPLATE, "lab.yaml").description, lab.name)
    t = target.pacemail_target(lab.name, d)
    ids = t.stack.resources
    try:
        active = cluster.wait_for(lambda: mainjob.running_on(lab, ids), mainjob.STACK_WAIT_S,
                                  "the mail stack on one node", interval=1.0)
        t.wait_redundant(120)
        watcher = next(n.name for n in lab.nodes if n.name != active)
        path = Path(f"/tmp/pacemail-metrics-{lab.name}.yaml")   # a node's /tmp is the host's
        path.write_text(LAB_TEMPLATE)
        log = tmp_path / "daemon.log"
        with open(log, "ab") as stderr:
            daemon = subprocess.Popen(
                enter_argv(lab.name, watcher, [PACEMAIL, "controller", "run", "--description",
                                               str(path), "--interval", "1", "--call-timeout", "5",
                                               "--listen", LISTEN, "--reports", str(tmp_path)]),
                env=node_env(lab.name), stdout=subprocess.DEVNULL, stderr=stderr)

        def wait(check, timeout: float, what: str):
            last = {}

            def probe():
                last["m"] = scrape(lab.name, watcher)
                return check(last["m"])

            try:
                return cluster.wait_for(probe, timeout, what)
            except TimeoutError as exc:
                pytest.fail(f"{exc}; the last scrape:\n{shown(last.get('m', {}), ids)}\n"
                            "daemon log:\n" + "\n".join(log.read_text().splitlines()[-30:]))

        powered_off = False
        try:
            m = wait(lambda m: ready(m, ids) and m, 60,
                     "the daemon's scrape with every source and the stack, seen whole")
            online = where(m, "pacemail_pacemaker_nodes", status="online")
            assert sum(v for _, v in online) == 3, online
            for rid in ids:
                started = where(m, "pacemail_pacemaker_resources", resource=rid, node=active,
                                role="started", status="active")
                assert [v for _, v in started] == [1], rid
            assert [v for _, v in where(m, "pacemail_pacemaker_resources", resource="pm-drbd",
                                        node=active, role="promoted", status="active")] == [1]
            assert m["pacemail_corosync_quorate"] == [({}, 1.0)]
            assert where(m, "pacemail_corosync_quorum_votes", type="total_votes")[0][1] == 3
            assert where(m, "pacemail_drbd_resources", resource=d.storage.drbd_resource,
                         role="Secondary", disk_state="uptodate") != []
            peers = where(m, "pacemail_drbd_connections", resource=d.storage.drbd_resource)
            assert len(peers) == 2 and {p["peer_disk_state"] for p, _ in peers} == {"uptodate"}
            assert {p["peer_role"] for p, _ in peers} == {"Primary", "Secondary"}
            assert "pacemail_failover_last_duration_seconds" not in m

            off_at = time.time()
            assert switchd.request(str(lab.switch_socket), "off", active)["ok"]
            powered_off = True

            def failed_over(m):
                fenced = where(m, "pacemail_pacemaker_fence_last_timestamp_seconds",
                               target=active, status="success")
                return (m if fenced and max(v for _, v in fenced) >= int(off_at)
                        and "pacemail_failover_last_duration_seconds" in m else None)

            m = wait(failed_over, 180, f"{active}'s fencing (completed at or after "
                     f"{int(off_at)}) and the failover in the scrape")
            (info, _), = m["pacemail_failover_last_info"]
            assert info["from_node"] == active and info["to_node"] not in ("", active)
            (_, duration), = m["pacemail_failover_last_duration_seconds"]
            (_, began), = m["pacemail_failover_last_timestamp_seconds"]
            assert 0 < duration < time.time() - off_at + 5 and began >= off_at - 5
            assert where(m, "pacemail_failover_last_resource_down_seconds",
                         resource="pm-postfix-main")
            assert where(m, "pacemail_pacemaker_nodes", node=active, status="online")[0][1] == 0
            assert m["pacemail_controller_stack_whole"] == [({}, 1.0)]
        finally:
            children = Path(f"/proc/{daemon.pid}/task/{daemon.pid}/children").read_text().split()
            for pid in children:                      # the daemon itself, nsenter's child
                os.kill(int(pid), signal.SIGTERM)
            daemon.wait(10)
            if powered_off:
                back_on(lab, t, active)
    finally:
        remove(lab, ids + ("pm-drbd",))
