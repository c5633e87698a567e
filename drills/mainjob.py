"""The main job on the local lab: cluster up, description checked, a failover drill, a report.

This is what README's first command runs. Until the mail agents and
``pacemail apply`` land, the drilled mail stack is the stand-in
(:mod:`pacemail.drills.standin`: real postfix and dovecot under the
resource-agents shell agents, on the mail VIP of the 3-node template), with
the drill's SMTP/IMAP workload and invariant checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pacemail.drills import engine, report, target
from pacemail.drills.scenarios import SCENARIOS
from pacemail.lab import lifecycle

TEMPLATE = "mail-3node.yaml"
SCENARIO = "power-off-active"


@dataclass
class Outcome:
    run: dict
    paths: dict[str, Path]
    lab_up_s: float
    template_problems: list[str]


def run(lab_name: str, report_dir: Path, progress=lambda msg: None) -> Outcome:
    from pacemail.controller import build, description, live  # lxml only on this path

    progress("bringing the lab up (3 nodes, STONITH on)")
    up = lifecycle.up(lab_name, 3, progress=progress)
    progress(f"lab up: quorum and DC after {up.seconds_to_quorum:.1f}s")

    text = resources.files("pacemail.cib_templates").joinpath(TEMPLATE).read_text()
    parsed = description.parse(text, TEMPLATE)
    problems = [str(p) for p in parsed.problems]
    verification = live.verify(build.render(parsed.description)) if parsed.description else None
    if verification is None or not verification.ok:
        raise RuntimeError(f"{TEMPLATE} does not verify: {problems or verification.errors}")
    progress(f"{TEMPLATE} renders to a CIB that crm_verify accepts")

    vip = parsed.description.vips[0].address
    t = target.standin_target(up.lab.name, vip)
    progress(f"stand-in mail stack placed on {vip}; running the {SCENARIO} drill")
    result = engine.run(t, SCENARIOS[SCENARIO], progress)
    data = report.build([result], {
        "target": f"lab {up.lab.name} (3 nodes, namespaces, STONITH via fence_pacemail_lab)",
        "lab_up_s": round(up.seconds_to_quorum, 1),
        "stack": f"stand-in: ocf:pacemail:mount + ocf:pacemail:vip {vip} + "
                 "ocf:heartbeat:postfix + ocf:heartbeat:dovecot",
    })
    return Outcome(result, report.write(data, report_dir), up.seconds_to_quorum, problems)
