"""The read-only view for operations: filter, detail (masked), counts."""

from __future__ import annotations

import json

import pytest

from shared.api import schemas
from shared.domain.errors import NotFound, ValidationFailed
from shared.services.queries import QueryService
from tests.unit.fakes import World, unit_settings

ORDER = {
    "action": "order.create",
    "data": {
        "externalId": "ERP-ORDER-789",
        "customer": {"email": "anna@example.com", "firstName": "Anna", "phone": "+46701234567"},
        "lineItems": [{"sku": "A", "quantity": 1, "unitPrice": 4990}],
    },
}


def queries(world: World) -> QueryService:
    return QueryService(world.settings, world.integrations, world.events)


async def test_detail_shows_the_masked_payload_and_the_attempt_log() -> None:
    world = World(settings=unit_settings(MASKED_FIELDS="externalId"))
    integration, key = await world.integration()
    world.platform.answer(201, {"id": "ord_1", "externalId": "ERP-ORDER-789"})
    event_id = await world.push(key, ORDER, idempotency_key="erp-789")
    await world.deliver()
    found = await queries(world).detail(integration.id, event_id)
    detail = schemas.EventDetail.detail(found).to_json()
    text = json.dumps(detail)
    assert "anna@example.com" not in text and "+46701234567" not in text
    assert "ERP-ORDER-789" not in json.dumps(detail["payload"])
    assert detail["payload"]["data"]["customer"]["firstName"] == "A***"
    assert detail["status"] == "success" and detail["idempotencyKey"] == "erp-789"
    assert detail["result"] == {
        "orderId": "ord_1",
        "externalId": "ERP-ORDER-789",
        "customerId": None,
    }
    [attempt] = detail["attemptLog"]
    assert attempt["outcome"] == "success" and attempt["calls"][0]["status"] == 201
    # the stored payload itself is untouched: the worker needs the real data
    assert world.event(event_id).payload == ORDER


async def test_filter_and_counts() -> None:
    world = World()
    integration, key = await world.integration()
    world.platform.answer(200, {}).answer(422, {"message": "no"})
    for sku in ("A", "B", "C"):
        await world.push(
            key, {"action": "inventory.set", "data": {"items": [{"sku": sku, "quantity": 1}]}}
        )
        world.clock.advance(1)
    await world.deliver(world.bus.sent[0])
    await world.deliver(world.bus.sent[1])
    failed = await queries(world).filter({"integrationId": integration.id, "status": "failed"})
    assert len(failed.events) == 1 and failed.continuation_token is None
    page = await queries(world).filter({"integrationId": integration.id, "limit": 2})
    assert len(page.events) == 2 and page.continuation_token
    found = await queries(world).counts({"integrationId": integration.id})
    counts = schemas.EventCounts.of(found).to_json()
    assert counts["counts"] == {
        "queued": 1,
        "processing": 0,
        "success": 1,
        "failed": 1,
        "skipped": 0,
    }
    assert counts["total"] == 3 and counts["complete"] is True


async def test_bad_filters_and_unknown_ids() -> None:
    world = World()
    integration, _ = await world.integration()
    with pytest.raises(ValidationFailed):
        await queries(world).filter({"integrationId": integration.id, "status": "done"})
    with pytest.raises(ValidationFailed):
        await queries(world).filter({"integrationId": integration.id, "limit": 501})
    with pytest.raises(NotFound):
        await queries(world).filter({"integrationId": "int_missing"})
    with pytest.raises(NotFound):
        await queries(world).detail(integration.id, "0190d6e4-0000-7000-8000-000000000000")


async def test_a_failed_events_detail_says_in_plain_words_what_to_do() -> None:
    """One advice for the dashboard and the command-line tool, computed by the server."""
    world = World()
    world.platform.answer(422, {"error": "unknown_sku", "message": "SKU 'NOPE' does not exist"})
    integration, key = await world.integration()
    adjust = {"action": "inventory.adjust", "data": {"items": [{"sku": "NOPE", "adjustment": 1}]}}
    event_id = await world.push(key, adjust)
    assert (await world.queries.detail(integration.id, event_id)).advice is None
    await world.deliver()
    advice = (await world.queries.detail(integration.id, event_id)).advice
    assert advice is not None and advice.kind == "permanent"
    assert advice.headline == "The platform rejected this data"
    assert advice.http == "HTTP 422 · data not accepted"
    assert "product is missing" in advice.todo
