"""The queue worker: one event applied to the platform and its outcome recorded."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from actions.base import PlatformCall
from shared.domain.errors import TransientError, UnreadableMessage
from shared.domain.masking import REMOVED
from shared.domain.models import EventStatus, OrderingScope, PlatformExchange
from shared.services.ports import StaleWrite
from tests.unit.fakes import World, unit_settings


def stock(*lines: tuple[str, int]) -> dict[str, Any]:
    items = [{"sku": sku, "quantity": quantity, "warehouseId": "wh-01"} for sku, quantity in lines]
    return {"action": "inventory.set", "data": {"items": items}}


def adjust(sku: str, by: int) -> dict[str, Any]:
    return {"action": "inventory.adjust", "data": {"items": [{"sku": sku, "adjustment": by}]}}


async def accepted(world: World, document: Any) -> tuple[str, str]:
    """An integration with one accepted event; returns (integration id, event id)."""
    integration, key = await world.integration()
    return integration.id, await world.push(key, document)


async def retry_due(world: World, event_id: str) -> None:
    """Let the timer re-enqueue a failed event once its retry time has come."""
    next_retry = world.event(event_id).next_retry_at
    assert next_retry is not None
    world.clock.current = next_retry
    await world.recovery.run_once()
    assert world.event(event_id).status is EventStatus.QUEUED


async def test_success_records_the_result_and_removes_the_check() -> None:
    world = World()
    world.platform.answer(200, {"items": [{"sku": "A", "warehouseId": "wh-01", "quantity": 5}]})
    _, event_id = await accepted(world, stock(("A", 5)))
    assert world.schedule.for_event(event_id)
    assert await world.deliver() == "success"
    event = world.event(event_id)
    assert event.status is EventStatus.SUCCESS
    assert event.attempts == 1
    assert event.result == {"levels": [{"sku": "A", "warehouseId": "wh-01", "quantity": 5}]}
    assert event.last_error is None and event.schedule_key is None
    assert world.schedule.for_event(event_id) == []
    # what was sent, under which key
    [call] = world.platform.calls
    assert call.call.operation_id == "setInventoryLevels"
    assert call.call.body == {"items": [{"sku": "A", "quantity": 5, "warehouseId": "wh-01"}]}
    assert call.idempotency_key == event_id
    # the statuses it went through, and the masked communication log
    # one write on acceptance, one with the outcome: a fast attempt is never marked
    assert [s for eid, s in world.events.saved if eid == event_id] == [
        EventStatus.QUEUED,
        EventStatus.SUCCESS,
    ]
    [attempt] = await world.attempts(event_id)
    assert attempt.outcome == "success" and attempt.number == 1
    assert attempt.calls[0]["request"]["headers"]["Authorization"] == REMOVED
    assert attempt.calls[0]["status"] == 200


async def test_a_permanent_failure_waits_for_a_person() -> None:
    world = World()
    rejection = {
        "error": "unknown_sku",
        "message": "SKU 'NOPE' does not exist",
        "details": [{"path": "items[0].sku"}],
    }
    world.platform.answer(422, rejection)
    _, event_id = await accepted(world, adjust("NOPE", -1))
    assert await world.deliver() == "failed"
    event = world.event(event_id)
    assert event.status is EventStatus.FAILED
    assert event.next_retry_at is None and not event.dead_lettered
    assert event.last_error is not None
    assert event.last_error.kind == "permanent" and event.last_error.http_status == 422
    assert event.last_error.message == (
        "Cannot adjust stock for 'NOPE': SKU 'NOPE' does not exist (items[0].sku)"
    )
    assert world.schedule.for_event(event_id) == []
    [attempt] = await world.attempts(event_id)
    assert attempt.outcome == "failed" and attempt.error == event.last_error


async def test_a_transient_failure_is_scheduled_for_a_retry() -> None:
    world = World()
    world.platform.answer(503, {"message": "Down for maintenance"}, {"Retry-After": "7"})
    _, event_id = await accepted(world, stock(("A", 5)))
    first_check = world.event(event_id).schedule_key
    assert await world.deliver() == "failed"
    event = world.event(event_id)
    assert event.status is EventStatus.FAILED and event.attempts == 1
    assert event.last_error is not None and event.last_error.kind == "transient"
    assert event.next_retry_at is not None
    # Retry-After is a floor, the first ceiling (10 s) the top of the jitter
    assert timedelta(seconds=7) <= event.next_retry_at - world.clock() <= timedelta(seconds=10)
    [check] = world.schedule.for_event(event_id)
    assert check.due == event.next_retry_at and check.key == event.schedule_key
    assert first_check not in world.schedule.rows


async def test_a_timeout_is_retried_under_the_same_platform_key() -> None:
    world = World()
    world.platform.no_response().answer(200, {"items": []})
    _, event_id = await accepted(world, stock(("A", 5)))
    assert await world.deliver() == "failed"
    event = world.event(event_id)
    assert event.last_error is not None and event.last_error.http_status is None
    assert "did not answer in time" in event.last_error.message
    await retry_due(world, event_id)
    assert await world.deliver() == "success"
    assert world.platform.idempotency_keys == [event_id, event_id]
    assert world.event(event_id).attempts == 2
    assert [a.number for a in await world.attempts(event_id)] == [1, 2]


async def test_exhausted_retries_are_dead_lettered() -> None:
    world = World(settings=unit_settings(RETRY_MAX_ATTEMPTS=2))
    world.platform.answer(500).answer(502)
    _, event_id = await accepted(world, stock(("A", 5)))
    assert await world.deliver() == "failed"
    await retry_due(world, event_id)
    assert await world.deliver() == "failed"
    event = world.event(event_id)
    assert event.dead_lettered and event.next_retry_at is None
    assert event.attempts == 2 and event.status is EventStatus.FAILED
    assert event.last_error is not None and "Gave up after 2 attempts" in event.last_error.message
    assert world.schedule.for_event(event_id) == []


async def test_the_integrations_base_delay_applies_to_retries() -> None:
    world = World(settings=unit_settings(CIRCUIT_FAILURE_THRESHOLD=100))
    _, key = await world.integration(retry_base_delay_seconds=0.5)
    for n in range(8):  # with the default 10 s base, 8 draws under 0.5 s are unlikely
        world.platform.answer(503)
        event_id = await world.push(key, stock((f"S{n}", 1)))
        await world.deliver()
        next_retry = world.event(event_id).next_retry_at
        assert next_retry is not None
        assert next_retry - world.clock() <= timedelta(seconds=0.5)


async def test_a_duplicate_delivery_of_a_done_event_does_not_call_again() -> None:
    world = World()
    world.platform.answer(200, {"items": []})
    _, event_id = await accepted(world, stock(("A", 5)))
    await world.deliver()
    saves = len(world.events.saved)
    assert await world.deliver() == "success"
    assert world.event(event_id).attempts == 1
    assert len(world.platform.calls) == 1
    assert len(world.events.saved) == saves


async def test_losing_the_race_to_a_finished_delivery_records_nothing_twice() -> None:
    world = World()
    world.platform.answer(200, {"items": []})
    _, event_id = await accepted(world, stock(("A", 5)))
    # between our read and our write, another delivery of the event succeeded
    world.events.after_get.append(
        lambda: world.events.change(event_id, status=EventStatus.SUCCESS, attempts=1)
    )
    assert await world.deliver() == "success"
    # our call was a replay under the event's key; our outcome is not written over theirs
    assert world.platform.idempotency_keys == [event_id]
    assert world.event(event_id).attempts == 1
    assert await world.attempts(event_id) == []


async def test_an_event_touched_by_the_timer_meanwhile_is_read_again_and_run() -> None:
    world = World()
    world.platform.answer(200, {"items": []})
    _, event_id = await accepted(world, stock(("A", 5)))
    world.events.after_get.append(lambda: world.events.change(event_id))  # still queued
    assert await world.deliver() == "success"
    assert len(world.platform.calls) == 1
    assert world.event(event_id).attempts == 1


async def test_an_outcome_lands_on_the_event_the_timer_re_indexed_during_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    world.platform.answer(200, {"items": []})
    _, event_id = await accepted(world, stock(("A", 5)))
    call = world.platform.call

    async def slow_call(platform_call: PlatformCall, key: str) -> PlatformExchange:
        # the call outlasts the accept-time check: the timer sends the event again
        world.clock.advance(world.settings.enqueue_grace_seconds + 1)
        report = await world.recovery.run_once()
        assert report.resent == 1
        return await call(platform_call, key)

    monkeypatch.setattr(world.platform, "call", slow_call)
    assert await world.deliver() == "success"
    assert len(world.platform.calls) == 1
    event = world.event(event_id)
    assert (event.status, event.attempts, event.schedule_key) == (EventStatus.SUCCESS, 1, None)
    assert world.schedule.for_event(event_id) == []
    assert len(await world.attempts(event_id)) == 1
    # the copy the timer sent finds the outcome and asks nothing
    assert await world.deliver() == "success"
    assert len(world.platform.calls) == 1


async def test_an_event_that_keeps_changing_is_left_for_a_redelivery() -> None:
    world = World()
    _, event_id = await accepted(world, stock(("A", 5)))
    for _ in range(20):
        world.platform.answer(200, {"items": []})
        world.events.after_get.append(lambda: world.events.change(event_id))
    with pytest.raises(StaleWrite):
        await world.deliver()
    # each try was a replay under the same key; nothing was recorded
    assert set(world.platform.idempotency_keys) == {event_id}
    assert world.event(event_id).status is EventStatus.QUEUED


async def test_an_open_breaker_postpones_without_counting_an_attempt() -> None:
    world = World()
    world.platform.answer(503).answer(503).answer(503)
    _, key = await world.integration()
    failing = [await world.push(key, stock((f"S{n}", 1))) for n in range(3)]
    for message in list(world.bus.sent):
        await world.deliver(message)
    assert world.breaker.is_open
    pause = world.breaker.paused_until(world.clock())
    assert pause is not None

    postponed = await world.push(key, stock(("LATE", 1)))
    assert await world.deliver() == "failed"
    assert len(world.platform.calls) == 3  # the platform was spared
    event = world.event(postponed)
    assert event.attempts == 0 and event.status is EventStatus.FAILED
    assert event.next_retry_at == pause + timedelta(seconds=1)
    assert event.last_error is not None and "paused" in event.last_error.message
    [check] = world.schedule.for_event(postponed)
    assert check.due == event.next_retry_at
    assert await world.attempts(postponed) == []
    assert all(world.event(e).attempts == 1 for e in failing)


async def test_a_successful_call_closes_the_breaker() -> None:
    world = World()
    world.platform.answer(503).answer(503).answer(200, {"items": []})
    _, key = await world.integration()
    for n in range(3):
        await world.push(key, stock((f"S{n}", 1)))
        await world.deliver()
    assert not world.breaker.is_open


# --- stale retries never overwrite newer data -------------------------------------------


async def test_an_older_absolute_event_after_a_newer_success_is_skipped() -> None:
    world = World()
    world.platform.answer(503).answer(200, {"items": []})
    integration, key = await world.integration()
    older = await world.push(key, stock(("A", 5)))
    await world.deliver()  # 503
    world.clock.advance(1)
    newer = await world.push(key, stock(("A", 9)))
    await world.deliver()  # applied: A = 9
    await retry_due(world, older)
    assert await world.deliver() == "skipped"
    event = world.event(older)
    assert event.status is EventStatus.SKIPPED
    assert event.skipped_reason is not None and "newer event" in event.skipped_reason
    assert event.next_retry_at is None and world.schedule.for_event(older) == []
    assert len(world.platform.calls) == 2  # the stale A = 5 was never sent
    assert world.event(newer).status is EventStatus.SUCCESS
    assert set(world.versions.versions) == {(integration.id, "inventory:A@wh-01")}


async def test_an_older_order_update_retried_after_a_newer_one_is_skipped() -> None:
    """A late "confirmed" must not take an order back from "shipped"."""
    world = World()
    world.platform.answer(503).answer(200, {"id": "ord_1", "status": "shipped"})
    _, key = await world.integration()
    update = {"action": "order.update", "entityId": "ord_1"}
    older = await world.push(key, {**update, "data": {"status": "confirmed"}})
    await world.deliver()  # 503
    world.clock.advance(1)
    await world.push(key, {**update, "data": {"status": "shipped"}})
    await world.deliver()
    await retry_due(world, older)
    assert await world.deliver() == "skipped"
    assert [c.call.body.get("status") for c in world.platform.calls] == ["confirmed", "shipped"]


async def test_a_partly_superseded_event_applies_the_current_items_only() -> None:
    world = World()
    world.platform.answer(503).answer(200, {"items": []}).answer(200, {"items": []})
    _, key = await world.integration()
    older = await world.push(key, stock(("A", 5), ("B", 6), ("C", 7)))
    await world.deliver()
    world.clock.advance(1)
    await world.push(key, stock(("B", 1)))
    await world.deliver()
    await retry_due(world, older)
    assert await world.deliver() == "success"
    sent = world.platform.calls[-1].call.body["items"]
    assert [item["sku"] for item in sent] == ["A", "C"]
    event = world.event(older)
    assert event.result == {"levels": [], "skippedItems": 1}


async def test_a_retried_older_event_still_applies_when_nothing_newer_succeeded() -> None:
    world = World()
    world.platform.answer(503).answer(422, {"message": "no"}).answer(200, {"items": []})
    _, key = await world.integration()
    older = await world.push(key, stock(("A", 5)))
    await world.deliver()
    world.clock.advance(1)
    await world.push(key, stock(("A", 9)))
    await world.deliver()  # the newer one was rejected: it does not count
    await retry_due(world, older)
    assert await world.deliver() == "success"
    assert world.platform.calls[-1].call.body["items"][0]["quantity"] == 5


async def test_a_redelivery_after_a_lost_outcome_applies_again_not_skipped() -> None:
    world = World()
    world.platform.answer(200, {"items": [{"sku": "A", "quantity": 5}]})
    world.platform.answer(200, {"items": [{"sku": "A", "quantity": 5}]})  # a replay
    _, event_id = await accepted(world, stock(("A", 5)))
    # the platform applies it, the outcome is not saved
    world.events.write_failures[EventStatus.SUCCESS] = TransientError("Storage is unavailable")
    # the message completes; the event's check brings it back
    assert await world.deliver() == "deferred"
    assert world.event(event_id).status is EventStatus.QUEUED
    world.clock.advance(world.settings.enqueue_grace_seconds)  # the timer sends it again
    await world.recovery.run_once()
    assert await world.deliver() == "success"
    assert world.platform.idempotency_keys == [event_id, event_id]


async def test_relative_adjustments_always_apply() -> None:
    world = World()
    world.platform.answer(503).answer(200, {"items": []}).answer(200, {"items": []})
    _, key = await world.integration()
    older = await world.push(key, adjust("A", -2))
    await world.deliver()
    world.clock.advance(1)
    await world.push(key, adjust("A", 5))
    await world.deliver()
    await retry_due(world, older)
    assert await world.deliver() == "success"
    assert world.platform.calls[-1].call.body == {"items": [{"sku": "A", "adjustment": -2}]}
    assert world.versions.advances == []  # deltas are not versioned
    assert "skippedItems" not in (world.event(older).result or {})


# --- messages that are not ours -----------------------------------------------------------


async def test_a_message_for_an_unknown_event_is_dropped() -> None:
    world = World()
    integration, _ = await world.integration()
    body = {"eventId": "0190d6e4-0000-7000-8000-000000000000", "integrationId": integration.id}
    assert await world.worker.handle(json.dumps({**body, "shards": 4}).encode()) == "missing"
    assert world.platform.calls == []


@pytest.mark.parametrize("body", [b"not json", b'{"eventId": "x"}', b'{"shards": "many"}'])
async def test_an_unreadable_message_raises(body: bytes) -> None:
    with pytest.raises(UnreadableMessage):
        await World().worker.handle(body)


async def test_a_retried_product_keeps_its_name_but_not_a_price_a_newer_event_set() -> None:
    """product.upsert with a price sets the SKU's price too: a newer price.set wins it."""
    world = World()
    world.platform.answer(503).answer(200, {"items": []}).answer(200, {"products": []})
    _, key = await world.integration()
    product = {"sku": "P-1", "name": "Chair v2", "sellingPrice": 1000}
    older = await world.push(key, {"action": "product.upsert", "data": {"products": [product]}})
    await world.deliver()  # 503
    world.clock.advance(1)
    price = {"action": "price.set", "data": {"items": [{"sku": "P-1", "sellingPrice": 1500}]}}
    await world.push(key, price)
    await world.deliver()
    await retry_due(world, older)
    assert await world.deliver() == "success"
    sent = world.platform.calls[-1].call.body["products"]
    assert sent == [{"sku": "P-1", "name": "Chair v2"}]  # the name, not the stale price


