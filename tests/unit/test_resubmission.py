"""A person's resubmission: one event or a filter's worth, audited, with a fresh key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from shared.domain.errors import Conflict, NotFound, TransientError, ValidationFailed
from shared.domain.jobs import BulkJob
from shared.domain.models import EventStatus, IntegrationEvent, Role
from shared.services.auth import Caller
from shared.services.ports import EventPage, EventQuery
from shared.services.resubmission import JOB_LEASE
from tests.unit.fakes import ADMIN, OPERATOR, World, unit_settings


def stock(sku: str) -> dict[str, Any]:
    return {"action": "inventory.set", "data": {"items": [{"sku": sku, "quantity": 1}]}}


async def rejected(world: World, key: str, sku: str = "A") -> str:
    world.platform.answer(422, {"message": f"SKU '{sku}' does not exist"})
    event_id = await world.push(key, stock(sku))
    await world.deliver()
    assert world.event(event_id).status is EventStatus.FAILED
    return event_id


async def test_a_resubmitted_event_is_asked_again_under_a_fresh_key() -> None:
    world = World()
    integration, key = await world.integration()
    event_id = await rejected(world, key)
    world.clock.advance(3600)  # the data owner fixed the SKU meanwhile
    answer = await world.resubmission.resubmit_one(integration.id, event_id, OPERATOR)
    assert (answer.id, answer.status, answer.resubmissions) == (event_id, "queued", 1)
    event = world.event(event_id)
    assert event.status is EventStatus.QUEUED and event.attempts == 0
    first, again = world.messages_for(event_id)
    assert again.message_id != first.message_id and again.session_id == first.session_id
    [check] = world.schedule.for_event(event_id)  # in case this send is lost
    assert check.key == event.schedule_key

    world.platform.answer(200, {"items": []})
    assert await world.deliver() == "success"
    keys = world.platform.idempotency_keys
    assert keys[0] == event_id and keys[1] != event_id and keys[1].startswith(event_id)
    [entry] = world.jobs.entries
    assert (entry.actor, entry.action, entry.event_ids) == (
        "operator:ann",
        "event.resubmitted",
        [event_id],
    )


async def test_a_dead_lettered_event_gets_a_new_attempt_budget() -> None:
    world = World(settings=unit_settings(CIRCUIT_FAILURE_THRESHOLD=100))
    integration, key = await world.integration()
    world.platform.answer(503).answer(503).answer(503)
    event_id = await world.push(key, stock("A"))
    for _ in range(3):
        await world.deliver()
        if world.event(event_id).next_retry_at:
            world.clock.current = world.event(event_id).next_retry_at  # type: ignore[assignment]
            await world.recovery.run_once()
    assert world.event(event_id).dead_lettered
    await world.resubmission.resubmit_one(integration.id, event_id, ADMIN)
    event = world.event(event_id)
    assert not event.dead_lettered and event.attempts == 0 and event.last_error is not None


async def test_only_failed_events_can_be_resubmitted() -> None:
    world = World()
    integration, key = await world.integration()
    world.platform.answer(200, {"items": []})
    event_id = await world.push(key, stock("A"))
    await world.deliver()
    with pytest.raises(Conflict) as caught:
        await world.resubmission.resubmit_one(integration.id, event_id, ADMIN)
    assert caught.value.status == 409 and "success" in caught.value.message
    with pytest.raises(NotFound):
        await world.resubmission.resubmit_one(integration.id, "nope", ADMIN)
    with pytest.raises(NotFound):
        await world.resubmission.resubmit_one("int_missing", event_id, ADMIN)
    assert world.jobs.entries == []


async def test_bulk_resubmission_of_a_filter_pages_through_every_match_once() -> None:
    world = World()
    integration, key = await world.integration()
    failed = []
    for n in range(5):
        failed.append(await rejected(world, key, f"S{n}"))
        world.clock.advance(1)
    world.platform.answer(200, {"items": []})
    fine = await world.push(key, stock("OK"))
    await world.deliver()

    job = await world.resubmission.start_bulk(integration.id, {"status": "failed"}, OPERATOR)
    assert job.status == "completed"
    assert (job.matched, job.resubmitted, job.skipped) == (5, 5, 0)
    assert all(world.event(e).status is EventStatus.QUEUED for e in failed)
    assert world.event(fine).status is EventStatus.SUCCESS
    started, page = world.jobs.entries
    assert (started.action, started.job_id, started.event_ids) == ("events.resubmitted", job.id, [])
    assert page.action == "job.progressed" and sorted(page.event_ids) == sorted(failed)
    stored = await world.resubmission.job(integration.id, job.id)
    assert stored.status == "completed" and stored.filter == {
        "integrationId": integration.id,
        "status": "failed",
        "limit": 50,
    }


async def test_a_bulk_job_advances_page_by_page_and_can_be_cancelled() -> None:
    world = World()
    integration, key = await world.integration()
    failed = []
    for n in range(5):
        failed.append(await rejected(world, key, f"S{n}"))
        world.clock.advance(1)
    now = world.clock()
    job = BulkJob(
        "job_paged",
        integration.id,
        {"integrationId": integration.id, "status": "failed"},
        "op",
        now,
        now,
    )
    await world.jobs.save_job(job)
    await world.resubmission.advance(job, page_size=2)
    await world.resubmission.advance(job, page_size=2)
    assert (job.status, job.matched, job.resubmitted) == ("running", 4, 4)
    newest_first = list(reversed(failed))
    assert [world.event(e).status for e in newest_first] == [EventStatus.QUEUED] * 4 + [
        EventStatus.FAILED
    ]
    cancelled = await world.resubmission.cancel(integration.id, job.id, OPERATOR)
    assert cancelled.status == "cancelled"
    assert await world.resubmission.advance_all() == 0
    assert world.event(failed[0]).status is EventStatus.FAILED
    assert world.jobs.entries[-1].action == "job.cancelled"


async def failed_events(world: World, key: str, count: int) -> list[str]:
    failed = []
    for n in range(count):
        failed.append(await rejected(world, key, f"S{n}"))
        world.clock.advance(1)
    return failed


def job_for(integration_id: str, now: datetime, **fields: Any) -> BulkJob:
    return BulkJob(
        "job_held",
        integration_id,
        {"integrationId": integration_id, "status": "failed"},
        "op",
        now,
        now,
        **fields,
    )


async def test_the_timer_leaves_a_job_to_the_runner_holding_it_until_its_lease_ends() -> None:
    world = World()
    integration, key = await world.integration()
    failed = await failed_events(world, key, 3)
    now = world.clock()
    await world.jobs.save_job(job_for(integration.id, now, lease_until=now + JOB_LEASE))

    await world.resubmission.advance_all()
    assert all(world.event(e).status is EventStatus.FAILED for e in failed)

    world.clock.advance(JOB_LEASE.total_seconds() + 1)  # the runner died holding it
    await world.resubmission.advance_all()
    stored = await world.resubmission.job(integration.id, "job_held")
    assert (stored.status, stored.matched, stored.resubmitted) == ("completed", 3, 3)
    assert stored.lease_until is None
    assert all(world.event(e).status is EventStatus.QUEUED for e in failed)


async def test_two_runners_with_one_job_count_its_page_once() -> None:
    world = World()
    integration, key = await world.integration()
    await failed_events(world, key, 3)
    await world.jobs.save_job(job_for(integration.id, world.clock()))
    first = await world.resubmission.job(integration.id, "job_held")
    second = await world.resubmission.job(integration.id, "job_held")

    await world.resubmission.advance(first)
    await world.resubmission.advance(second)  # read before the first one took the job

    stored = await world.resubmission.job(integration.id, "job_held")
    assert (stored.status, stored.matched, stored.resubmitted, stored.skipped) == (
        "completed",
        3,
        3,
        0,
    )
    assert [entry.action for entry in world.jobs.entries] == ["job.progressed"]


async def test_a_cancel_while_a_page_runs_is_kept_with_the_pages_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    integration, key = await world.integration()
    await failed_events(world, key, 3)
    await world.jobs.save_job(job_for(integration.id, world.clock()))
    query = world.events.query

    async def query_then_cancel(request: EventQuery) -> EventPage:
        page = await query(request)
        await world.resubmission.cancel(
            integration.id, "job_held", Caller(Role.OPERATOR, "operator:bob")
        )
        return page

    monkeypatch.setattr(world.events, "query", query_then_cancel)
    await world.resubmission.advance(await world.resubmission.job(integration.id, "job_held"))

    stored = await world.resubmission.job(integration.id, "job_held")
    assert (stored.status, stored.matched, stored.resubmitted) == ("cancelled", 3, 3)
    assert stored.lease_until is None


async def test_a_job_whose_page_fails_does_not_hold_up_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    broken, broken_key = await world.integration()
    healthy, healthy_key = await world.integration()
    await failed_events(world, broken_key, 1)
    [waiting] = await failed_events(world, healthy_key, 1)
    for integration in (broken, healthy):
        await world.jobs.save_job(job_for(integration.id, world.clock()))
    query = world.events.query

    async def storage_down_for_one(request: EventQuery) -> EventPage:
        if request.integration_id == broken.id:
            raise TransientError("Storage is unavailable: ServiceRequestError")
        return await query(request)

    monkeypatch.setattr(world.events, "query", storage_down_for_one)
    assert await world.resubmission.advance_all() == 2
    assert world.event(waiting).status is EventStatus.QUEUED
    stuck = await world.resubmission.job(broken.id, "job_held")
    assert stuck.status == "running" and stuck.lease_until is None  # let go for the next run

    monkeypatch.setattr(world.events, "query", query)
    await world.resubmission.advance_all()
    assert (await world.resubmission.job(broken.id, "job_held")).status == "completed"


async def test_a_page_failing_part_way_is_audited_and_each_event_resubmitted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    integration, key = await world.integration()
    failed = await failed_events(world, key, 3)
    save = world.events.save
    saves = 0

    async def storage_down_after_two(event: IntegrationEvent, shards: int) -> None:
        nonlocal saves
        saves += 1
        if saves > 2:
            raise TransientError("Storage is unavailable: ServiceRequestError")
        await save(event, shards)

    monkeypatch.setattr(world.events, "save", storage_down_after_two)
    started = await world.resubmission.start_bulk(integration.id, {"status": "failed"}, OPERATOR)
    assert started.status == "running"  # recorded; the timer runs its page again
    assert (started.matched, started.resubmitted, started.skipped) == (2, 2, 0)
    started_row, page = world.jobs.entries
    assert started_row.action == "events.resubmitted" and started_row.job_id == started.id
    assert page.action == "job.progressed" and len(page.event_ids) == 2

    monkeypatch.setattr(world.events, "save", save)
    await world.resubmission.advance_all()
    job = await world.resubmission.job(integration.id, started.id)
    assert (job.status, job.matched, job.resubmitted, job.skipped) == ("completed", 3, 3, 0)
    assert all(world.event(e).status is EventStatus.QUEUED for e in failed)


async def test_a_runner_whose_hold_was_taken_over_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    integration, key = await world.integration()
    await failed_events(world, key, 2)
    await world.jobs.save_job(job_for(integration.id, world.clock()))
    query = world.events.query

    async def slow_page(request: EventQuery) -> EventPage:
        page = await query(request)
        # this runner's hold runs out mid-page and another runner takes the job
        world.clock.advance(JOB_LEASE.total_seconds() + 1)
        other = await world.resubmission.job(integration.id, "job_held")
        other.lease_until = world.clock() + JOB_LEASE
        await world.jobs.save_job(other)
        return page

    monkeypatch.setattr(world.events, "query", slow_page)
    await world.resubmission.advance(await world.resubmission.job(integration.id, "job_held"))
    stored = await world.resubmission.job(integration.id, "job_held")
    assert stored.lease_until == world.clock() + JOB_LEASE  # still the other runner's
    assert (stored.status, stored.matched) == ("running", 0)


async def test_a_bulk_filter_is_validated() -> None:
    world = World()
    integration, _ = await world.integration()
    with pytest.raises(ValidationFailed):
        await world.resubmission.start_bulk(integration.id, {"status": "broken"}, OPERATOR)
    with pytest.raises(NotFound):
        await world.resubmission.start_bulk("int_missing", {}, OPERATOR)
    assert world.jobs.jobs == {}


# --- the audit trail ------------------------------------------------------------------------
async def test_a_resubmission_is_one_row_naming_who_from_where_and_the_event() -> None:
    world = World()
    integration, key = await world.integration()
    event_id = await rejected(world, key)
    await world.resubmission.resubmit_one(integration.id, event_id, OPERATOR)
    [row] = world.jobs.trail(integration.id)
    assert (row.action, row.actor, row.role, row.address) == (
        "event.resubmitted",
        "operator:ann",
        Role.OPERATOR,
        "198.51.100.24",
    )
    assert (row.before, row.after, row.event_ids, row.job_id) == (
        {"status": "failed"},
        {"status": "queued"},
        [event_id],
        None,
    )
    assert row.at == world.clock()


async def test_a_bulk_start_and_its_cancel_are_one_row_each() -> None:
    world = World()
    integration, key = await world.integration()
    await failed_events(world, key, 3)
    job = await world.resubmission.start_bulk(
        integration.id, {"status": "failed", "action": "inventory.set"}, OPERATOR
    )
    started = [row for row in world.jobs.trail(integration.id) if row.job_id == job.id]
    assert [row.action for row in started] == ["events.resubmitted", "job.progressed"]
    assert (started[0].role, started[0].address, started[0].before) == (
        Role.OPERATOR,
        "198.51.100.24",
        None,
    )
    assert started[0].after == {"filter": job.filter, "status": "running"}
    # the page is the job's step, for the person who started it
    assert (started[1].actor, started[1].role, started[1].address) == ("operator:ann", None, None)
    assert len(started[1].event_ids) == 3
    assert job.requested_by == "operator:ann"  # the job still shows the name

    await world.jobs.save_job(job_for(integration.id, world.clock(), lease_until=None))
    admin = Caller(Role.ADMIN, "admin:ada", "2001:db8::7")
    await world.resubmission.cancel(integration.id, "job_held", admin)
    row = world.jobs.trail(integration.id)[-1]
    assert (row.action, row.actor, row.role, row.address, row.job_id) == (
        "job.cancelled",
        "admin:ada",
        Role.ADMIN,
        "2001:db8::7",
        "job_held",
    )
    assert (row.before, row.after) == ({"status": "running"}, {"status": "cancelled"})
    rows = len(world.jobs.entries)
    await world.resubmission.cancel(integration.id, "job_held", admin)  # already ended
    await world.resubmission.cancel(integration.id, job.id, admin)  # completed
    assert len(world.jobs.entries) == rows


async def test_a_refused_resubmission_writes_no_row() -> None:
    world = World()
    integration, key = await world.integration()
    world.platform.answer(200, {"items": []})
    event_id = await world.push(key, stock("A"))
    await world.deliver()
    with pytest.raises(Conflict):
        await world.resubmission.resubmit_one(integration.id, event_id, OPERATOR)
    with pytest.raises(ValidationFailed):
        await world.resubmission.start_bulk(integration.id, {"status": "broken"}, OPERATOR)
    assert world.jobs.entries == []
