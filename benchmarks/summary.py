"""docs/benchmarks.md from the result files: the machine, the command, one table of
figure / target / verdict, and each benchmark's notes.

Result files in `benchmarks.report`'s shape give their `headline` rows. Others are read
as well as their keys allow (a `target<Unit>` beside a `verdictOn` figure, as
`import-time.json` has; a `targets` mapping of named figures, as `round-trips.json`
has); a file that is missing, or was not rewritten by this run, says so instead of
passing old figures off as new.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import RESULTS, machine, quantity

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _judged(value: float, target: float, met: bool, unit: str) -> str:
    return f"{'met' if met else 'missed'} by {quantity(abs(value - target), unit)}"


def _met(verdict: object) -> bool:
    words = str(verdict).lower()
    said_met = "met" in words or "meet" in words
    return said_met and not any(no in words for no in ("miss", "not met", "unmet", "not meet"))


def rows_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows a result file gives, in the shape of `report.verdict`."""
    if isinstance(result.get("headline"), list):
        return list(result["headline"])
    return _unit_targets(result) or _named_targets(result)


def _unit_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """`targetMs` judged on `<verdictOn>Ms`, as import-time.json has."""
    rows = []
    for key, target in result.items():
        if not key.startswith("target") or not isinstance(target, int | float):
            continue
        suffix = key.removeprefix("target")  # targetMs → Ms
        on = str(result.get("verdictOn", "median"))
        value = result.get(f"{on}{suffix}")
        if not isinstance(value, int | float):
            continue
        met, unit = bool(result.get("met", _met(result.get("verdict")))), suffix.lower()
        rows.append(
            {
                "figure": str(result.get("title") or on),
                "value": value,
                "unit": unit,
                "target": f"{'≤' if unit in ('ms', 's') else '≥'} {quantity(target, unit)}",
                "met": met,
                "by": f"{'met' if met else 'missed'} by {quantity(abs(value - target), unit)}",
            }
        )
    return rows


def _named_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """`"targets": {name: n}` with each figure under some `{name: {"total"|"value": x}}`,
    judged by the file's own verdict, as round-trips.json has."""
    targets = result.get("targets")
    if not isinstance(targets, dict):
        return []
    rows = []
    for name, target in targets.items():
        found = [
            group[name].get("total", group[name].get("value"))
            for group in result.values()
            if isinstance(group, dict) and isinstance(group.get(name), dict)
        ]
        value = next((v for v in found if isinstance(v, int | float)), None)
        if value is None or target is None:
            continue
        verdict = str(result.get("verdict", ""))
        row = {"figure": name, "value": value, "unit": "", "target": str(target)}
        rows.append(row | {"met": _met(verdict), "by": f"{verdict} (the file's verdict)"})
    return rows


def _cell(row: dict[str, Any]) -> tuple[str, str, str]:
    value = "n/a" if row.get("value") is None else quantity(row["value"], row.get("unit", ""))
    if not row.get("target"):
        return value, "none set", str(row.get("by") or "–")
    mark = "✅" if row.get("met") else "❌"
    return value, str(row["target"]), f"{mark} {row.get('by') or ''}".strip()


# What the figures mean, and why the missed targets miss on this machine.
READING = [
    "## Reading the figures",
    "",
    "- **Where a worker's time goes.** One session applies its events one after another:",
    "  per event a point read of the event, a read and an advance of each versioned",
    "  record, the platform call, and one entity-group transaction for the outcome (see",
    "  round-trips). With a 20 ms platform the pace is set by the work around the call,",
    "  paid one step after another: the host's CPU per event, most of it the storage",
    "  SDK's client work (azure-core's pipeline, aiohttp, and the multipart body of each",
    "  transaction), and Azurite's answers on the same two cores. To see it:",
    "  `py-spy record -p <pid of local.host>` during",
    "  `.venv/bin/python -m benchmarks.single_session`. Each Azure instance has cores of",
    "  its own, so a session's rate on Azure follows the storage latency and the",
    "  platform's, and the product scales by sessions (entity ordering) and instances;",
    "  see docs/capacity.md.",
    "- **Accept vs its ceiling.** The ceiling writes one entity and sends one message;",
    "  the product also authenticates (a point read), validates, and writes the event",
    "  with its check in one transaction, on the same two cores as the worker draining",
    "  what arrives.",
    "- **Entity vs integration ordering.** With the 200 ms platform the worker is idle",
    "  most of the time, so the ratio shows the sessions at work in parallel; it stays",
    "  below the number of shards because the host's CPU per event (a claim write more",
    "  than under integration ordering) is shared by every session of the process.",
]


def render(
    results: dict[str, dict[str, Any] | None],
    started: datetime | None = None,
    minutes: float | None = None,
) -> str:
    """The page, from result files by name (None: the file is missing)."""
    present = [r for r in results.values() if r]
    where = present[0].get("machine", machine()) if present else machine()
    lines = [
        "# Benchmarks",
        "",
        "Figures of the local stack (Azurite, the platform sandbox and the Functions host on",
        "one machine), measured by `make bench`, which starts a stack of its own on free",
        "ports for each benchmark. Each figure's JSON, with the command that reproduces it",
        "alone, is in `benchmarks/results/`.",
        "",
        f"- **Machine:** {where.get('cpuCount')} CPUs, Python {where.get('python')}, "
        f"{where.get('platform')}",
        "- **Command:** `make bench`",
    ]
    if started:
        took = f", took {minutes:.1f} min" if minutes is not None else ""
        lines.append(f"- **Run:** {started.isoformat(timespec='seconds')}{took}")
    lines += ["", "| benchmark | figure | measured | target | verdict |", "|---|---|---|---|---|"]
    notes: list[str] = []
    for name, result in results.items():
        if result is None:
            lines.append(f"| {name} | no result file | – | – | not run |")
            continue
        stale = _stale(result, started)
        rows = rows_of(result) or [
            {"figure": "see the result file", "value": None, "by": result.get("verdict")}
        ]
        for row in rows:
            value, target, verdict = _cell(row)
            cells = (f"{name}{stale}", str(row["figure"]), value, target, verdict)
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        notes += [f"- **{name}.** {note}" for note in result.get("notes", [])]
        if result.get("reproduce"):
            notes.append(f"- **{name}** alone: `{result['reproduce']}`")
    lines += ["", "## Notes", "", *notes] if notes else []
    lines += ["", *READING]
    return "\n".join(lines) + "\n"


def _stale(result: dict[str, Any], started: datetime | None) -> str:
    measured = result.get("measuredAt")
    if not started or not measured:
        return ""
    when = datetime.fromisoformat(str(measured))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return "" if when >= started else f" (from an earlier run, {when.date()})"


def load(names: list[str]) -> dict[str, dict[str, Any] | None]:
    found: dict[str, dict[str, Any] | None] = {}
    for name in names:
        path = RESULTS / f"{name}.json"
        try:
            found[name] = json.loads(path.read_text()) if path.exists() else None
        except json.JSONDecodeError:
            found[name] = {"notes": [f"{path.name} is not valid JSON"]}
    return found


def write(names: list[str], started: datetime | None = None, minutes: float | None = None) -> str:
    """Write docs/benchmarks.md; returns its text."""
    text = render(load(names), started, minutes)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
    return text
