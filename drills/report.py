"""Drill reports: JSON for machines, Markdown for people."""

from __future__ import annotations

import json
import time
from pathlib import Path


def write(results: list[dict], directory: Path, context: dict) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    data = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **context, "runs": results}
    json_path = directory / f"drill-{stamp}.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path = directory / f"drill-{stamp}.md"
    md_path.write_text(markdown(data))
    return json_path, md_path


def markdown(data: dict) -> str:
    lines = [f"# pacemail drill report ({data['generated']})", ""]
    for key, value in data.items():
        if key not in ("generated", "runs"):
            lines.append(f"- {key}: {value}")
    lines += ["", "| scenario | from | to | downtime (s) | fenced after (s) | recovered after (s) "
              "| violations | verdict |", "|---|---|---|---|---|---|---|---|"]
    for run in data["runs"]:
        lines.append(
            f"| {run['scenario']} | {run['active_before']} | {run['active_after'] or '-'} "
            f"| {_num(run['downtime_s'])} | {_num(run['fence_s'])} | {_num(run['recover_s'])} "
            f"| {'; '.join(run['violations']) or 'none'} | {'PASS' if run['passed'] else 'FAIL'} |")
    return "\n".join(lines) + "\n"


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"
