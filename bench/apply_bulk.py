"""Apply benchmark on a lab cluster: 200 primitives + 200 constraints.

In one run, against the same lab (node1): ``crm configure load update`` of the
200 + 200 elements in crm syntax generated from the description, then
``pacemail apply`` of the description (the mail stack included, so pacemail
pushes more), then a no-op re-apply (nothing to push, epoch unchanged).
The primitives are ``target-role=Stopped`` so the cluster does not start them.
Run: .venv/bin/pacemail lab up --name bench && .venv/bin/python bench/apply_bulk.py bench
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml
from lxml import etree

from pacemail.controller import apply, merge
from pacemail.controller.cibxml import MARK
from pacemail.controller.description import parse
from pacemail.pacemaker import cib, resources

TEMPLATE = Path(__file__).resolve().parent.parent / "cib-templates" / "mail-3node.yaml"
PACEMAIL = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "pacemail")
COUNT = 200
NODES = ("node1", "node2", "node3")


def description_text() -> str:
    d = yaml.safe_load(TEMPLATE.read_text())
    d["extra"] = {
        "primitives": [{"name": f"d{i}", "agent": "ocf:pacemaker:Dummy",
                        "meta": {"target-role": "Stopped"}} for i in range(COUNT)],
        "constraints": [{"type": "location", "resource": f"d{i}", "node": NODES[i % 3], "score": "10"}
                        for i in range(COUNT)]
                       + [{"type": "location", "resource": "drbd-clone", "node": n, "score": "-INFINITY",
                           "name": f"no-drbd-{n}"} for n in NODES],
    }
    return yaml.safe_dump(d, sort_keys=False)


def crm_text() -> str:
    """The same primitives and constraints in crm syntax, with pacemail's ids and mark."""
    lines = [f'primitive pm-d{i} ocf:pacemaker:Dummy description="{MARK}" meta target-role=Stopped'
             for i in range(COUNT)]
    lines += [f"location pm-loc-d{i}-on-{NODES[i % 3]} pm-d{i} 10: {NODES[i % 3]}" for i in range(COUNT)]
    return "\n".join(lines) + "\n"


def clear(run) -> None:
    """Remove every pacemail-owned element (what either tool made)."""
    if not apply.remove_owned(attempts=50, run=run):
        raise RuntimeError("the CIB kept moving")


def settle(run) -> None:
    """Until the cluster has no transition in flight (both tools start from an idle cluster)."""
    resources.wait(300, run=run)


def epoch(run) -> tuple[int, int]:
    return merge.version(etree.fromstring(cib.get(run=run)))[:2]


def main(lab: str) -> None:
    from pacemail.lab.nodes import node_runner
    run = node_runner(lab, "node1")
    d = parse(description_text(), "bulk.yaml").description
    run(["tee", "/tmp/bulk.crm"], input=crm_text(), timeout=10)
    run(["tee", "/tmp/bulk.yaml"], input=description_text(), timeout=10)
    clear(run)
    settle(run)

    t = time.monotonic()
    run(["crm", "configure", "load", "update", "/tmp/bulk.crm"], timeout=600)
    crm_s = time.monotonic() - t
    settle(run)
    clear(run)
    settle(run)

    print(f"crm configure load update ({COUNT}+{COUNT}): {crm_s:.2f} s", flush=True)

    t = time.monotonic()
    outcome = apply.apply(d, run=run)
    apply_s = time.monotonic() - t
    assert outcome.pushed, outcome.refused
    print(f"pacemail apply (same + mail stack, {len(outcome.plan.changes)} elements): {apply_s:.2f} s "
          f"= {apply_s / crm_s:.2f}x crm" + (" (re-planned)" if outcome.replanned else ""), flush=True)
    settle(run)
    before = epoch(run)
    t = time.monotonic()
    again = apply.apply(d, run=run)
    noop_s = time.monotonic() - t
    assert not again.pushed and epoch(run) == before
    print(f"no-op re-apply: {noop_s:.3f} s in-process; epoch unchanged {before}", flush=True)
    t = time.monotonic()
    cli = run([PACEMAIL, "apply", "--yes", "/tmp/bulk.yaml"], timeout=60, check=False)
    cli_s = time.monotonic() - t
    unchanged = epoch(run) == before
    clear(run)
    assert "No changes" in cli.stdout and unchanged, (cli.stdout, cli.stderr)
    print(f"no-op `pacemail apply --yes` inside node1 (whole process): {cli_s:.3f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench")
