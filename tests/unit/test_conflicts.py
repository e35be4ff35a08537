"""Retry on a conflicting write: afresh a few times, then busy."""

from __future__ import annotations

import pytest

from shared.domain.errors import Conflict
from shared.services.conflicts import on_fresh_copy
from shared.services.ports import StaleWrite


async def test_a_conflict_is_met_by_reading_afresh_until_a_write_lands() -> None:
    runs: list[int] = []

    async def attempt() -> str:
        runs.append(len(runs))
        if len(runs) < 3:
            raise StaleWrite("changed meanwhile")
        return "written"

    assert await on_fresh_copy(attempt, attempts=5, busy=lambda: Conflict("busy")) == "written"
    assert runs == [0, 1, 2]


async def test_a_record_that_keeps_changing_is_reported_busy() -> None:
    runs = 0

    async def attempt() -> None:
        nonlocal runs
        runs += 1
        raise StaleWrite("changed meanwhile")

    with pytest.raises(Conflict, match="busy"):
        await on_fresh_copy(attempt, attempts=3, busy=lambda: Conflict("busy"))
    assert runs == 3
