"""Accepting an inbound request, through fakes of every port."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

import pytest

from shared.config import Settings
from shared.domain.errors import (
    Forbidden,
    PayloadTooLarge,
    Throttled,
    TransientError,
    Unauthenticated,
    Unprocessable,
    ValidationFailed,
)
from shared.domain.models import EventStatus, Integration, IntegrationEvent, OrderingScope
from shared.domain.throttle import RateLimiter
from shared.services.inbound import Accepted, InboundRequest, InboundService
from tests.unit.fakes import (
    FakeClock,
    FakeEventStore,
    FakeIdempotencyStore,
    FakeIntegrationStore,
    FakeMessageBus,
    FakeScheduleStore,
    json_body,
    make_integration,
)

INVENTORY = {
    "action": "inventory.set",
    "data": {"items": [{"sku": "CHAIR-UNO-BLK", "quantity": 42, "warehouseId": "wh-01"}]},
}


@dataclass
class Inbound:
    clock: FakeClock = field(default_factory=FakeClock)
    integrations: FakeIntegrationStore = field(default_factory=FakeIntegrationStore)
    events: FakeEventStore = field(default_factory=FakeEventStore)
    idempotency: FakeIdempotencyStore = field(default_factory=FakeIdempotencyStore)
    bus: FakeMessageBus = field(default_factory=FakeMessageBus)
    settings: Settings = field(
        default_factory=lambda: Settings(
            ENQUEUE_GRACE_SECONDS=120, RETRY_MAX_ATTEMPTS=6, MAX_ITEMS_PER_EVENT=50
        )
    )

    @cached_property
    def service(self) -> InboundService:
        return InboundService(
            self.settings,
            self.integrations,
            self.events,
            self.idempotency,
            self.bus,
            self.clock,
        )

    async def integration(self, **overrides: Any) -> tuple[Integration, str]:
        integration, key = make_integration(self.clock, **overrides)
        await self.integrations.add(integration)
        return integration, key

    async def push(
        self,
        key: str | None,
        document: Any = INVENTORY,
        idempotency_key: str | None = None,
        content_type: str = "application/json",
    ) -> Accepted:
        return await self.service.accept(
            InboundRequest(
                authorization=f"Bearer {key}" if key else None,
                content_type=content_type,
                body=json_body(document),
                idempotency_key=idempotency_key,
            )
        )

    @property
    def schedule(self) -> FakeScheduleStore:
        return self.events.schedule

    def nothing_recorded(self) -> bool:
        return not self.events.rows and not self.schedule.rows and not self.bus.sent


@pytest.fixture
def inbound() -> Inbound:
    return Inbound()


# --- authentication -------------------------------------------------------------------


async def test_a_missing_authorization_header_is_401(inbound: Inbound) -> None:
    await inbound.integration()
    with pytest.raises(Unauthenticated) as caught:
        await inbound.push(None)
    assert caught.value.status == 401 and "Authorization: Bearer" in caught.value.message
    with pytest.raises(Unauthenticated):
        await inbound.service.accept(InboundRequest("Basic abc", "application/json", b"{}"))
    assert inbound.nothing_recorded()


async def test_a_management_token_on_the_inbound_route_is_401(inbound: Inbound) -> None:
    await inbound.integration()
    with pytest.raises(Unauthenticated, match="not a management token"):
        await inbound.push("test-admin-token")
    assert inbound.nothing_recorded()


async def test_an_unknown_key_is_401(inbound: Inbound) -> None:
    _, key = await inbound.integration()
    with pytest.raises(Unauthenticated, match="not valid"):
        await inbound.push(key + "x")
    assert inbound.nothing_recorded()


async def test_a_disabled_integration_is_403(inbound: Inbound) -> None:
    _, key = await inbound.integration(enabled=False, name="Old ERP")
    with pytest.raises(Forbidden) as caught:
        await inbound.push(key)
    assert caught.value.status == 403 and "'Old ERP' is disabled" in caught.value.message
    assert inbound.nothing_recorded()


async def test_invalid_data_records_nothing(inbound: Inbound) -> None:
    _, key = await inbound.integration()
    with pytest.raises(ValidationFailed):
        await inbound.push(key, {"action": "inventory.set", "data": {"items": []}})
    with pytest.raises(PayloadTooLarge):
        items = [{"sku": f"S{n}", "quantity": 1} for n in range(51)]
        await inbound.push(key, {"action": "inventory.set", "data": {"items": items}})
    assert inbound.nothing_recorded()


# --- accepted ---------------------------------------------------------------------------


async def test_an_accepted_event_is_recorded_queued_checked_and_sent(inbound: Inbound) -> None:
    integration, key = await inbound.integration()
    accepted = await inbound.push(key)
    assert not accepted.replayed
    event = inbound.events.stored(accepted.message_id)
    assert event.status is EventStatus.QUEUED
    assert event.integration_id == integration.id
    assert event.action == "inventory.set"
    assert event.payload == INVENTORY
    assert event.max_attempts == 6
    assert event.created_at == inbound.clock()
    assert inbound.events.shards[event.id] == integration.partition_shards
    # the timer's safety net: a check after the grace period
    [check] = inbound.schedule.for_event(event.id)
    assert check.due == inbound.clock() + timedelta(seconds=120)
    assert event.schedule_key == check.key
    # the message: first delivery under the event id, one session per integration
    [message] = inbound.bus.sent
    assert message.message_id == event.id
    assert message.session_id == integration.id
    assert message.body == {
        "eventId": event.id,
        "integrationId": integration.id,
        "shards": integration.partition_shards,
    }


async def test_each_request_gets_its_own_event(inbound: Inbound) -> None:
    _, key = await inbound.integration()
    first, second = await inbound.push(key), await inbound.push(key)
    assert first.message_id != second.message_id
    assert [m.message_id for m in inbound.bus.sent] == [first.message_id, second.message_id]


async def test_the_integrations_retry_override_sets_max_attempts(inbound: Inbound) -> None:
    _, key = await inbound.integration(retry_max_attempts=2)
    accepted = await inbound.push(key)
    assert inbound.events.stored(accepted.message_id).max_attempts == 2


async def test_entity_ordering_puts_each_record_on_one_of_a_bounded_set_of_sessions(
    inbound: Inbound,
) -> None:
    integration, key = await inbound.integration(ordering_scope=OrderingScope.ENTITY)
    shards = inbound.settings.entity_ordering_shards
    for n in range(90):  # under the per-second request limit
        stock = {"action": "inventory.set", "data": {"items": [{"sku": f"S-{n}", "quantity": 1}]}}
        await inbound.push(key, stock)
    sessions = {message.session_id for message in inbound.bus.sent}
    # many records, few sessions: each session carries many messages
    assert len(sessions) == shards
    assert all(session.startswith(integration.id + ":") for session in sessions)
    for message in inbound.bus.sent:
        assert inbound.events.stored(message.message_id).session_id == message.session_id


async def test_every_action_naming_a_sku_travels_on_that_skus_session(inbound: Inbound) -> None:
    """A product, its stock, its adjustments and its price stay in order under entity
    ordering, whatever the action."""
    _, key = await inbound.integration(ordering_scope=OrderingScope.ENTITY)
    sku = "CHAIR-UNO-BLK"
    for document in (
        {"action": "product.upsert", "data": {"products": [{"sku": sku, "name": "Chair"}]}},
        {"action": "inventory.set", "data": {"items": [{"sku": sku, "quantity": 4}]}},
        {"action": "inventory.adjust", "data": {"items": [{"sku": sku, "adjustment": -1}]}},
        {"action": "price.set", "data": {"items": [{"sku": sku, "sellingPrice": 4990}]}},
    ):
        await inbound.push(key, document)
    assert len({message.session_id for message in inbound.bus.sent}) == 1


async def test_an_orders_events_and_a_customers_events_keep_their_session(
    inbound: Inbound,
) -> None:
    _, key = await inbound.integration(ordering_scope=OrderingScope.ENTITY)
    update = {"action": "order.update", "entityId": "ord_1", "data": {"status": "shipped"}}
    customer = {"action": "customer.upsert", "data": {"email": "Anna@Example.com"}}
    same_customer = {"action": "customer.upsert", "data": {"email": "anna@example.com"}}
    for document in (update, customer, update, same_customer):
        await inbound.push(key, document)
    first, second, third, fourth = (message.session_id for message in inbound.bus.sent)
    assert first == third and second == fourth


# --- Idempotency-Key --------------------------------------------------------------------


async def test_a_repeated_idempotency_key_replays_and_sends_nothing(inbound: Inbound) -> None:
    integration, key = await inbound.integration()
    first = await inbound.push(key, idempotency_key="order-42")
    inbound.clock.advance(5)
    reordered = {"data": INVENTORY["data"], "action": "inventory.set"}  # same JSON
    replay = await inbound.push(key, reordered, idempotency_key=" order-42 ")
    assert replay == Accepted(first.message_id, replayed=True)
    assert len(inbound.events.rows) == 1 and len(inbound.bus.sent) == 1
    assert inbound.events.stored(first.message_id).idempotency_key == "order-42"
    # keys are per integration: another integration may use the same one
    _, other_key = await inbound.integration(id="int_other")
    other = await inbound.push(other_key, idempotency_key="order-42")
    assert other.message_id != first.message_id and not other.replayed
    assert ("int_other", "order-42") in inbound.idempotency.records
    assert (integration.id, "order-42") in inbound.idempotency.records


async def test_a_claim_whose_request_died_is_finished_by_the_resend(inbound: Inbound) -> None:
    """The first request claimed the key, then its process died before recording the
    event (no 202 was sent); the client's resend must record it, not replay a ghost."""
    integration, key = await inbound.integration()
    first = await inbound.push(key, idempotency_key="crash-1")
    del inbound.events.rows[first.message_id]  # as if the crash came before the write
    inbound.bus.sent.clear()
    resend = await inbound.push(key, idempotency_key="crash-1")
    assert resend.message_id == first.message_id
    event = inbound.events.stored(first.message_id)
    assert event.status.value == "queued" and event.integration_id == integration.id
    assert [m.message_id for m in inbound.bus.sent] == [first.message_id]
    again = await inbound.push(key, idempotency_key="crash-1")
    assert again == Accepted(first.message_id, replayed=True) and len(inbound.bus.sent) == 1


