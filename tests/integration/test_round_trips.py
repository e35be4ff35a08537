"""A successful event's storage round trips, end to end, counted on every request the
storage SDKs send (Azurite): a regression in the hot path fails here."""

from __future__ import annotations

import pytest

from benchmarks.round_trips import TARGETS, measure

pytestmark = pytest.mark.azurite


async def test_a_successful_event_costs_few_storage_round_trips(azurite: str) -> None:
    figures = await measure(azurite)
    for action, row in figures.items():
        assert row["status"] == "success", (action, row)
    for action, most in TARGETS.items():
        assert figures[action]["total"] <= most, (action, figures[action]["requests"])
    # what each remaining trip is for (docs/benchmarks.md lists them)
    process = figures["inventory.set"]["requests"]["process"]
    assert sum("$batch" in request for request in process) == 1  # outcome, check, attempt
