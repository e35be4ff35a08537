"""The dead-letter reader: a message nobody could process marks its event, with the
queue's reason in words; a storage outage leaves the event to the timer instead of
making the function fail (and its message come straight back) in a loop."""

from __future__ import annotations

import json

from shared.domain import lifecycle
from shared.domain.errors import TransientError
from shared.domain.models import EventStatus
from shared.services.dead_letters import DeadLetterCause, read_cause
from tests.unit.fakes import World

STOCK = {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 1}]}}
# As Service Bus sets them when a message ran out of deliveries.
MAX_DELIVERIES = {
    "DeadLetterReason": "MaxDeliveryCountExceeded",
    "DeadLetterErrorDescription": "Message could not be consumed after 10 delivery attempts.",
}
OUTAGE = TransientError("Table Storage unavailable: ServiceRequestError")


def body_of(world: World) -> bytes:
    return json.dumps(world.bus.sent[-1].body).encode()


# --- the cause, in words ----------------------------------------------------------------


def test_max_deliveries_say_how_often_the_worker_failed() -> None:
    cause = read_cause(MAX_DELIVERIES)
    assert cause.in_words() == "the worker failed on it 10 times (MaxDeliveryCountExceeded)"
    without_count = DeadLetterCause("MaxDeliveryCountExceeded", None)
    assert without_count.in_words() == (
        "the worker failed on it as often as the queue allows (MaxDeliveryCountExceeded)"
    )


def test_an_expired_message_is_not_blamed_on_the_worker() -> None:
    cause = read_cause(
        {
            "DeadLetterReason": "TTLExpiredException",
            "DeadLetterErrorDescription": "The message expired and was dead lettered.",
        }
    )
    words = cause.in_words()
    assert words == "it waited in the queue longer than its time to live (TTLExpiredException)"
    assert "worker" not in words


def test_other_reasons_are_given_verbatim() -> None:
    header = read_cause(
        {
            "DeadLetterReason": "HeaderSizeExceeded",
            "DeadLetterErrorDescription": "The size quota for this stream has been exceeded.",
        }
    )
    assert header.in_words() == (
        "HeaderSizeExceeded: The size quota for this stream has been exceeded"
    )
    assert read_cause({"DeadLetterReason": "Session ID is null."}).in_words() == (
        "Session ID is null"
    )
    assert read_cause({}).in_words() == "the queue gave no reason"


def test_the_cause_is_read_from_the_application_properties_first() -> None:
    # On Azure the fields stay empty (the extension passes no DeadLetterReason metadata).
    assert read_cause(MAX_DELIVERIES, None, None) == read_cause(
        MAX_DELIVERIES, "SomethingElse", "the fields lose"
    )
    assert read_cause(MAX_DELIVERIES).reason == "MaxDeliveryCountExceeded"
    # Without them, the message's own fields are used.
    assert read_cause({"tenant": "t1"}, "TTLExpiredException", "") == DeadLetterCause(
        "TTLExpiredException", None
    )
    assert read_cause(None, None, None) == DeadLetterCause(None, None)


# --- marking the event ------------------------------------------------------------------


async def test_a_dead_lettered_message_marks_its_event_failed() -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    world.clock.advance(30)
    status = await world.dead_letters.handle(
        body_of(world), {"traceparent": "00-x", **MAX_DELIVERIES}, event_id
    )
    assert status == "failed"
    event = world.event(event_id)
    assert event.status is EventStatus.FAILED and event.dead_lettered
    assert event.next_retry_at is None and event.updated_at == world.clock()
    # not "permanent": nothing says the platform rejected the data, and a resubmission
    # must keep the platform key in case a crashed attempt had applied it
    assert event.last_error is not None and event.last_error.kind == "transient"
    assert event.last_error.message == (
        "Delivery gave up: the worker failed on it 10 times (MaxDeliveryCountExceeded). "
        "Resubmit it once the cause is fixed."
    )
    # the timer has nothing left to do for it
    assert world.schedule.for_event(event_id) == [] and event.schedule_key is None


async def test_an_expired_message_marks_its_event_with_what_happened() -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    expired = {"DeadLetterReason": "TTLExpiredException"}
    await world.dead_letters.handle(body_of(world), expired, event_id)
    error = world.event(event_id).last_error
    assert error is not None
    assert "longer than its time to live" in error.message and "worker" not in error.message