async def test_two_resends_finishing_one_claim_at_once_both_get_its_id(
    inbound: Inbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client resends while its first request is still recording the event: the one
    that records second finds it there and answers with the same id, never a 409."""
    _, key = await inbound.integration()
    first = await inbound.push(key, idempotency_key="slow-1")
    recorded = inbound.events.rows.pop(first.message_id)
    get = inbound.events.get

    async def get_then_other_request_records(*args: Any) -> IntegrationEvent | None:
        found = await get(*args)
        if found is None:
            inbound.events.rows[first.message_id] = recorded
        return found

    monkeypatch.setattr(inbound.events, "get", get_then_other_request_records)
    resend = await inbound.push(key, idempotency_key="slow-1")
    assert resend == Accepted(first.message_id, replayed=True)
    assert len(inbound.events.rows) == 1


async def test_the_same_key_with_a_different_body_is_422(inbound: Inbound) -> None:
    _, key = await inbound.integration()
    first = await inbound.push(key, idempotency_key="k1")
    changed = {"action": "inventory.set", "data": {"items": [{"sku": "B", "quantity": 1}]}}
    with pytest.raises(Unprocessable) as caught:
        await inbound.push(key, changed, idempotency_key="k1")
    assert caught.value.status == 422
    assert "'k1'" in caught.value.message and first.message_id in caught.value.message
    assert len(inbound.events.rows) == 1 and len(inbound.bus.sent) == 1


async def test_a_blank_idempotency_key_is_no_key(inbound: Inbound) -> None:
    _, key = await inbound.integration()
    first = await inbound.push(key, idempotency_key="  ")
    second = await inbound.push(key, idempotency_key="")
    assert first.message_id != second.message_id
    assert inbound.idempotency.claims == []


async def test_an_overlong_idempotency_key_is_refused(inbound: Inbound) -> None:
    _, key = await inbound.integration()
    with pytest.raises(ValidationFailed, match="Idempotency-Key"):
        await inbound.push(key, idempotency_key="k" * 201)
    assert inbound.nothing_recorded()


async def test_a_failed_write_keeps_the_claim_and_the_resend_finishes_it(
    inbound: Inbound,
) -> None:
    """The write may have landed although it failed: releasing the key would let the
    resend create a second event, so the resend finishes the first id instead."""
    integration, key = await inbound.integration()
    failure = TransientError("Storage is unavailable: ServiceRequestError")
    inbound.events.write_failures[EventStatus.QUEUED] = failure
    with pytest.raises(TransientError):
        await inbound.push(key, idempotency_key="k2")
    assert inbound.bus.sent == []
    claimed = inbound.idempotency.records[(integration.id, "k2")].event_id
    resend = await inbound.push(key, idempotency_key="k2")
    assert resend.message_id == claimed and len(inbound.events.rows) == 1


# --- the queue is down ------------------------------------------------------------------


async def test_a_failing_send_still_accepts_and_leaves_the_check(inbound: Inbound) -> None:
    _, key = await inbound.integration()
    inbound.bus.fail_next()
    accepted = await inbound.push(key)
    assert inbound.bus.sent == []
    event = inbound.events.stored(accepted.message_id)
    assert event.status is EventStatus.QUEUED
    [check] = inbound.schedule.for_event(event.id)
    assert check.key == event.schedule_key  # the timer will send it


# --- throttling -----------------------------------------------------------------------


async def test_an_integration_over_its_request_rate_gets_429_with_retry_after() -> None:
    inbound = Inbound(settings=Settings(INBOUND_REQUESTS_PER_SECOND=3))
    integration, key = await inbound.integration()
    for _ in range(3):
        await inbound.push(key)
    with pytest.raises(Throttled) as caught:
        await inbound.push(key)
    assert caught.value.status == 429 and caught.value.retry_after_seconds >= 1
    assert integration.name in caught.value.message
    assert len(inbound.bus.sent) == 3  # the throttled request recorded nothing
    _, other_key = await inbound.integration(id="int_other")
    assert (await inbound.push(other_key)).message_id  # other integrations are not affected


def test_the_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.retry_after("a") == limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("b") == 0  # buckets are per key
