"""Summary statistics of repeated drill runs: median, p95 and max of each figure."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

FIGURES = ("downtime_smtp", "downtime_imap", "detect_s", "fence_s", "recover_s")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (a value that was measured, never an interpolation)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def describe(values: Iterable[float | None]) -> dict:
    measured = [v for v in values if v is not None]
    if not measured:
        return {"n": 0, "median": None, "p95": None, "max": None}
    return {"n": len(measured), "median": round(statistics.median(measured), 3),
            "p95": percentile(measured, 95), "max": max(measured)}


def figure(run: dict, name: str) -> float | None:
    if name.startswith("downtime_"):
        return (run.get("downtime_s") or {}).get(name.removeprefix("downtime_"))
    return run.get(name)


def summary(runs: Sequence[dict]) -> dict:
    out = {name: describe(figure(r, name) for r in runs) for name in FIGURES}
    out["runs"] = len(runs)
    out["passed"] = sum(1 for r in runs if r.get("passed"))
    out["lost"] = sum(r.get("lost", 0) for r in runs)
    out["duplicates"] = sum(r.get("duplicates", 0) for r in runs)
    out["violations"] = sum(len(r.get("violations", [])) for r in runs)
    return out
