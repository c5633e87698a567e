"""The timeline picture of a drill run: per node what it held, per service when it answered.

:func:`timeline_data` compresses samples and workload events into spans (in
seconds from the first sample; it goes into the JSON report), :func:`svg`
draws them by hand, stdlib only. Both are pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

from pacemail.drills.sampler import KINDS, Sample

GAP_S = 1.0          # successes further apart than this are drawn as separate spans
COLORS = {"vip": "#1f77b4", "mount": "#8c564b", "drbd": "#9467bd", "postfix": "#2ca02c",
          "dovecot": "#17becf", "smtp": "#2ca02c", "imap": "#17becf"}


def _spans(points: Iterable[tuple[float, bool]], step: float) -> list[list[float]]:
    """Merge the times where a condition held into [start, end] spans."""
    spans: list[list[float]] = []
    for t, on in points:
        if on and spans and t - spans[-1][1] <= step:
            spans[-1][1] = t
        elif on:
            spans.append([t, t])
    return spans


def timeline_data(samples: Sequence[Sample], workload: Sequence[dict], fault_at: float | None,
                  fence_at: float | None, recover_at: float | None, nodes: list[str]) -> dict:
    if not samples:
        return {}
    t0 = samples[0].t
    rel = lambda t: None if t is None else round(t - t0, 2)  # noqa: E731
    held = {node: {kind: [[rel(a), rel(b)] for a, b in
                          _spans(((s.t, node in s.holders.get(kind, ())) for s in samples), 0.5)]
                   for kind in KINDS} for node in nodes}
    services = {}
    for service in ("smtp", "imap"):
        points = sorted((e["t"], bool(e["ok"])) for e in workload if e["ev"] == service)
        services[service] = {
            "up": [[rel(a), rel(b)] for a, b in _spans(points, GAP_S)],
            "failed": [rel(t) for t, ok in points if not ok],
        }
    return {"end": rel(samples[-1].t), "fault_at": rel(fault_at), "fence_at": rel(fence_at),
            "recover_at": rel(recover_at), "held": held, "services": services}


def svg(run: dict) -> str:
    """An SVG timeline of one run (its ``timeline`` and headline figures)."""
    data = run.get("timeline") or {}
    if not data:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="10" ' \
               'y="25">no samples</text></svg>\n'
    left, width, row, top = 170, 820, 16, 70
    end = max(data["end"], 1.0)
    x = lambda t: left + width * max(0.0, min(t, end)) / end  # noqa: E731
    rows: list[tuple[str, str, list[list[float]], list[float]]] = []
    for node, kinds in data["held"].items():
        for kind, spans in kinds.items():
            if any(spans for n in data["held"].values() for spans in [n[kind]]):
                rows.append((f"{node} {kind}", kind, spans, []))
    for service, s in data["services"].items():
        rows.append((f"client {service.upper()}", service, s["up"], s["failed"]))
    height = top + row * len(rows) + 50
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 30}" height="{height}" '
           'font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="18" font-size="14" font-weight="bold">{escape(_title(run))}</text>',
           f'<text x="10" y="34">{escape(_subtitle(run))}</text>']
    previous_node = None
    for i, (label, kind, spans, failed) in enumerate(rows):
        y = top + i * row
        node = label.split()[0]
        if node != previous_node:
            out.append(f'<line x1="10" x2="{left + width}" y1="{y - 1}" y2="{y - 1}" '
                       'stroke="#ccc"/>')
            previous_node = node
        out.append(f'<text x="10" y="{y + 11}">{escape(label)}</text>')
        for a, b in spans:
            out.append(f'<rect x="{x(a):.1f}" y="{y + 2}" width="{max(x(b) - x(a), 1.5):.1f}" '
                       f'height="{row - 4}" fill="{COLORS[kind]}"/>')
        for t in failed:
            out.append(f'<rect x="{x(t):.1f}" y="{y + 2}" width="1.5" height="{row - 4}" '
                       'fill="#d62728"/>')
    bottom = top + row * len(rows)
    fault = data.get("fault_at")
    for i, (name, key, color) in enumerate((("fault", "fault_at", "#d62728"),
                                            ("fenced", "fence_at", "#000"),
                                            ("whole again", "recover_at", "#2ca02c"))):
        t = data.get(key)
        if t is None:
            continue
        label = name if key == "fault_at" or fault is None else f"{name} +{t - fault:.1f}s"
        anchor = "end" if x(t) > left + width - 120 else "start"
        dx = -3 if anchor == "end" else 3
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 8 - 12 * (i % 2)}" '
                   f'y2="{bottom}" stroke="{color}" stroke-width="1.5" stroke-dasharray="4,3"/>')
        out.append(f'<text x="{x(t) + dx:.1f}" y="{top - 10 - 12 * (i % 2)}" fill="{color}" '
                   f'text-anchor="{anchor}">{label}</text>')
    step = _tick_step(end)
    ticks = [i * step for i in range(int(end // step) + 1)]
    for t in ticks:
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{bottom}" y2="{bottom + 4}" '
                   'stroke="#000"/>')
        out.append(f'<text x="{x(t):.1f}" y="{bottom + 16}" text-anchor="middle">{t:g}s</text>')
    out.append(f'<text x="10" y="{bottom + 36}" fill="#555">bars: held / answered; red ticks: '
               'failed client attempts; dashed: fault, fencing confirmed, stack whole again</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _title(run: dict) -> str:
    verdict = "PASS" if run.get("passed") else "FAIL"
    where = f" on {run['target']}" if run.get("target") else ""
    return (f"{run['scenario']} ({run.get('stack', '?')} stack{where}): "
            f"{run.get('active_before') or '?'} -> {run.get('active_after') or '?'}  [{verdict}]")


def _subtitle(run: dict) -> str:
    d = run.get("downtime_s") or {}
    return (f"downtime SMTP {_num(d.get('smtp'))} s, IMAP {_num(d.get('imap'))} s; detect "
            f"{_num(run.get('detect_s'))} s, fence {_num(run.get('fence_s'))} s, recover "
            f"{_num(run.get('recover_s'))} s; accepted {run.get('accepted', 0)}, lost "
            f"{run.get('lost', 0)}, duplicates {run.get('duplicates', 0)}, violations "
            f"{len(run.get('violations', []))}")


def _num(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def _tick_step(end: float) -> float:
    for step in (1, 2, 5, 10, 20, 30, 60, 120):
        if end / step <= 15:
            return step
    return 300
