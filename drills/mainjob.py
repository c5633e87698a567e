"""The main job on the local lab: cluster up, description checked, a failover drill, a report.

This is what README's first command runs. Until the mail agents and
``pacemail apply`` land, the drill's service is a stand-in pair placed with
pcs: a VIP (ocf:heartbeat:IPaddr2) and ocf:pacemail:dummy, colocated and
ordered, on the mail VIP address of the 3-node template.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pacemail.drills import power_off, report
from pacemail.lab import cluster, lifecycle
from pacemail.lab.nodes import node_run

TEMPLATE = "mail-3node.yaml"
VIP = "198.18.0.100"
STAND_IN = ("pm-demo-vip", "pm-demo-service")


@dataclass
class Outcome:
    result: power_off.Result
    json_path: Path
    markdown_path: Path
    lab_up_s: float
    template_problems: list[str]


def run(lab_name: str, report_dir: Path, progress=lambda msg: None) -> Outcome:
    from pacemail.controller import build, description, live  # lxml only on this path

    progress("bringing the lab up (3 nodes, STONITH on)")
    up = lifecycle.up(lab_name, 3, progress=progress)
    lab = up.lab
    progress(f"lab up: quorum and DC after {up.seconds_to_quorum:.1f}s")

    text = resources.files("pacemail.cib_templates").joinpath(TEMPLATE).read_text()
    parsed = description.parse(text, TEMPLATE)
    problems = [str(p) for p in parsed.problems]
    verification = live.verify(build.render(parsed.description)) if parsed.description else None
    if verification is None or not verification.ok:
        raise RuntimeError(f"{TEMPLATE} does not verify: {problems or verification.errors}")
    progress(f"{TEMPLATE} renders to a CIB that crm_verify accepts")

    vip, service = STAND_IN
    pcs = lambda *args: node_run(lab.name, "node1", ["pcs", *args], timeout=60)  # noqa: E731
    pcs("resource", "create", vip, "ocf:heartbeat:IPaddr2", f"ip={VIP}", "cidr_netmask=24",
        "nic=eth0", "op", "monitor", "interval=2s")
    pcs("resource", "create", service, "ocf:pacemail:dummy", "op", "monitor", "interval=2s")
    pcs("constraint", "colocation", "add", service, "with", vip, "INFINITY")
    pcs("constraint", "order", vip, "then", service)
    progress("stand-in service placed; running the power-off-active drill")
    result = power_off.run(lab, list(STAND_IN), VIP, progress=progress)
    json_path, md_path = report.write([result.as_dict()], report_dir, {
        "target": f"lab {lab.name} (3 nodes, namespaces, STONITH via fence_pacemail_lab)",
        "lab_up_s": round(up.seconds_to_quorum, 1),
        "service": f"stand-in: IPaddr2 {VIP} + ocf:pacemail:dummy",
    })
    cluster.wait_for_quorum(lab.name, [n.name for n in lab.nodes], 60)
    return Outcome(result, json_path, md_path, up.seconds_to_quorum, problems)
