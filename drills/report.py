"""Drill reports: JSON for machines, Markdown for people, one SVG timeline per run."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pacemail.drills import figure, stats

COLUMNS = ("scenario", "from", "to", "SMTP down (s)", "IMAP down (s)", "detect (s)",
           "fence (s)", "recover (s)", "accepted", "lost", "dup", "violations", "verdict")


def build(runs: list[dict], context: dict) -> dict:
    data = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **context, "runs": runs}
    if len(runs) > 1:
        data["summary"] = stats.summary(runs)
    return data


def write(data: dict, directory: Path) -> dict[str, Path]:
    """The report files (``json``, ``markdown``, ``svg`` of each run) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"drill-{time.strftime('%Y%m%dT%H%M%S')}"
    paths = {"json": directory / f"{stem}.json", "markdown": directory / f"{stem}.md"}
    for i, run in enumerate(data["runs"], 1):
        path = directory / f"{stem}-{i}-{run['scenario']}.svg"
        path.write_text(figure.svg(run))
        run["figure"] = path.name
        paths[f"svg{i}"] = path
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    paths["markdown"].write_text(markdown(data))
    return paths


def markdown(data: dict) -> str:
    lines = [f"# pacemail drill report ({data['generated']})", ""]
    lines += [f"- {k}: {v}" for k, v in data.items() if k not in ("generated", "runs", "summary")]
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for run in data["runs"]:
        d = run.get("downtime_s") or {}
        cells = (run["scenario"], run.get("active_before") or "-", run.get("active_after") or "-",
                 _num(d.get("smtp")), _num(d.get("imap")), _num(run.get("detect_s")),
                 _num(run.get("fence_s")), _num(run.get("recover_s")), run.get("accepted", 0),
                 run.get("lost", 0), run.get("duplicates", 0),
                 "; ".join(run.get("violations", [])) or "none",
                 "PASS" if run.get("passed") else "FAIL")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if "summary" in data:
        s = data["summary"]
        lines += ["", f"Summary of {s['runs']} runs: {s['passed']} passed, {s['lost']} lost, "
                      f"{s['duplicates']} duplicates, {s['violations']} violations.", "",
                  "| figure | n | median | p95 | max |", "|---|---|---|---|---|"]
        for name in stats.FIGURES:
            f = s[name]
            lines.append(f"| {name} | {f['n']} | {_num(f['median'])} | {_num(f['p95'])} "
                         f"| {_num(f['max'])} |")
    figures = [run["figure"] for run in data["runs"] if run.get("figure")]
    if figures:
        lines += ["", "Timelines: " + ", ".join(f"[{f}]({f})" for f in figures)]
    return "\n".join(lines) + "\n"


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"
