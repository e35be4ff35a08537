"""The timer: due retries, lost sends and dead workers are picked up; nothing else."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

from shared.domain.models import EventStatus
from tests.unit.fakes import World, unit_settings

STOCK = {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 1}]}}


def stock(sku: str) -> dict[str, Any]:
    return {"action": "inventory.set", "data": {"items": [{"sku": sku, "quantity": 1}]}}


def world_with(**settings: Any) -> World:
    """A world whose breaker stays closed, so every failure here is a real attempt."""
    return World(settings=unit_settings(CIRCUIT_FAILURE_THRESHOLD=1000, **settings))


async def failed_transiently(world: World, key: str, document: Any = STOCK) -> str:
    world.platform.answer(503)
    event_id = await world.push(key, document)
    await world.deliver()
    event = world.event(event_id)
    assert event.next_retry_at is not None and event.attempts == 1
    return event_id


async def test_a_due_retry_is_re_enqueued_with_its_session() -> None:
    world = world_with()
    integration, key = await world.integration()
    event_id = await failed_transiently(world, key)
    failed = world.event(event_id)
    assert failed.next_retry_at is not None
    # not yet due: nothing happens
    world.clock.current = failed.next_retry_at - timedelta(milliseconds=1)
    report = await world.recovery.run_once()
    assert report.retried == 0 and len(world.messages_for(event_id)) == 1

    world.clock.current = failed.next_retry_at
    report = await world.recovery.run_once()
    assert (report.due, report.retried) == (1, 1)
    event = world.event(event_id)
    assert event.status is EventStatus.QUEUED and event.next_retry_at is None
    first, retry = world.messages_for(event_id)
    assert retry.session_id == first.session_id == integration.id
    assert retry.message_id != first.message_id  # duplicate detection must not drop it
    assert retry.body == first.body
    # a new check in case this send is lost; the old row is gone
    [check] = world.schedule.for_event(event_id)
    assert check.due == world.clock() + timedelta(seconds=60)
    assert check.key == event.schedule_key


async def test_a_queued_event_past_grace_is_sent_again() -> None:
    world = world_with()
    _, key = await world.integration()
    world.bus.fail_next()  # the first send is lost
    event_id = await world.push(key, STOCK)
    assert world.bus.sent == []
    world.clock.advance(59)
    assert (await world.recovery.run_once()).resent == 0
    world.clock.advance(1)
    report = await world.recovery.run_once()
    assert report.resent == 1
    [message] = world.bus.sent
    assert message.message_id == event_id  # a true duplicate if the first did arrive
    assert world.event(event_id).status is EventStatus.QUEUED
    # and the worker can run it
    world.platform.answer(200, {"items": []})
    assert await world.deliver() == "success"


async def test_a_queued_event_still_waiting_after_the_resend_gets_a_new_message() -> None:
    world = world_with()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)  # sent, but the message is lost in the queue
    world.clock.advance(60)
    await world.recovery.run_once()
    first, resend = world.messages_for(event_id)
    assert resend.message_id == first.message_id == event_id  # dropped if it did arrive
    world.clock.advance(119)  # the next check comes two grace periods later
    assert (await world.recovery.run_once()).resent == 0
    world.clock.advance(1)
    assert (await world.recovery.run_once()).resent == 1
    third = world.messages_for(event_id)[-1]
    assert third.message_id != event_id  # not a duplicate: duplicate detection lets it in
    assert third.session_id == first.session_id
    world.platform.answer(200, {"items": []})
    assert await world.deliver(third) == "success"


async def test_an_event_waiting_behind_a_backlog_is_checked_ever_less_often() -> None:
    world = world_with()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)  # its message waits behind hours of others
    looks = []
    for _ in range(9):
        [check] = world.schedule.for_event(event_id)
        world.clock.current = check.due
        assert (await world.recovery.run_once()).resent == 1
        looks.append(check.due)
    gaps = [int((later - earlier).total_seconds()) for earlier, later in pairwise(looks)]
    assert gaps == [120, 240, 480, 960, 1920, 1920, 1920, 1920]  # grace 60 s, at most 32x
    ids = [message.message_id for message in world.messages_for(event_id)]
    assert ids[:2] == [event_id, event_id]  # the first look: a duplicate, dropped if it arrived
    assert len(ids) == 10 and len(set(ids)) == 9  # then a new message each look
    # taken off the queue at last: the next wait starts from one grace period again
    world.platform.answer(503)
    await world.deliver(world.messages_for(event_id)[-1])
    assert world.event(event_id).recovery_sends == 0


async def test_a_send_that_fails_does_not_space_the_checks_out() -> None:
    world = world_with()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    for _ in range(3):  # waiting behind a backlog: the checks are spaced out
        [check] = world.schedule.for_event(event_id)
        world.clock.current = check.due
        await world.recovery.run_once()
    world.bus.fail_next()  # then the queue is down at the next look
    [check] = world.schedule.for_event(event_id)
    world.clock.current = check.due
    await world.recovery.run_once()
    [check] = world.schedule.for_event(event_id)
    assert check.due == world.clock() + timedelta(seconds=60)  # one grace period
    sent = len(world.messages_for(event_id))
    world.clock.current = check.due
    assert (await world.recovery.run_once()).resent == 1
    assert len(world.messages_for(event_id)) == sent + 1


async def test_a_processing_event_past_its_lease_is_re_enqueued() -> None:
    world = world_with()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    # the worker marks it processing, then dies before the outcome
    event = world.event(event_id)
    event.etag = None
    event.status, event.attempts = EventStatus.PROCESSING, 1
    event.processing_started_at = world.clock()
    await world.events.save(event, 4)

    world.clock.advance(60)  # the accept check is due, the lease (300 s) is not over
    report = await world.recovery.run_once()
    assert report.lease_expired == 0 and len(world.bus.sent) == 1
    [check] = world.schedule.for_event(event_id)
    assert check.due == event.processing_started_at + timedelta(seconds=300)

    world.clock.current = check.due
    report = await world.recovery.run_once()
    assert report.lease_expired == 1
    assert world.event(event_id).status is EventStatus.QUEUED
    redelivery = world.messages_for(event_id)[-1]
    assert redelivery.message_id != event_id
    world.platform.answer(200, {"items": []})
    assert await world.deliver(redelivery) == "success"
    assert world.event(event_id).attempts == 2


async def test_events_with_an_outcome_just_lose_their_row() -> None:
    world = world_with()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    event = world.event(event_id)
    event.etag = None
    event.status = EventStatus.SUCCESS  # e.g. its outcome was saved but the row not removed
    await world.events.save(event, 4)
    world.clock.advance(60)
    report = await world.recovery.run_once()
    assert (report.cleared, report.retried, report.resent) == (1, 0, 0)
    assert world.schedule.rows == {}
    assert world.event(event_id).schedule_key is None
    assert len(world.bus.sent) == 1


async def test_a_superseded_row_is_removed_without_touching_the_event() -> None:
    world = world_with()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    stale = world.schedule.put(world.clock(), "int_x", event_id, 4)
    world.clock.advance(1)
    report = await world.recovery.run_once()
    assert report.cleared == 1 and stale in world.schedule.removed
    assert world.schedule.for_event(event_id)  # its real check stays


async def test_failures_that_wait_for_a_person_are_never_re_enqueued() -> None:
    world = world_with()
    _, key = await world.integration()
    world.platform.answer(422, {"message": "no"})
    event_id = await world.push(key, STOCK)
    await world.deliver()
    world.clock.advance(10_000)
    await world.recovery.run_once()
    assert len(world.messages_for(event_id)) == 1
    assert world.event(event_id).status is EventStatus.FAILED


async def test_retries_are_paced_per_integration() -> None:
    world = world_with(REQUEUE_PER_INTEGRATION_PER_RUN=2)
    busy, busy_key = await world.integration(id="int_busy")
    quiet, quiet_key = await world.integration(id="int_quiet")
    busy_events = [await failed_transiently(world, busy_key, stock(f"B{n}")) for n in range(5)]
    quiet_events = [await failed_transiently(world, quiet_key, stock(f"Q{n}")) for n in range(2)]
    world.clock.advance(1000)
    sent_before = len(world.bus.sent)
    report = await world.recovery.run_once()
    assert (report.retried, report.deferred) == (4, 3)
    assert report.per_integration == {busy.id: 2, quiet.id: 2}
    assert all(world.event(e).status is EventStatus.QUEUED for e in quiet_events)
    statuses = [world.event(e).status for e in busy_events]
    assert statuses.count(EventStatus.QUEUED) == 2 and statuses.count(EventStatus.FAILED) == 3
    assert len(world.bus.sent) == sent_before + 4
    # the rest stay due for the next run
    report = await world.recovery.run_once()
    assert report.retried == 2
    report = await world.recovery.run_once()
    assert report.retried == 1
    assert all(world.event(e).status is EventStatus.QUEUED for e in busy_events)


async def test_a_busy_integration_does_not_starve_the_others() -> None:
    world = world_with(REQUEUE_PER_INTEGRATION_PER_RUN=2)
    _, busy_key = await world.integration(id="int_busy")
    _, quiet_key = await world.integration(id="int_quiet")
    for n in range(5):
        await failed_transiently(world, busy_key, stock(f"B{n}"))
    world.clock.advance(100)  # the quiet integration's retry falls due later
    quiet = await failed_transiently(world, quiet_key)
    world.clock.advance(1000)
    report = await world.recovery.run_once(batch=3)
    assert world.event(quiet).status is EventStatus.QUEUED, report.to_json()


async def test_the_run_stops_at_its_time_budget() -> None:
    world = world_with(TIMER_BUDGET_SECONDS=10)
    _, key = await world.integration()
    events = [await failed_transiently(world, key, stock(f"S{n}")) for n in range(6)]
    world.clock.advance(1000)
    world.monotonic.step = 3.0  # every check takes 3 s
    report = await world.recovery.run_once()
    assert report.stopped_by_budget
    assert 0 < report.retried < 6
    still_due = [e for e in events if world.event(e).status is EventStatus.FAILED]
    assert len(still_due) == 6 - report.retried
    # the next run carries on where this one stopped
    world.monotonic.step = 0.0
    report = await world.recovery.run_once()
    assert report.retried == len(still_due) and not report.stopped_by_budget


async def test_a_send_failure_leaves_the_event_for_the_next_run() -> None:
    world = world_with()
    _, key = await world.integration()
    event_id = await failed_transiently(world, key)
    world.clock.advance(1000)
    world.bus.fail_next()
    await world.recovery.run_once()  # does not raise
    event = world.event(event_id)
    assert event.status is EventStatus.QUEUED
    [check] = world.schedule.for_event(event_id)
    world.clock.current = check.due
    assert (await world.recovery.run_once()).resent == 1
    assert len(world.messages_for(event_id)) == 2


async def test_report_as_json() -> None:
    report = await World().recovery.run_once()
    assert report.to_json() == {
        "due": 0,
        "retried": 0,
        "resent": 0,
        "leaseExpired": 0,
        "cleared": 0,
        "deferred": 0,
        "stoppedByBudget": False,
    }
