"""The flow of events: bucket math, the in-memory tally, counting on the accept and
worker paths without a storage call, the flush, and the chart's read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.api import schemas
from shared.domain.errors import NotFound, ValidationFailed
from shared.domain.flow import (
    ALL_INTEGRATIONS,
    FlowKey,
    FlowStep,
    FlowTally,
    Granularity,
    bucket_start,
    bucket_starts,
    granularity_for,
    outcome_step,
)
from shared.domain.models import EventStatus, IntegrationEvent
from shared.services.flow_counter import FlowCounter
from tests.unit.fakes import (
    OPERATOR,
    START,
    FakeFlowCounterStore,
    FakeMonotonic,
    World,
    unit_settings,
)

MINUTE, HOUR = Granularity.MINUTE, Granularity.HOUR
OK = {"items": [{"sku": "A", "warehouseId": "wh-01", "quantity": 1}]}


async def chart_of(world: World, document: dict[str, Any]) -> dict[str, Any]:
    """The chart as the API answers it."""
    return schemas.FlowChart.of(await world.flow.flow(document)).to_json()


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 3, 1, hh, mm, ss, tzinfo=UTC)


def stock(sku: str = "A") -> dict[str, Any]:
    return {"action": "inventory.set", "data": {"items": [{"sku": sku, "quantity": 1}]}}


# --- bucket math ----------------------------------------------------------------------


def test_buckets_start_on_whole_utc_minutes_and_hours() -> None:
    moment = datetime(2026, 3, 1, 14, 7, 31, 500, tzinfo=UTC)
    assert bucket_start(moment, MINUTE) == at(14, 7)
    assert bucket_start(moment, HOUR) == at(14, 0)
    elsewhere = moment.astimezone(datetime.fromisoformat("2026-03-01T00:00+05:30").tzinfo)
    assert bucket_start(elsewhere, HOUR) == at(14, 0)


def test_up_to_six_hours_are_shown_per_minute_longer_windows_per_hour() -> None:
    assert granularity_for(at(6, 0), at(12, 0)) is MINUTE
    assert granularity_for(at(6, 0), at(12, 0, 1)) is HOUR


def test_a_window_covers_every_bucket_it_overlaps() -> None:
    assert bucket_starts(at(12, 0, 30), at(12, 3), MINUTE) == [at(12, 0), at(12, 1), at(12, 2)]
    assert bucket_starts(at(12, 0, 30), at(12, 3, 1), MINUTE)[-1] == at(12, 3)
    assert bucket_starts(at(9, 30), at(12, 0), HOUR) == [at(9, 0), at(10, 0), at(11, 0)]
    assert len(bucket_starts(at(0, 0), at(0, 0) + timedelta(days=31), HOUR)) == 744


def test_each_outcome_is_one_step() -> None:
    event = IntegrationEvent(
        id="e",
        integration_id="int_a",
        action="inventory.set",
        entity_id=None,
        status=EventStatus.SUCCESS,
        created_at=START,
        updated_at=START,
        session_id="int_a",
        max_attempts=3,
    )
    assert outcome_step(event) is FlowStep.SUCCEEDED
    event.status = EventStatus.SKIPPED
    assert outcome_step(event) is FlowStep.SKIPPED
    event.status, event.next_retry_at = EventStatus.FAILED, START
    assert outcome_step(event) is FlowStep.RETRY_SCHEDULED
    event.next_retry_at = None
    assert outcome_step(event) is FlowStep.FAILED
    event.dead_lettered = True
    assert outcome_step(event) is FlowStep.DEAD_LETTERED
    event.status = EventStatus.QUEUED
    assert outcome_step(event) is None


# --- the tally --------------------------------------------------------------------------


def test_a_step_counts_in_its_minute_and_hour_for_the_integration_and_for_all() -> None:
    tally = FlowTally()
    tally.add("int_a", FlowStep.RECEIVED, at(12, 7, 5))
    tally.add("int_a", FlowStep.RECEIVED, at(12, 7, 50))
    tally.add("int_b", FlowStep.FAILED, at(12, 8))
    changed = tally.take_changed()
    assert changed[FlowKey("int_a", MINUTE, at(12, 7))] == {FlowStep.RECEIVED: 2}
    assert changed[FlowKey("int_a", HOUR, at(12, 0))] == {FlowStep.RECEIVED: 2}
    assert changed[FlowKey(ALL_INTEGRATIONS, HOUR, at(12, 0))] == {
        FlowStep.RECEIVED: 2,
        FlowStep.FAILED: 1,
    }
    assert (
        len(changed) == 7
    )  # a minute and the hour of each integration; 2 minutes and the hour of all
    assert tally.take_changed() == {}  # nothing changed since


def test_a_take_holds_absolute_totals_of_the_buckets_that_changed() -> None:
    tally = FlowTally()
    tally.add("int_a", FlowStep.RECEIVED, at(12, 7))
    tally.take_changed()
    tally.add("int_a", FlowStep.RECEIVED, at(12, 8))
    changed = tally.take_changed()
    assert FlowKey("int_a", MINUTE, at(12, 7)) not in changed
    assert changed[FlowKey("int_a", MINUTE, at(12, 8))] == {FlowStep.RECEIVED: 1}
    assert changed[FlowKey("int_a", HOUR, at(12, 0))] == {FlowStep.RECEIVED: 2}


def test_ended_hours_are_forgotten_and_a_late_step_into_them_is_refused() -> None:
    tally = FlowTally()
    tally.add("int_a", FlowStep.RECEIVED, at(11, 59))
    tally.take_changed()
    tally.forget_before(at(12, 5))
    assert tally.total(FlowKey("int_a", HOUR, at(11, 0))) == {}
    # Starting 11:00 again from zero would overwrite the written total with 1.
    assert tally.add("int_a", FlowStep.RECEIVED, at(11, 59, 59)) is False
    assert tally.take_changed() == {}
    assert tally.add("int_a", FlowStep.RECEIVED, at(12, 0)) is True


def test_totals_not_yet_written_are_never_forgotten() -> None:
    tally = FlowTally()
    tally.add("int_a", FlowStep.RECEIVED, at(11, 59))
    taken = tally.take_changed()
    tally.mark_changed(list(taken))  # the write failed
    tally.forget_before(at(13, 30))
    assert tally.take_changed()[FlowKey("int_a", HOUR, at(11, 0))] == {FlowStep.RECEIVED: 1}


# --- counting through the services ------------------------------------------------------


async def test_accepting_and_processing_count_each_step_without_a_storage_call() -> None:
    world = World()
    integration, key = await world.integration()
    world.platform.answer(200, OK).answer(422, {"message": "no such SKU"}).answer(503)
    events = [await world.push(key, stock(sku)) for sku in "ABC"]
    for message in list(world.bus.sent):
        await world.deliver(message)
    assert [world.event(e).status for e in events] == [EventStatus.SUCCESS] + [
        EventStatus.FAILED
    ] * 2
    assert world.flow_counts.writes == []  # all in memory so far

    await world.flow_counter.flush()
    expected = {
        FlowStep.RECEIVED: 3,
        FlowStep.SUCCEEDED: 1,
        FlowStep.FAILED: 1,
        FlowStep.RETRY_SCHEDULED: 1,
    }
    for partition in (integration.id, ALL_INTEGRATIONS):
        for granularity in Granularity:
            assert world.flow_counts.sums(partition, granularity) == expected
    [write] = world.flow_counts.writes
    assert {row.writer for row in write} == {world.flow_counter.writer}


async def test_retries_dead_letters_and_resubmissions_are_counted_when_they_happen() -> None:
    world = World()
    integration, key = await world.integration()
    world.platform.answer(503).answer(200, OK).answer(422, {"message": "no"})
    retried = await world.push(key, stock("A"))
    await world.deliver()
    world.clock.current = world.event(retried).next_retry_at or START
    await world.recovery.run_once()
    await world.deliver()  # the retry succeeds
    rejected = await world.push(key, stock("B"))
    await world.deliver()
    lost = await world.push(key, stock("C"))
    await world.dead_letters.handle(json.dumps(world.bus.sent[-1].body).encode())
    await world.resubmission.resubmit_one(integration.id, rejected, OPERATOR)
    await world.flow_counter.flush()
    assert world.flow_counts.sums(integration.id, HOUR) == {
        FlowStep.RECEIVED: 3,
        FlowStep.RETRY_SCHEDULED: 1,
        FlowStep.SUCCEEDED: 1,
        FlowStep.FAILED: 1,
        FlowStep.DEAD_LETTERED: 1,
        FlowStep.RESUBMITTED: 1,
    }
    assert world.event(lost).dead_lettered


async def test_a_redelivery_of_a_finished_event_is_not_counted_again() -> None:
    world = World()
    integration, key = await world.integration()
    world.platform.answer(200, OK)
    await world.push(key, stock())
    await world.deliver()
    await world.deliver()  # the same message again
    await world.flow_counter.flush()
    assert world.flow_counts.sums(integration.id, MINUTE)[FlowStep.SUCCEEDED] == 1


async def test_a_dead_letter_of_an_event_already_waiting_for_a_person_is_not_counted() -> None:
    world = World()
    integration, key = await world.integration()
    world.platform.answer(422, {"message": "no such SKU"})
    event_id = await world.push(key, stock())
    await world.deliver()  # failed for good; its message then reaches the dead-letter queue
    await world.dead_letters.handle(json.dumps(world.bus.sent[-1].body).encode())
    assert world.event(event_id).dead_lettered
    await world.flow_counter.flush()
    assert world.flow_counts.sums(integration.id, HOUR) == {
        FlowStep.RECEIVED: 1,
        FlowStep.FAILED: 1,
    }


async def test_an_invocation_flushes_once_the_interval_has_passed() -> None:
    world = World(settings=unit_settings(FLOW_FLUSH_SECONDS=10))
    _, key = await world.integration()
    world.platform.answer(200, OK).answer(200, OK)
    await world.push(key, stock())
    await world.deliver()
    assert world.flow_counts.writes == []
    world.monotonic.value += 10
    await world.push(key, stock("B"))  # this invocation writes what was counted so far
    assert len(world.flow_counts.writes) == 1
    await world.deliver()  # the next one within the interval does not
    assert len(world.flow_counts.writes) == 1


async def test_a_flush_writes_only_what_changed_and_retries_what_failed() -> None:
    store, clock = FakeFlowCounterStore(), [at(12, 7)]
    counter = FlowCounter(store, 10, lambda: clock[0], FakeMonotonic(), writer="w1")
    counter.tally("int_a", FlowStep.RECEIVED, at(12, 7))
    store.down = True
    await counter.flush()  # does not raise
    assert store.writes == []
    store.down = False
    await counter.flush()
    await counter.flush()  # nothing changed since: nothing written
    assert len(store.writes) == 1
    assert store.sums("int_a", MINUTE) == {FlowStep.RECEIVED: 1}


# --- the chart's read -------------------------------------------------------------------


async def two_writers(world: World) -> tuple[str, FlowCounter, FlowCounter]:
    integration, _ = await world.integration()
    one, other = (
        FlowCounter(world.flow_counts, 10, world.clock, FakeMonotonic(), writer=name)
        for name in ("w1", "w2")
    )
    return integration.id, one, other


async def test_the_flow_sums_every_writer_per_bucket_and_fills_empty_buckets() -> None:
    world = World()
    integration_id, one, other = await two_writers(world)
    one.tally(integration_id, FlowStep.RECEIVED, at(12, 1, 10))
    other.tally(integration_id, FlowStep.RECEIVED, at(12, 1, 50))
    other.tally(integration_id, FlowStep.SUCCEEDED, at(12, 3))
    one.tally("int_other", FlowStep.RECEIVED, at(12, 3))
    await one.flush()
    await other.flush()
    chart = await chart_of(
        world,
        {
            "integrationId": integration_id,
            "from": "2026-03-01T12:00:00Z",
            "to": "2026-03-01T12:05:00Z",
        },
    )
    assert chart["granularity"] == "minute"
    assert chart["from"] == "2026-03-01T12:00:00.000Z" and chart["to"] == "2026-03-01T12:05:00.000Z"
    assert chart["steps"] == [step.value for step in FlowStep]
    assert [b["start"][11:16] for b in chart["buckets"]] == [
        "12:00",
        "12:01",
        "12:02",
        "12:03",
        "12:04",
    ]
    assert [b["counts"]["received"] for b in chart["buckets"]] == [0, 2, 0, 0, 0]
    assert [b["counts"]["succeeded"] for b in chart["buckets"]] == [0, 0, 0, 1, 0]
    assert chart["totals"] == {**dict.fromkeys(chart["steps"], 0), "received": 2, "succeeded": 1}

    everyone = await chart_of(world, {"from": "2026-03-01T12:00:00Z", "to": "2026-03-01T12:05:00Z"})
    assert everyone["integrationId"] is None
    assert everyone["totals"]["received"] == 3


async def test_a_longer_window_is_read_per_hour_in_one_read() -> None:
    world = World()
    integration_id, one, _ = await two_writers(world)
    one.tally(integration_id, FlowStep.FAILED, at(9, 30))
    one.tally(integration_id, FlowStep.FAILED, at(11, 59))
    await one.flush()
    chart = await chart_of(
        world,
        {
            "integrationId": integration_id,
            "from": "2026-02-28T12:00:00Z",
            "to": "2026-03-01T12:00:00Z",
        },
    )
    assert chart["granularity"] == "hour" and len(chart["buckets"]) == 24
    assert chart["totals"]["failed"] == 2
    assert world.flow_counts.reads == [
        (integration_id, HOUR, at(12, 0) - timedelta(days=1), at(12, 0))
    ]


async def test_the_window_defaults_to_the_last_hour() -> None:
    world = World()
    chart = await chart_of(world, {})
    assert chart["to"] == "2026-03-01T12:00:00.000Z" and chart["from"] == "2026-03-01T11:00:00.000Z"
    assert len(chart["buckets"]) == 60 and chart["granularity"] == "minute"


@pytest.mark.parametrize(
    "document",
    [
        {"from": "2026-03-01T12:00:00Z", "to": "2026-03-01T12:00:00Z"},
        {"from": "2026-03-01T12:00:00Z", "to": "2026-03-01T11:00:00Z"},
        {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        {"from": "yesterday"},
        {"window": "1h"},
    ],
)
async def test_a_bad_window_is_a_400(document: dict[str, Any]) -> None:
    world = World()
    with pytest.raises(ValidationFailed) as raised:
        await chart_of(world, document)
    assert raised.value.status == 400 and raised.value.details
    assert world.flow_counts.reads == []


async def test_an_unknown_integration_is_a_404() -> None:
    world = World()
    with pytest.raises(NotFound):
        await chart_of(world, {"integrationId": "int_nobody"})
    assert world.flow_counts.reads == []
