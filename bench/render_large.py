"""Render benchmark: a description with 2000 extra resources and 2000 constraints.

Times parse + check + build + serialise (what ``pacemail render`` does) and
prints the best of a few runs. Goal: under 1 s. Run: .venv/bin/python bench/render_large.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

from pacemail.controller.build import render
from pacemail.controller.description import load
from pacemail.controller.problems import errors

TEMPLATE = Path(__file__).resolve().parent.parent / "cib-templates" / "mail-3node.yaml"
COUNT = 2000


def large_description() -> str:
    d = yaml.safe_load(TEMPLATE.read_text())
    d["extra"] = {
        "primitives": [{"name": f"svc{i}", "agent": "ocf:pacemaker:Dummy", "params": {"fake": str(i)},
                        "ops": [{"name": "monitor", "interval": "30s", "timeout": "20s"}]}
                       for i in range(COUNT)],
        "constraints": [{"type": "order", "first": "mount", "then": f"svc{i}"} if i % 2 else
                        {"type": "colocation", "resource": f"svc{i}", "with": "vip-mail"}
                        for i in range(COUNT)],
    }
    return yaml.safe_dump(d, sort_keys=False)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.yaml"
        path.write_text(large_description())
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            parsed = load(path)
            if errors(parsed.problems):
                print("\n".join(map(str, parsed.problems)), file=sys.stderr)
                return 1
            xml = render(parsed.description)
            timings.append(time.perf_counter() - start)
    print(f"render: {COUNT} extra resources + {COUNT} constraints "
          f"({len(xml) // 1024} KiB of CIB): best {min(timings):.3f} s of {len(timings)} runs")
    return 0 if min(timings) < 1.0 else 2


if __name__ == "__main__":
    raise SystemExit(main())
