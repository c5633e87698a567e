"""Drill reports: JSON for machines, Markdown for people, one SVG timeline per run."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pacemail.drills import figure, stats, workload

COLUMNS = ("scenario", "from", "to", "SMTP down (s)", "IMAP down (s)", "detect (s)",
           "fence requested (s)", "fence (s)", "promoted (s)", "recover (s)", "accepted", "lost",
           "dup", "violations", "verdict")


COMPARED = (("SMTP down (s)", "downtime_smtp"), ("IMAP down (s)", "downtime_imap"),
            ("detect (s)", "detect_s"), ("fence requested (s)", "fence_requested_s"),
            ("fence (s)", "fence_s"), ("promoted (s)", "promoted_s"), ("recover (s)", "recover_s"))
BACK_KINDS = ("drbd", "mount", "vip", "dovecot", "postfix")
# How exact the downtimes are: what every report says of its probes.
PROBE = (f"SMTP and IMAP probes retry every {workload.RETRY_S}s with a {workload.CONNECT_S}s "
         f"connect timeout while a service is down: a downtime is at most "
         f"{workload.RESOLUTION_S:.2f}s longer than the outage")


def build(runs: list[dict], context: dict, compare: dict | None = None) -> dict:
    """The report's data; ``compare``: another target's report (the namespace lab's, next to
    the VMs'), summarised per figure beside this one's."""
    data = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **context, "probe": PROBE,
            "runs": runs}
    if len(runs) > 1:
        data["summary"] = stats.summary(runs)
    if compare is not None and runs:
        data["comparison"] = comparison(runs, compare, context.get("target", "this target"))
    return data


def medians(runs: list[dict], scenario: str | None = None) -> dict:
    """Median of each compared figure (and of each kind's back time) over ``runs`` of
    ``scenario`` (all runs when None); None where nothing was measured."""
    chosen = [r for r in runs if scenario is None or r.get("scenario") == scenario]
    out = {name: stats.describe(stats.figure(r, name) for r in chosen)["median"]
           for _, name in COMPARED}
    for kind in BACK_KINDS:
        out[f"back_{kind}"] = stats.describe((r.get("back_s") or {}).get(kind)
                                             for r in chosen)["median"]
    out["runs"], out["lost"] = len(chosen), sum(r.get("lost", 0) for r in chosen)
    out["violations"] = sum(len(r.get("violations", [])) for r in chosen)
    return out


def comparison(runs: list[dict], other: dict, label: str) -> dict:
    """This report's figures next to ``other``'s for the same scenario (medians)."""
    scenario = runs[0]["scenario"]
    return {"scenario": scenario, "this": {"target": label, **medians(runs, scenario)},
            "other": {"target": other.get("target", "?"), "generated": other.get("generated"),
                      **medians(other.get("runs", []), scenario)}}


def latest_report(directory: Path, scenario: str, target_prefix: str = "lab") -> dict | None:
    """The newest drill report in ``directory`` from a target named ``target_prefix...`` with a
    run of ``scenario`` (how a VM report finds the lab's figures to stand beside)."""
    for path in sorted(directory.glob("drill-*.json"), reverse=True):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if str(data.get("target", "")).startswith(target_prefix) and \
                any(r.get("scenario") == scenario for r in data.get("runs", [])):
            data["file"] = path.name
            return data
    return None


def stem(directory: Path, kind: str) -> Path:
    """``directory/KIND-TIME``: the name a report's files share (``directory`` made)."""
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{kind}-{time.strftime('%Y%m%dT%H%M%S')}"


def write(data: dict, directory: Path) -> dict[str, Path]:
    """The report files (``json``, ``markdown``, ``svg`` of each run) under ``directory``."""
    base = stem(directory, "drill")
    paths = {"json": base.with_suffix(".json"), "markdown": base.with_suffix(".md")}
    for i, run in enumerate(data["runs"], 1):
        path = directory / f"{base.name}-{i}-{run['scenario']}.svg"
        path.write_text(figure.svg(run))
        run["figure"] = path.name
        paths[f"svg{i}"] = path
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    paths["markdown"].write_text(markdown(data))
    return paths


def markdown(data: dict) -> str:
    lines = [f"# pacemail drill report ({data['generated']})", ""]
    lines += [f"- {k}: {v}" for k, v in data.items()
              if k not in ("generated", "runs", "summary", "comparison")]
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for run in data["runs"]:
        d = run.get("downtime_s") or {}
        cells = (run["scenario"], run.get("active_before") or "-", run.get("active_after") or "-",
                 _num(d.get("smtp")), _num(d.get("imap")), _num(run.get("detect_s")),
                 _num(run.get("fence_requested_s")), _num(run.get("fence_s")),
                 _num(run.get("promoted_s")), _num(run.get("recover_s")), run.get("accepted", 0),
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
    for i, run in enumerate(data["runs"], 1):
        if run.get("why"):
            what = "failed" if not run.get("passed") else f"took {run.get('recover_s')}s"
            lines += ["", f"Why run {i} {what}, from the cluster's own state:", "",
                      *(f"- {line}" for line in run["why"])]
    backs = [run for run in data["runs"] if run.get("back_s")]
    if backs:
        lines += ["", "Back after the fault (s; from the invariant sampler, on the node the "
                      "stack ended on; - when not interrupted):", "",
                  "| scenario | " + " | ".join(BACK_KINDS) + " | data written before the fault |",
                  "|" + "---|" * (len(BACK_KINDS) + 2)]
        for run in backs:
            intact = {True: "read back", False: "NOT read back", None: "not checked"}[
                run.get("data_intact")]
            lines.append(f"| {run['scenario']} | "
                         + " | ".join(_num(run["back_s"].get(k)) for k in BACK_KINDS)
                         + f" | {intact} |")
    if "comparison" in data:
        c = data["comparison"]
        this, other = c["this"], c["other"]
        lines += ["", f"{c['scenario']}, medians, this target next to "
                      f"{other['target']} ({other.get('generated') or '?'}):", "",
                  f"| figure | {this['target']} (n={this['runs']}) "
                  f"| {other['target']} (n={other['runs']}) |", "|---|---|---|"]
        for title, name in COMPARED:
            lines.append(f"| {title} | {_num(this[name])} | {_num(other[name])} |")
        for kind in BACK_KINDS:
            lines.append(f"| {kind} back (s) | {_num(this['back_' + kind])} "
                         f"| {_num(other['back_' + kind])} |")
        lines.append(f"| lost / violations | {this['lost']} / {this['violations']} "
                     f"| {other['lost']} / {other['violations']} |")
    figures = [run["figure"] for run in data["runs"] if run.get("figure")]
    if figures:
        lines += ["", "Timelines: " + ", ".join(f"[{f}]({f})" for f in figures)]
    return "\n".join(lines) + "\n"


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def steady(result: dict, context: dict) -> dict:
    """A steady drill's report data (:func:`pacemail.drills.steady.run`'s result)."""
    return {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **context, **result}


def write_steady(data: dict, directory: Path) -> dict[str, Path]:
    """A steady drill's report files (``json``, ``markdown``) under ``directory``."""
    base = stem(directory, "steady")
    paths = {"json": base.with_suffix(".json"), "markdown": base.with_suffix(".md")}
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    paths["markdown"].write_text(steady_markdown(data))
    return paths


STEADY_HEADER = ("target", "stack", "description", "note", "lab_options", "corosync", "active",
                 "settle_s")


def steady_markdown(data: dict) -> str:
    load = lambda key: " ".join(f"{x:.2f}" for x in data.get(key) or ()) or "-"  # noqa: E731
    lines = [f"# pacemail steady drill report ({data['generated']})", ""]
    lines += [f"- {k}: {data[k]}" for k in STEADY_HEADER if k in data]
    lines += [f"- window: {data['window_s']}s of {data['minutes']:g} min, no fault",
              f"- load (1, 5, 15 min): {load('load_start')} at the start, "
              f"{load('load_end')} at the end",
              f"- verdict: {'PASS' if data['passed'] else 'FAIL'}", "",
              "| figure | value |", "|---|---|"]
    failures = data["client_failures"]
    late = data["token_late"]
    rows = (("messages accepted", data["accepted"]), ("delivered", data["delivered"]),
            ("lost", data["lost"]), ("duplicates", data["duplicates"]),
            ("fences", data["fences"]), ("corosync membership changes",
                                         data["membership_changes"]),
            ("late tokens (max ms)", f"{late} ({data['token_late_max_ms']})" if late else 0),
            ("failed operations", len(data["failed_ops"])), ("moves", len(data["moves"])),
            ("stack not whole", len(data["breaks"])),
            ("failed SMTP / IMAP attempts", f"{failures['smtp']} / {failures['imap']}"),
            ("samples (longest gap, s)", f"{data['samples']} ({data['sample_gap_max_s']})"))
    lines += [f"| {name} | {'-' if value is None else value} |" for name, value in rows]
    for title, key in (("Violations", "violations"), ("corosync membership events",
                                                      "membership_log")):
        if data[key]:
            lines += ["", f"{title}:", "", *(f"- {line}" for line in data[key])]
    return "\n".join(lines) + "\n"
