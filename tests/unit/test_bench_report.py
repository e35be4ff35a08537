"""The pure parts of the benchmark harness: percentiles, verdicts, the summary table."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from benchmarks.report import latency_summary, percentile, quantity, verdict
from benchmarks.summary import render, rows_of


def test_percentile_interpolates_between_the_closest_ranks() -> None:
    values = [40.0, 10.0, 30.0, 20.0]  # any order
    assert percentile(values, 0) == 10
    assert percentile(values, 50) == 25
    assert percentile(values, 100) == 40
    assert percentile(values, 99) == pytest.approx(39.7)
    assert percentile([7.0], 99) == 7
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_latency_summary_gives_rounded_percentiles_in_ms() -> None:
    summary = latency_summary([float(n) for n in range(1, 101)])
    assert summary == {"count": 100, "p50Ms": 50.5, "p90Ms": 90.1, "p99Ms": 99.0, "maxMs": 100.0}


def test_a_verdict_says_whether_and_by_how_much_a_target_is_met() -> None:
    fast = verdict("single-session drain", 41.2, unit="events/s", at_least=35)
    assert fast["met"] and fast["target"] == "≥ 35 events/s"
    assert fast["by"] == "met by 6.2 events/s (18%)"

    slow = verdict("accept p99", 150, unit="ms", at_most=100)
    assert not slow["met"] and slow["target"] == "≤ 100 ms"
    assert slow["by"] == "missed by 50 ms (50%)"

    ratio = verdict("entity vs integration", 2.5, unit="×", at_least=8)
    assert ratio["by"] == "missed by 5.5× (69%)" and ratio["target"] == "≥ 8×"

    unmeasured = verdict("drain", math.nan, unit="events/s", at_least=35)
    assert unmeasured["value"] is None and not unmeasured["met"]
    with pytest.raises(ValueError):
        verdict("both", 1, unit="ms", at_least=1, at_most=2)


def test_quantities_read_naturally() -> None:
    assert quantity(1234.5, "ms") == "1,234 ms"
    assert quantity(41.25, "events/s") == "41.2 events/s"
    assert quantity(0.031, "ms") == "0.031 ms"


def test_a_result_file_of_another_shape_still_gives_its_target_row() -> None:
    import_time = {"medianMs": 240.0, "targetMs": 300.0, "verdict": "meets the target",
                   "verdictOn": "median"}  # fmt: skip
    [row] = rows_of(import_time)
    assert (row["value"], row["target"], row["met"]) == (240.0, "≤ 300 ms", True)
    assert row["by"] == "met by 60 ms"
    assert rows_of({"something": 1}) == []


def test_the_summary_marks_missing_and_earlier_results() -> None:
    started = datetime(2026, 1, 2, tzinfo=UTC)
    fresh = {
        "measuredAt": "2026-01-02T00:05:00+00:00",
        "machine": {"cpuCount": 2, "python": "3.11.9", "platform": "Linux"},
        "headline": [verdict("drain", 41.2, unit="events/s", at_least=35)],
        "notes": ["One session."],
        "reproduce": ".venv/bin/python -m benchmarks.single_session",
    }
    old = {"measuredAt": "2025-12-01T00:00:00+00:00", "headline": []}
    page = render({"single": fresh, "old": old, "gone": None}, started, minutes=7.5)
    assert (
        "| single | drain | 41.2 events/s | ≥ 35 events/s | ✅ met by 6.2 events/s (18%) |" in page
    )
    assert "| old (from an earlier run, 2025-12-01) |" in page
    assert "| gone | no result file |" in page
    assert "2 CPUs, Python 3.11.9" in page and "took 7.5 min" in page
    assert "- **single.** One session." in page


def test_named_targets_are_judged_by_the_files_own_verdict() -> None:
    round_trips = {
        "targets": {"inventory.set": 6, "order.create": None},
        "verdict": "met",
        "actions": {"inventory.set": {"total": 6}, "order.create": {"total": 4}},
    }
    [row] = rows_of(round_trips)
    assert (row["figure"], row["value"], row["target"], row["met"]) == (
        "inventory.set",
        6,
        "6",
        True,
    )


def test_a_share_misses_by_percentage_points() -> None:
    share = verdict("accept vs ceiling", 27.1, unit="%", at_least=70)
    assert (share["target"], share["by"]) == ("≥ 70%", "missed by 42.9 points")
