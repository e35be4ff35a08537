"""The timer's storage reads follow the due events, not the stored ones (Azurite).

Its own Azurite: the session stack's timer would otherwise pick up these due rows too."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.timer_reads import measure

pytestmark = pytest.mark.azurite


async def test_timer_reads_do_not_grow_with_stored_events(
    private_azurite: str, tmp_path: Path
) -> None:
    small = await measure(private_azurite, 100, 20, str(tmp_path / "a.db"))
    large = await measure(private_azurite, 1_000, 20, str(tmp_path / "b.db"))
    assert small["requeued"] == large["requeued"] == 20
    # one index row and one point read per due event, whatever else is stored
    assert small["entitiesRead"] == large["entitiesRead"] == 40
