"""The main job on the local lab: cluster up, the mail template applied, a failover drill, a report.

This is what README's first command runs: ``lab up``, then ``pacemail apply``
of cib-templates/mail-3node.yaml through node1 (DRBD, mount, mail VIP,
postfix, dovecot under pacemail's own agents, the template's fence devices),
a wait until the whole stack runs on one node, the ``power-off-active`` drill
with the SMTP/IMAP workload and the invariant sampler, and the report.

The lab runs the template with two differences, printed and written into the
report: ``stonith-action=off`` (:data:`target.LAB_OPTIONS`), and ProxySQL as the lab's
test double with the lab's paths (:data:`target.LAB_PROXYSQL`), in front of a real
MariaDB in the client namespace (:mod:`pacemail.lab.proxysql`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pacemail.drills import engine, report, steady, target
from pacemail.drills.scenarios import SCENARIOS
from pacemail.lab import cluster, lifecycle, proxysql
from pacemail.lab.topology import lock_name
from pacemail.runlock import hold

TEMPLATE = "mail-3node.yaml"
SCENARIO = "power-off-active"
STACK_WAIT_S = 120.0
@dataclass
class Outcome:
    run: dict
    paths: dict[str, Path]
    lab_up_s: float
    stack_up_s: float
    notes: list[str]


def lab_description(lab_name: str):
    """The template as lab ``lab_name`` runs it (:func:`target.as_lab_runs`)."""
    from pacemail.controller import description  # lxml only on this path
    from pacemail.controller.problems import errors

    text = resources.files("pacemail.cib_templates").joinpath(TEMPLATE).read_text()
    parsed = description.parse(text, TEMPLATE)
    if errors(parsed.problems):
        raise RuntimeError(f"{TEMPLATE}: " + "; ".join(str(p) for p in errors(parsed.problems)))
    return target.as_lab_runs(parsed.description, lab_name)


def running_on(lab, ids: tuple[str, ...]) -> str | None:
    """The one node every resource of ``ids`` runs on, seen from the first node with a DC."""
    for node in lab.nodes:
        view = cluster.crm_view(lab.name, node.name)
        if view.dc:
            nodes = {tuple(view.resources.get(i, ())) for i in ids}
            only = nodes.pop() if len(nodes) == 1 else ()
            return only[0] if len(only) == 1 else None
    return None


def run(lab_name: str, report_dir: Path, progress=lambda msg: None,
        wait: float = 0.0) -> Outcome:
    """The whole job, holding lab ``lab_name`` throughout (:class:`pacemail.runlock.Busy`
    when another run holds it for longer than ``wait`` seconds)."""
    with hold(lock_name(lab_name), wait):
        return _run(lab_name, report_dir, progress)


def _run(lab_name: str, report_dir: Path, progress) -> Outcome:
    progress(f"NOTE: {target.LAB_PROXYSQL}")
    progress("bringing the lab up (3 nodes, STONITH on)")
    up = lifecycle.up(lab_name, 3, progress=progress)
    progress(f"lab up: quorum and DC after {up.seconds_to_quorum:.1f}s")
    d = lab_description(up.lab.name)
    proxysql.start_database(up.lab)
    progress("user database (MariaDB) up in the client namespace, for ProxySQL")

    applied_at = time.monotonic()
    t = target.pacemail_target(up.lab.name, d)
    progress(f"pacemail apply {TEMPLATE}: pushed; waiting for {', '.join(t.stack.resources)}")
    node = cluster.wait_for(lambda: running_on(up.lab, t.stack.resources), STACK_WAIT_S,
                            "the mail stack running on one node", interval=1.0)
    stack_up_s = time.monotonic() - applied_at
    progress(f"mail stack running on {node} {stack_up_s:.1f}s after the apply; "
             f"running the {SCENARIO} drill")
    corosync = steady.corosync_timing(up.lab).summary()
    progress(f"corosync: {corosync}")
    result = engine.run(t, SCENARIOS[SCENARIO], progress)
    data = report.build([result], {
        "target": f"lab {up.lab.name} (3 nodes, namespaces, STONITH via fence_pacemail_lab)",
        "lab_up_s": round(up.seconds_to_quorum, 1),
        "stack_up_s": round(stack_up_s, 1),
        "stack": f"pacemail: {TEMPLATE} applied with pacemail apply (ocf:pacemail:drbd "
                 f"promotable -> mount beside vip {t.stack.address} -> dovecot -> postfix; "
                 f"proxysql on its own VIP)",
        "lab_options": dict(target.LAB_OPTIONS),
        "corosync": corosync,
        "note": target.LAB_PROXYSQL,
    })
    return Outcome(result, report.write(data, report_dir), up.seconds_to_quorum, stack_up_s,
                   [target.LAB_PROXYSQL])
