"""Figures, targets and verdicts, and the result file each benchmark writes.

Pure functions except `save`. A result file (`benchmarks/results/<name>.json`) holds::

    {"benchmark": "single-session-drain", "title": "...", "measuredAt": "...",
     "machine": {"cpuCount": 2, "python": "3.11.9", "platform": "Linux-..."},
     "reproduce": ".venv/bin/python -m benchmarks.single_session",
     "settings": {...}, "figures": {...},
     "headline": [{"figure": "...", "value": 41.2, "unit": "events/s",
                   "target": "≥ 35 events/s", "met": true, "by": "met by 6.2 events/s (18%)"}],
     "notes": ["..."]}

`headline` holds the rows of the summary table (docs/benchmarks.md); a figure without
a target has `target`, `met` and `by` null.

Example::

    verdict("single-session drain", 41.2, at_least=35, unit="events/s")["by"]
    # 'met by 6.2 events/s (18%)'
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linear between the closest ranks; NaN if empty."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(milliseconds: Sequence[float]) -> dict[str, float | int]:
    """Count, p50, p90, p99 and max of latencies in ms, rounded for reading."""
    return {
        "count": len(milliseconds),
        "p50Ms": round(percentile(milliseconds, 50), 1),
        "p90Ms": round(percentile(milliseconds, 90), 1),
        "p99Ms": round(percentile(milliseconds, 99), 1),
        "maxMs": round(max(milliseconds), 1) if milliseconds else math.nan,
    }


def _number(value: float) -> str:
    """Three significant digits below 100, whole numbers above; no trailing zeros."""
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def quantity(value: float, unit: str) -> str:
    """`41.2 events/s`, `3.1 ms`, `2.5×` (a ratio), `62%`."""
    if unit in ("×", "%"):
        return f"{_number(value)}{unit}"
    return f"{_number(value)} {unit}".strip()


def verdict(
    figure: str,
    value: float,
    *,
    unit: str,
    at_least: float | None = None,
    at_most: float | None = None,
    why_not: str | None = None,
) -> dict[str, Any]:
    """One figure against its target (exactly one of `at_least` / `at_most`); a NaN
    value was not measured, for the reason `why_not`."""
    if (at_least is None) == (at_most is None):
        raise ValueError("give exactly one of at_least and at_most")
    target = at_least if at_least is not None else at_most
    assert target is not None
    sign = "≥" if at_least is not None else "≤"
    margin = (value - target) if at_least is not None else (target - value)
    if math.isnan(value):
        met, by = False, f"not measured: {why_not}" if why_not else "not measured"
    else:
        met = margin >= 0
        if unit == "%":  # a share: the gap is in percentage points, not relative
            gap = f"{_number(abs(margin))} points"
        else:
            relative = f" ({abs(margin) / target:.0%})" if target else ""
            gap = f"{quantity(abs(margin), unit)}{relative}"
        by = f"{'met' if met else 'missed'} by {gap}"
    return {
        "figure": figure,
        "value": None if math.isnan(value) else round(value, 3),
        "unit": unit,
        "target": f"{sign} {quantity(target, unit)}",
        "met": met,
        "by": by,
    }


def unjudged(figure: str, value: float, *, unit: str) -> dict[str, Any]:
    """A headline figure the issue sets no target for."""
    row = {"figure": figure, "value": None if math.isnan(value) else round(value, 3), "unit": unit}
    return row | {"target": None, "met": None, "by": None}


def finite(value: Any) -> Any:
    """The same data with NaN and infinities as null, which JSON can carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def machine() -> dict[str, Any]:
    return {
        "cpuCount": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadAverage1m": round(os.getloadavg()[0], 2),
    }


def reproduce(module: str) -> str:
    """The command that reproduces a benchmark, with the size overrides in effect."""
    overrides = sorted(
        f"{k}={shlex.quote(v)}" for k, v in os.environ.items() if k.startswith("BENCH_")
    )
    return " ".join([*overrides, ".venv/bin/python", "-m", module])


def save(name: str, title: str, module: str, body: dict[str, Any]) -> Path:
    """Write `results/<name>.json` with machine, command and time, and print the verdicts."""
    result = {
        "benchmark": name,
        "title": title,
        "measuredAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "reproduce": reproduce(module),
        "alsoRunBy": "make bench",
        **body,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(finite(result), indent=2, ensure_ascii=False) + "\n")
    for row in body.get("headline", []):
        shown = "n/a" if row["value"] is None else quantity(row["value"], row["unit"])
        judged = f" (target {row['target']}: {row['by']})" if row["target"] else ""
        print(f"  {row['figure']}: {shown}{judged}")
    print(f"saved {path.relative_to(RESULTS.parent.parent)}")
    return path