async def test_a_superseded_product_still_delivers_its_price_when_that_is_newest() -> None:
    """The product part is stale (a newer product.upsert without prices won), the price
    part is not: the price goes through setPrices instead of being lost."""
    world = World()
    world.platform.answer(503).answer(200, {"products": []}).answer(200, {"items": []})
    _, key = await world.integration()
    older = await world.push(
        key,
        {
            "action": "product.upsert",
            "data": {
                "products": [
                    {"sku": "P-2", "name": "Sofa v1", "sellingPrice": 2000, "costPrice": 900}
                ]
            },
        },
    )
    await world.deliver()  # 503
    world.clock.advance(1)
    newer = {"action": "product.upsert", "data": {"products": [{"sku": "P-2", "name": "Sofa v2"}]}}
    await world.push(key, newer)
    await world.deliver()
    await retry_due(world, older)
    assert await world.deliver() == "success"
    last = world.platform.calls[-1]
    assert last.call.operation_id == "setPrices"
    assert last.call.body == {"items": [{"sku": "P-2", "sellingPrice": 2000, "costPrice": 900}]}
    assert world.event(older).result == {"products": [], "prices": [], "skippedItems": 1}


async def test_an_event_needing_two_calls_retries_with_a_key_per_call() -> None:
    """Both calls succeed or the event is retried; each call keeps its own key, so the
    call that was applied is replayed, never applied twice."""
    world = World()
    world.platform.answer(503)  # the first delivery of the older event
    world.platform.answer(200, {"products": []})  # the newer product, no price
    world.platform.answer(200, {"products": []}).answer(503)  # products ok, prices down
    world.platform.answer(200, {"products": []}).answer(200, {"items": []})
    _, key = await world.integration()
    older = await world.push(
        key,
        {
            "action": "product.upsert",
            "data": {
                "products": [
                    {"sku": "A-1", "name": "A v1", "sellingPrice": 100},
                    {"sku": "B-1", "name": "B v1", "sellingPrice": 200},
                ]
            },
        },
    )
    await world.deliver()
    world.clock.advance(1)
    await world.push(
        key, {"action": "product.upsert", "data": {"products": [{"sku": "B-1", "name": "B v2"}]}}
    )
    await world.deliver()
    await retry_due(world, older)
    assert await world.deliver() == "failed"  # the price call failed: retried as a whole
    await retry_due(world, older)
    assert await world.deliver() == "success"
    keys = world.platform.idempotency_keys[-4:]
    assert keys == [older, f"{older}~setPrices", older, f"{older}~setPrices"]