async def test_the_message_fields_are_a_fallback() -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    await world.dead_letters.handle(body_of(world), None, reason="MaxDeliveryCountExceeded")
    event = world.event(event_id)
    assert event.last_error is not None
    assert "the worker failed on it as often as the queue allows" in event.last_error.message


async def test_a_dead_letter_without_a_reason_is_still_marked() -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    await world.dead_letters.handle(body_of(world))
    event = world.event(event_id)
    assert event.dead_lettered
    assert event.last_error is not None and "the queue gave no reason" in event.last_error.message


async def test_a_late_duplicate_of_a_successful_event_changes_nothing() -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    world.platform.answer(200, {"items": []})
    await world.deliver()
    saves = len(world.events.saved)
    expired = {"DeadLetterReason": "TTLExpiredException"}
    assert await world.dead_letters.handle(body_of(world), expired) == "success"
    assert world.event(event_id).status is EventStatus.SUCCESS
    assert not world.event(event_id).dead_lettered
    assert len(world.events.saved) == saves


async def test_messages_that_are_not_ours_are_dropped() -> None:
    world = World()
    assert await world.dead_letters.handle(b"garbage", MAX_DELIVERIES) == "unreadable"
    integration, _ = await world.integration()
    unknown = {
        "eventId": "0190d6e4-0000-7000-8000-000000000000",
        "integrationId": integration.id,
        "shards": 4,
    }
    assert await world.dead_letters.handle(json.dumps(unknown).encode()) == "missing"
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
    status = await world.dead_letters.handle(body_of(world), MAX_DELIVERIES, old_message.message_id)
    assert status == "stale"
    assert world.event(event_id).status is EventStatus.QUEUED
    assert not world.event(event_id).dead_lettered


# --- storage outages --------------------------------------------------------------------


async def test_a_storage_outage_completes_the_dead_letter_and_loses_nothing() -> None:
    """Raising would abandon the dead letter, and one cannot be dead-lettered again: it
    would come straight back, in a loop, for as long as storage is down. Completing it
    is safe: the event keeps its due-time check, the timer sends it again, and if the
    worker still fails on it, it is dead-lettered again and marked then."""
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    dead = world.bus.sent[-1]  # the worker crashed on it until the queue gave up

    world.events.write_failures[EventStatus.FAILED] = OUTAGE
    status = await world.dead_letters.handle(body_of(world), MAX_DELIVERIES, dead.message_id)
    assert status == "deferred"  # returned, not raised: the message is completed
    event = world.event(event_id)
    assert event.status is EventStatus.QUEUED and not event.dead_lettered
    [check] = world.schedule.for_event(event_id)  # its check is still there
    assert check.key == event.schedule_key

    # Storage is back. The timer's first look sends the same message again (duplicate
    # detection drops it, had it arrived); the next one sends a new message.
    for _ in range(5):
        world.clock.advance(600)
        await world.recovery.run_once()
        if world.bus.sent[-1].message_id != dead.message_id:
            break
    again = world.bus.sent[-1]
    assert again.message_id != dead.message_id and again.session_id == dead.session_id
    assert world.event(event_id).status is EventStatus.QUEUED

    # The worker still crashes on it: the new message is dead-lettered too, and marked.
    status = await world.dead_letters.handle(
        json.dumps(again.body).encode(), MAX_DELIVERIES, again.message_id
    )
    assert status == "failed"
    event = world.event(event_id)
    assert event.dead_lettered and event.next_retry_at is None
    assert world.schedule.for_event(event_id) == []


async def test_an_outage_while_reading_the_event_also_completes_the_dead_letter() -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)

    def unavailable() -> None:
        raise OUTAGE

    world.events.after_get.append(unavailable)
    assert await world.dead_letters.handle(body_of(world), MAX_DELIVERIES) == "deferred"
    assert world.event(event_id).status is EventStatus.QUEUED
    assert world.schedule.for_event(event_id) != []
    # once storage answers, the same dead letter marks the event
    assert await world.dead_letters.handle(body_of(world), MAX_DELIVERIES) == "failed"
    assert world.event(event_id).dead_lettered
