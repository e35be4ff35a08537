"""Retention: what expires when, what is never purged for its age, and how the timer's
purge stays within its batch and its time budget."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from shared.domain.models import EventStatus
from shared.domain.retention import (
    ACROSS_INTEGRATIONS,
    ALL_INTEGRATIONS_SCOPE,
    PER_INTEGRATION,
    RecordKind,
    horizons,
    is_final,
    window_name,
)
from tests.unit.fakes import START, World, unit_settings

DAY = timedelta(days=1)


def test_each_kind_expires_after_its_setting() -> None:
    horizon = horizons(START, event_days=30, audit_days=365, version_days=90)
    assert horizon[RecordKind.EVENTS] == START - 30 * DAY
    assert horizon[RecordKind.ALERTS] == START - 30 * DAY
    assert horizon[RecordKind.AUDIT] == START - 365 * DAY
    assert horizon[RecordKind.VERSIONS] == START - 90 * DAY
    assert horizon[RecordKind.FLOW_MINUTES] == START - 2 * DAY  # the chart reads 6 h
    assert horizon[RecordKind.FLOW_HOURS] == START - 31 * DAY  # the chart's reach
    longer = horizons(START, event_days=90, audit_days=1, version_days=1)
    assert longer[RecordKind.FLOW_HOURS] == START - 90 * DAY
    assert set(horizon) == set(RecordKind)


@pytest.mark.parametrize("status", list(EventStatus))
def test_only_final_events_may_go_for_their_age(status: EventStatus) -> None:
    # queued and processing are on their way; failed waits for a retry or a person:
    # purging it would make a failure disappear unseen.
    assert is_final(status) is (status in (EventStatus.SUCCESS, EventStatus.SKIPPED))


def test_alert_windows_are_named_so_they_sort_by_time() -> None:
    names = [window_name(START + n * timedelta(minutes=7)) for n in range(300)]
    assert names == sorted(names)
    assert window_name(START) == "2026-03-01T12:00:00"


def world_with(**settings: object) -> World:
    return World(settings=unit_settings(**settings))


async def test_a_run_purges_every_kind_of_every_integration_then_pauses() -> None:
    world = world_with(RETENTION_EVENT_DAYS=30, RETENTION_AUDIT_DAYS=365)
    first, _ = await world.integration(partition_shards=4)
    second, _ = await world.integration()
    world.retention.expired[(RecordKind.EVENTS, first.id)] = 7
    world.retention.expired[(RecordKind.AUDIT, second.id)] = 2
    world.retention.expired[(RecordKind.FLOW_MINUTES, ALL_INTEGRATIONS_SCOPE)] = 3
    world.retention.kept[(RecordKind.EVENTS, first.id)] = 1

    report = await world.purge.run_once()

    assert report.ran and report.finished
    deleted = {kind: n for kind, n in report.deleted.items() if n}
    assert deleted == {RecordKind.EVENTS: 7, RecordKind.AUDIT: 2, RecordKind.FLOW_MINUTES: 3}
    assert report.kept[RecordKind.EVENTS] == 1
    visited = {(kind, scope, shards) for kind, scope, shards, _, _ in world.retention.calls}
    assert visited == {
        *((kind, first.id, 4) for kind in PER_INTEGRATION),
        *((kind, second.id, second.partition_shards) for kind in PER_INTEGRATION),
        *((kind, ALL_INTEGRATIONS_SCOPE, 1) for kind in ACROSS_INTEGRATIONS),
    }
    befores = {kind: before for kind, _, _, before, _ in world.retention.calls}
    assert befores[RecordKind.EVENTS] == START - 30 * DAY
    assert befores[RecordKind.AUDIT] == START - 365 * DAY
    # Done: the next purge is due an interval later, and until then a run reads one row.
    assert world.retention.due == START + timedelta(minutes=60)
    world.retention.calls.clear()
    world.clock.advance(59 * 60)
    assert not (await world.purge.run_once()).ran
    assert world.retention.calls == []
    world.clock.advance(60)
    assert (await world.purge.run_once()).ran


async def test_a_run_stops_at_its_batch_and_the_next_goes_on() -> None:
    world = world_with(RETENTION_BATCH=10)
    integration, _ = await world.integration()
    world.retention.expired[(RecordKind.EVENTS, integration.id)] = 25

    first = await world.purge.run_once()
    assert first.deleted[RecordKind.EVENTS] == 10 and not first.finished
    assert world.retention.calls[-1][0] is RecordKind.EVENTS  # nothing after the batch
    assert world.retention.due == START  # still due: the next timer run goes on
    assert world.retention.resume_after == ""  # with the events, unfinished
    second = await world.purge.run_once()
    third = await world.purge.run_once()
    assert second.deleted[RecordKind.EVENTS] == 10
    assert third.deleted[RecordKind.EVENTS] == 5 and third.finished
    assert world.retention.expired[(RecordKind.EVENTS, integration.id)] == 0


async def test_each_purge_call_asks_for_no_more_than_the_batch_has_left() -> None:
    world = world_with(RETENTION_BATCH=10)
    integration, _ = await world.integration()
    world.retention.expired[(RecordKind.EVENTS, integration.id)] = 4
    world.retention.expired[(RecordKind.VERSIONS, integration.id)] = 3
    await world.purge.run_once()
    limits = {kind: limit for kind, _, _, _, limit in world.retention.calls}
    assert limits[RecordKind.EVENTS] == 10
    assert limits[RecordKind.VERSIONS] == 6
    assert limits[RecordKind.AUDIT] == 3


async def test_a_run_stops_at_its_time_budget() -> None:
    world = world_with(RETENTION_BUDGET_SECONDS=10)
    await world.integration()
    world.monotonic.step = 4.0  # every purge call takes a while
    report = await world.purge.run_once()
    assert report.ran and not report.finished
    assert len(world.retention.calls) < len(PER_INTEGRATION)
    assert world.retention.due == START


async def test_storage_trouble_in_one_kind_leaves_the_others_purged_and_the_run_due() -> None:
    world = world_with()
    integration, _ = await world.integration()
    world.retention.expired[(RecordKind.AUDIT, integration.id)] = 2
    world.retention.down.add(RecordKind.EVENTS)
    report = await world.purge.run_once()
    assert report.deleted[RecordKind.AUDIT] == 2
    assert report.failed_scopes == 1 and not report.finished
    # Logged, and tried again with the next purge: not every minute.
    assert world.retention.due == START + timedelta(minutes=60)


async def test_old_events_kept_because_they_are_not_final_are_said_out_loud(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = world_with()
    integration, _ = await world.integration()
    world.retention.kept[(RecordKind.EVENTS, integration.id)] = 3
    with caplog.at_level(logging.INFO, logger="integrations.retention"):
        await world.purge.run_once()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("3 event(s) older than 30 days are kept" in text for text in warnings)


def test_the_maintenance_timer_runs_the_purge() -> None:
    source = (Path(__file__).parents[2] / "function_app.py").read_text()
    body = source[source.index("async def maintenance(") :].split("\n\n\n")[0]
    assert "await services.retention.run_once()" in body


def stock(sku: str, quantity: int) -> dict[str, object]:
    return {"action": "inventory.set", "data": {"items": [{"sku": sku, "quantity": quantity}]}}


async def test_an_event_older_than_the_remembered_versions_is_not_applied_blind() -> None:
    # Its record's version row may have been purged: whether newer data was applied
    # since cannot be told, so nothing is applied, and the reason says why.
    world = world_with(RETENTION_VERSION_DAYS=1)
    _, key = await world.integration()
    old = await world.push(key, stock("OLD-SKU", 5))
    message = world.bus.sent[-1]
    world.clock.advance(2 * 86_400)
    await world.deliver(message)
    event = world.event(old)
    assert event.status is EventStatus.SKIPPED
    assert event.skipped_reason is not None and "RETENTION_VERSION_DAYS" in event.skipped_reason
    assert world.platform.calls == []


async def test_within_the_remembered_versions_a_missing_row_means_a_new_record() -> None:
    world = world_with(RETENTION_VERSION_DAYS=1)
    _, key = await world.integration()
    new = await world.push(key, stock("NEW-SKU", 5))
    world.platform.answer(200, {"items": []})
    world.clock.advance(3_600)
    await world.deliver()
    assert world.event(new).status is EventStatus.SUCCESS
    assert len(world.platform.calls) == 1


async def test_an_old_event_whose_record_is_remembered_compares_as_always() -> None:
    world = world_with(RETENTION_VERSION_DAYS=1, ENTITY_ORDERING_SHARDS=1)
    _, key = await world.integration()
    older = await world.push(key, stock("SKU", 1))
    older_message = world.bus.sent[-1]
    world.clock.advance(1)
    newer = await world.push(key, stock("SKU", 2))
    world.platform.answer(200, {"items": []})
    await world.deliver()  # the newer one applies first
    world.clock.advance(2 * 86_400)
    await world.deliver(older_message)
    assert world.event(newer).status is EventStatus.SUCCESS
    skipped = world.event(older)
    assert skipped.status is EventStatus.SKIPPED
    assert skipped.skipped_reason is not None and "newer event" in skipped.skipped_reason


async def test_runs_stopped_by_the_budget_work_through_every_integration() -> None:
    world = world_with(RETENTION_BUDGET_SECONDS=10)
    for _ in range(5):
        await world.integration()
    world.monotonic.step = 4.0  # about two purge calls fit in a run
    scopes = 5 * len(PER_INTEGRATION) + len(ACROSS_INTEGRATIONS)
    runs = 0
    while True:
        runs += 1
        report = await world.purge.run_once()
        assert report.ran
        if report.finished:
            break
        assert runs < scopes
    visited = [(kind, scope) for kind, scope, _, _, _ in world.retention.calls]
    assert len(visited) == len(set(visited)) == scopes  # each once, none skipped
    assert world.retention.due == START + timedelta(minutes=60)
    assert world.retention.resume_after is None