async def test_a_key_always_names_the_same_operation_whatever_calls_an_attempt_makes() -> None:
    """An attempt that only sets prices (its products superseded meanwhile) must not
    send them under the key its products were applied under: the platform would replay
    that answer and apply nothing."""
    world = World()
    products = [
        {"sku": "A-1", "name": "A v1", "sellingPrice": 100},
        {"sku": "B-1", "name": "B v1", "sellingPrice": 200},
    ]
    world.platform.answer(503)  # the event's first delivery
    world.platform.answer(200, {"products": []})  # a newer B-1, no price
    world.platform.answer(200, {"products": []}).answer(503)  # A-1 applied, B-1's price down
    world.platform.answer(200, {"products": []})  # a newer A-1, no price
    world.platform.answer(200, {"items": []})  # both prices, at last
    _, key = await world.integration()
    older = await world.push(key, {"action": "product.upsert", "data": {"products": products}})
    await world.deliver()
    for sku in ("B-1", "A-1"):
        world.clock.advance(1)
        newer = {"action": "product.upsert", "data": {"products": [{"sku": sku, "name": "v2"}]}}
        await world.push(key, newer)
        if sku == "B-1":
            await world.deliver()
            await retry_due(world, older)
            assert await world.deliver(world.messages_for(older)[-1]) == "failed"
        else:
            await world.deliver()
    await retry_due(world, older)
    assert await world.deliver(world.messages_for(older)[-1]) == "success"
    used: dict[str, set[str]] = {}
    for call in world.platform.calls:
        used.setdefault(call.idempotency_key, set()).add(call.call.operation_id)
    assert all(len(operations) == 1 for operations in used.values()), used
    assert world.platform.calls[-1].call.operation_id == "setPrices"
    assert world.platform.calls[-1].idempotency_key == f"{older}~setPrices"


