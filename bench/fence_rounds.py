"""Two-node split rounds on a lab fenced from a description (drills/twonode.py).

    .venv/bin/python bench/fence_rounds.py [--rounds 10] [--lab pmbench2] [--without-delay]

``--without-delay`` deletes the priority-fencing-delay pacemail chose, after
the apply: the control run, the race left to chance. The lab is taken down at
the end.
"""

from __future__ import annotations

import argparse
import secrets
import time

from pacemail.drills import twonode
from pacemail.lab import lifecycle
from pacemail.lab.nodes import node_runner
from pacemail.lab.topology import lock_name
from pacemail.pacemaker import attributes
from pacemail.runlock import hold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--lab", default="pmbench2")
    ap.add_argument("--without-delay", action="store_true")
    args = ap.parse_args()
    with hold(lock_name(args.lab)):   # the whole bench: no other run on this lab meanwhile
        bench(args)


def bench(args) -> None:
    started = time.monotonic()
    try:
        p = twonode.prepare(args.lab, secrets.token_urlsafe(18))
        print(twonode.race_note(p))
        if args.without_delay:
            attributes.delete_property("priority-fencing-delay", set_name="pm-cluster-options",
                                       run=node_runner(p.lab.name, "node1"))
            print("control: priority-fencing-delay deleted")
        results = twonode.rounds(twonode.place_stack(p), args.rounds)
    finally:
        lifecycle.down(args.lab)
    print(f"{'round':>5} {'DC':>6} {'before':>7} {'fenced':>14} {'after':>7} {'fence s':>8} "
          f"{'smtp down s':>11} {'round s':>8}  single survivor")
    for i, r in enumerate(results, 1):
        print(f"{i:>5} {r.get('dc_before') or '-':>6} {r.get('active_before') or '-':>7} {','.join(r['fenced']) or '-':>14} "
              f"{r.get('active_after') or '-':>7} {r['fence_s'] if r['fence_s'] is not None else '-':>8} "
              f"{r['downtime_s']['smtp'] if r['downtime_s']['smtp'] is not None else '-':>11} "
              f"{r['round_s']:>8}  {'yes' if r['single_survivor'] else 'NO: ' + '; '.join(r['violations'])}")
    good = sum(r["single_survivor"] for r in results)
    print(f"{good}/{len(results)} rounds with a single survivor; "
          f"{time.monotonic() - started:.0f}s in all")


if __name__ == "__main__":
    main()
