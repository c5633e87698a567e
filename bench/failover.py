"""power-off-active, repeated: the downtime distribution of pacemail's stack with fencing.

    .venv/bin/python bench/failover.py LAB [--repeat 20] [--report DIR]

Brings LAB up (clearing a stale one), applies the main job's description
(cib-templates/mail-3node.yaml as the lab runs it), then pulls the plug on the
active node REPEAT times. Each run is split into what it is made of, from the
fault (t=0): detection (corosync's token and consensus: the survivors' new
membership), the scheduler (from detection to the controller's fencing
request), the fence device (from the request to its confirmation), the
promotion (from the fencing to DRBD promoted on the new node), the starts
(mount, VIP, dovecot, postfix: recover - promoted) and the client's own retry
(SMTP downtime - recover). Prints a table and the median/p95/max; writes the
drill report (JSON, Markdown, one SVG per run) with the corosync timing in effect.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from pacemail.drills import engine, mainjob, report, stats, steady, target
from pacemail.drills.scenarios import SCENARIOS
from pacemail.lab import cluster, lifecycle, proxysql
from pacemail.lab.topology import lock_name
from pacemail.runlock import hold

PARTS = ("detect", "scheduler", "fence device", "promote", "starts", "client", "smtp down",
         "imap down")


def parts(r: dict) -> dict[str, float | None]:
    """A run's figures (seconds from the fault) as the steps they are made of, each from the
    previous one's end; None where either end was not measured."""
    smtp = r["downtime_s"]["smtp"]
    ends = tuple(r.get(k) for k in ("detect_s", "fence_requested_s", "fence_s", "promoted_s",
                                    "recover_s")) + (smtp,)
    steps = [ends[0]] + [round(b - a, 2) if a is not None and b is not None else None
                         for a, b in zip(ends, ends[1:])]
    return {**dict(zip(PARTS, steps)), "smtp down": smtp, "imap down": r["downtime_s"]["imap"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lab")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--report", type=Path, default=Path("reports"))
    args = ap.parse_args()
    with hold(lock_name(args.lab)):   # the whole bench: no other run on this lab meanwhile
        bench(args)


def bench(args) -> None:
    lab = lifecycle.up(args.lab, 3).lab
    proxysql.start_database(lab)
    t = target.pacemail_target(lab.name, mainjob.lab_description(lab.name))
    cluster.wait_for(lambda: mainjob.running_on(lab, t.stack.resources), mainjob.STACK_WAIT_S,
                     "the mail stack on one node", interval=1.0)
    timing = steady.corosync_timing(lab).summary()
    print(f"corosync: {timing}")
    print("| run | " + " | ".join(PARTS) + " | lost | verdict |")
    print("|---|" + "---|" * (len(PARTS) + 2))
    runs, table = [], []
    for i in range(1, args.repeat + 1):
        r = engine.run(t, SCENARIOS["power-off-active"], lambda *_: None)
        runs.append(r)
        row = parts(r)
        table.append(row)
        cells = " | ".join("-" if v is None else f"{v:.2f}" for v in row.values())
        print(f"| {i} | {cells} | {r['lost']} | {'PASS' if r['passed'] else 'FAIL'} |", flush=True)
    for name in ("median", "p95", "max"):
        cells = []
        for part in PARTS:
            values = [row[part] for row in table if row[part] is not None]
            if not values:
                cells.append("-")
                continue
            value = {"median": statistics.median(values), "max": max(values),
                     "p95": stats.percentile(values, 95)}[name]
            cells.append(f"{value:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " | | |")
    lost = sum(r["lost"] for r in runs)
    print(f"\n{sum(r['passed'] for r in runs)}/{len(runs)} passed, {lost} lost over all runs")
    data = report.build(runs, {"target": f"lab {lab.name}", "stack": "pacemail",
                               "scenario": "power-off-active", "bench": "bench/failover.py",
                               "corosync": timing})
    paths = report.write(data, args.report)
    print("report: " + str(paths["markdown"]))


if __name__ == "__main__":
    main()