# --- per-record ordering: a record named before it exists --------------------------------


UNKNOWN_SKU = {
    "error": "unknown_sku",
    "message": "SKU 'NEW' does not exist",
    "details": [{"path": "items[0].sku"}],
}


async def test_an_unknown_sku_under_entity_ordering_is_awaited_briefly() -> None:
    """Its product.upsert may travel on another session shard and land a moment later:
    the adjustment waits for it instead of failing for a person."""
    world = World(settings=unit_settings(ENTITY_DEPENDENCY_WAIT_SECONDS=120))
    world.platform.answer(422, UNKNOWN_SKU).answer(200, {"items": []})
    _, key = await world.integration(ordering_scope=OrderingScope.ENTITY)
    event_id = await world.push(key, adjust("NEW", -1))
    assert await world.deliver() == "failed"
    event = world.event(event_id)
    assert event.last_error is not None and event.last_error.kind == "transient"
    assert "may still be on its way" in event.last_error.message
    assert event.next_retry_at is not None and not event.dead_lettered
    assert world.breaker.paused_until(world.clock()) is None  # not a platform fault
    await retry_due(world, event_id)
    assert await world.deliver() == "success"


async def test_an_unknown_sku_fails_for_a_person_once_the_wait_is_over() -> None:
    world = World(settings=unit_settings(ENTITY_DEPENDENCY_WAIT_SECONDS=30))
    world.platform.answer(422, UNKNOWN_SKU).answer(422, UNKNOWN_SKU)
    _, key = await world.integration(ordering_scope=OrderingScope.ENTITY)
    event_id = await world.push(key, adjust("NEW", -1))
    await world.deliver()
    world.clock.advance(31)
    await world.recovery.run_once()
    assert await world.deliver() == "failed"
    event = world.event(event_id)
    assert event.last_error is not None and event.last_error.kind == "permanent"
    assert event.next_retry_at is None


