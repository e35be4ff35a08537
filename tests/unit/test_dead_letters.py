"""The dead-letter reader: a message nobody could process marks its event."""

from __future__ import annotations

import json

from shared import lifecycle
from shared.models import EventStatus
from tests.unit.fakes import World

STOCK = {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 1}]}}


def body_of(world: World) -> bytes:
    return json.dumps(world.bus.sent[-1].body).encode()


async def test_a_dead_lettered_message_marks_its_event_failed() -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    world.clock.advance(30)
    status = await world.dead_letters.handle(
        body_of(world), "MaxDeliveryCountExceeded", "Message could not be consumed after 10"
    )
    assert status == "failed"
    event = world.event(event_id)
    assert event.status is EventStatus.FAILED and event.dead_lettered
    assert event.next_retry_at is None and event.updated_at == world.clock()
    # not "permanent": nothing says the platform rejected the data, and a resubmission
    # must keep the platform key in case a crashed attempt had applied it
    assert event.last_error is not None and event.last_error.kind == "transient"
    assert "MaxDeliveryCountExceeded: Message could not be consumed" in event.last_error.message
    assert "Resubmit" in event.last_error.message
    # the timer has nothing left to do for it
    assert world.schedule.for_event(event_id) == [] and event.schedule_key is None


async def test_a_reason_alone_is_enough() -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    await world.dead_letters.handle(body_of(world), None, None)
    event = world.event(event_id)
    assert event.last_error is not None and "(dead-lettered)" in event.last_error.message


async def test_a_late_duplicate_of_a_successful_event_changes_nothing() -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    world.platform.answer(200, {"items": []})
    await world.deliver()
    saves = len(world.events.saved)
    assert await world.dead_letters.handle(body_of(world), "TTLExpired", None) == "success"
    assert world.event(event_id).status is EventStatus.SUCCESS
    assert not world.event(event_id).dead_lettered
    assert len(world.events.saved) == saves


async def test_messages_that_are_not_ours_are_dropped() -> None:
    world = World()
    assert await world.dead_letters.handle(b"garbage", "x", None) == "unreadable"
    integration, _ = await world.integration()
    unknown = {
        "eventId": "0190d6e4-0000-7000-8000-000000000000",
        "integrationId": integration.id,
        "shards": 4,
    }
    assert await world.dead_letters.handle(json.dumps(unknown).encode(), "x", None) == "missing"
    assert world.events.saved == []


async def test_a_dead_letter_of_an_older_send_is_ignored() -> None:
    """A person resubmitted the event meanwhile: the newer delivery decides, not the
    late dead letter of the message it replaced."""
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    old_message = world.bus.sent[-1]
    event = world.event(event_id)
    lifecycle.requeue(event, world.clock())
    await world.events.save(event, 8)
    status = await world.dead_letters.handle(
        body_of(world), "MaxDeliveryCountExceeded", "", message_id=old_message.message_id
    )
    assert status == "stale"
    assert world.event(event_id).status is EventStatus.QUEUED
    assert not world.event(event_id).dead_lettered
