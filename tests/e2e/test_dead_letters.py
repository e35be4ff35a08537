"""A message the worker cannot handle ends in the dead-letter sub-queue after its
maximum deliveries, and the dead-letter function marks its event for a person with the
queue's reason in words; and nothing unmasked reaches the attempts (communication log)
table."""

from __future__ import annotations

import asyncio
import json

import pytest

from local.servicebus.session_queue import LocalSessionQueue
from shared.adapters.azure_storage import StorageClients
from shared.adapters.table_event_layout import attempt_row_key, event_keys
from shared.adapters.table_events import TableEventStore
from shared.config import Settings
from shared.domain.clock import new_event_id, utcnow
from shared.domain.models import EventStatus, IntegrationEvent
from tests.conftest import Stack

pytestmark = pytest.mark.e2e


def storage_of(stack: Stack) -> StorageClients:
    return StorageClients(
        Settings.model_validate({"AzureWebJobsStorage": stack.env["AzureWebJobsStorage"]})
    )


async def record_unprocessable_event(stack: Stack, integration_id: str) -> str:
    """An event whose stored payload no longer parses: the worker raises on every
    delivery (as a bug or a bad deployment would make it)."""
    now = utcnow()
    event = IntegrationEvent(
        id=new_event_id(now),
        integration_id=integration_id,
        action="price.set",
        entity_id="BROKEN",
        status=EventStatus.QUEUED,
        created_at=now,
        updated_at=now,
        session_id=integration_id,
        max_attempts=8,
        payload={"action": "price.set", "data": {"items": "not a list"}},
    )
    storage = storage_of(stack)
    try:
        await TableEventStore(storage).add(event, 8)
    finally:
        await storage.close()
    return event.id


def test_a_message_that_always_crashes_the_worker_is_dead_lettered_and_marked(
    stack: Stack,
) -> None:
    integration = stack.new_integration("Dead letters")
    event_id = asyncio.run(record_unprocessable_event(stack, integration["id"]))
    queue = LocalSessionQueue(stack.env["LOCAL_QUEUE_PATH"])
    body = {"eventId": event_id, "integrationId": integration["id"], "shards": 8}
    assert queue.send(event_id, integration["id"], json.dumps(body).encode())
    queue.close()
    event = stack.wait_for(integration["id"], event_id, ("failed",), seconds=60)
    assert event["status"] == "failed" and event["deadLettered"] is True
    assert event["nextRetryAt"] is None
    # The local queue, like Service Bus, puts why in the dead letter's application
    # properties; the function reads it there and says it in words.
    message = str(event["lastError"]["message"])  # type: ignore[index]
    assert message == (
        "Delivery gave up: the worker failed on it 10 times (MaxDeliveryCountExceeded). "
        "Resubmit it once the cause is fixed."
    )


def test_no_unmasked_personal_data_reaches_the_stored_attempts(stack: Stack) -> None:
    integration = stack.new_integration("Masking at rest")
    secrets = {"email": "oskar.berg@example.com", "firstName": "Oskar", "phone": "+46705550123"}
    order = {
        "action": "order.create",
        "data": {
            "externalId": "MASK-ORDER-1",
            "customer": {**secrets, "lastName": "Berg"},
            "lineItems": [{"sku": "NO-SUCH-SKU-MASK", "quantity": 1, "unitPrice": 100}],
        },
    }
    accepted = stack.push(integration["apiKey"], order)
    event_id = accepted.json()["messageId"]
    event = stack.wait_for(integration["id"], event_id, ("failed",))
    assert event["lastError"]["kind"] == "permanent"  # type: ignore[index]

    async def raw_rows() -> str:
        storage = storage_of(stack)
        try:
            # an event's attempts are stored beside it, in its events partition
            partition, _ = event_keys(integration["id"], event_id, 8)
            first = attempt_row_key(event_id, 0, 0)
            rows = storage.table("events").query_entities(
                "PartitionKey eq @pk and RowKey ge @first and RowKey lt @end",
                parameters={"pk": partition, "first": first, "end": first[:-8] + "~"},
            )
            found = [dict(row) async for row in rows]
            assert found, "the attempt was not found where the store keeps it"
            return json.dumps(found, default=str)
        finally:
            await storage.close()

    stored = asyncio.run(raw_rows())
    assert "o***@example.com" in stored  # masked, recognisably
    for value in (*secrets.values(), "Berg", stack.env["PLATFORM_API_TOKEN"]):
        assert value not in stored