async def test_an_unknown_sku_under_integration_ordering_fails_at_once() -> None:
    """One session keeps every event in order: the product was not sent before it."""
    world = World(settings=unit_settings(ENTITY_DEPENDENCY_WAIT_SECONDS=120))
    world.platform.answer(422, UNKNOWN_SKU)
    _, event_id = await accepted(world, adjust("NEW", -1))
    assert await world.deliver() == "failed"
    event = world.event(event_id)
    assert event.last_error is not None and event.last_error.kind == "permanent"


# --- per-record ordering: two sessions naming one record ------------------------------------


async def test_a_record_claimed_by_an_older_event_in_flight_is_applied_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bulk event travels on its first record's session; a newer event for its second
    record, on another session, must not land first and then be overwritten."""
    world = World()
    integration, key = await world.integration(ordering_scope=OrderingScope.ENTITY)
    older = await world.push(key, stock(("A", 5), ("B", 5)))
    older_message = world.bus.sent[-1]
    world.clock.advance(1)
    await world.push(key, stock(("B", 9)))
    newer_message = world.bus.sent[-1]
    assert older_message.session_id != newer_message.session_id
    gate, applied = asyncio.Event(), list[tuple[str, int]]()
    real_call = world.platform.call

    async def call(platform_call: PlatformCall, idempotency_key: str) -> PlatformExchange:
        if idempotency_key == older:
            await gate.wait()  # the older event's call is slow
        applied.extend((i["sku"], i["quantity"]) for i in platform_call.body["items"])
        return await real_call(platform_call, idempotency_key)

    monkeypatch.setattr(world.platform, "call", call)
    world.platform.answer(200, {"items": []}).answer(200, {"items": []})
    first = asyncio.create_task(world.deliver(older_message))
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(world.versions.claims) == 2  # A and B, held during the slow call
    second = asyncio.create_task(world.deliver(newer_message))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not second.done()  # waiting for the older event's claim on B
    gate.set()
    assert await first == "success" and await second == "success"
    assert applied == [("A", 5), ("B", 5), ("B", 9)]
    assert world.versions.rows[(integration.id, "inventory:B@wh-01")].claimed_by is None


async def test_a_failed_attempt_ends_its_claims() -> None:
    world = World()
    world.platform.answer(503).answer(200, {"items": []})
    integration, key = await world.integration(ordering_scope=OrderingScope.ENTITY)
    await world.push(key, stock(("A", 5)))
    assert await world.deliver() == "failed"
    row = world.versions.rows[(integration.id, "inventory:A@wh-01")]
    assert row.claimed_by is None and row.version == ""
    world.clock.advance(1)
    await world.push(key, stock(("A", 7)))
    assert await world.deliver() == "success"  # no wait on a claim that ended


async def test_one_session_per_integration_needs_no_claims() -> None:
    world = World()
    world.platform.answer(200, {"items": []})
    await accepted(world, stock(("A", 5)))
    assert await world.deliver() == "success"
    assert world.versions.claims == [] and len(world.versions.advances) == 1
