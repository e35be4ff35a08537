"""Every action of the reference document, sent exactly as written there, reaches
success through the local stack and changes the platform sandbox as expected."""

from __future__ import annotations

from typing import Any

import pytest

from actions.examples import REFERENCE_EXAMPLES
from tests.conftest import Stack

pytestmark = pytest.mark.e2e

# The request bodies exactly as custom-inbound-api.txt shows them.
EXAMPLES = REFERENCE_EXAMPLES  # the request bodies exactly as the reference shows them


def order_update(order_id: str) -> dict[str, Any]:
    """The reference's order.update, aimed at the order the platform just created."""
    return {**EXAMPLES["order.update"], "entityId": order_id}


def deliver(stack: Stack, integration: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    accepted = stack.push(integration["apiKey"], body)
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["messageId"]
    event = stack.wait_for(integration["id"], message_id, ("success", "failed"))
    assert event["status"] == "success", event
    return dict(event)


def test_every_reference_action_is_applied_to_the_platform(stack: Stack) -> None:
    integration = stack.new_integration("Reference walk-through")

    levels = deliver(stack, integration, EXAMPLES["inventory.set"])["result"]
    assert {"sku": "CHAIR-UNO-BLK", "warehouseId": "wh-01", "quantity": 42} in levels["levels"]
    deliver(stack, integration, EXAMPLES["inventory.adjust"])
    deliver(stack, integration, EXAMPLES["product.upsert"])
    deliver(stack, integration, EXAMPLES["price.set"])
    created = deliver(stack, integration, EXAMPLES["order.create"])["result"]
    order_id = created["orderId"]
    assert order_id and created["externalId"] == "ERP-ORDER-789"
    deliver(stack, integration, order_update(order_id))
    customer = deliver(stack, integration, EXAMPLES["customer.upsert"])["result"]
    assert customer["customerId"]

    state = stack.sandbox_state()
    assert state["inventory"]["CHAIR-UNO-BLK"]["wh-01"] == 40  # type: ignore[index]
    assert state["inventory"]["SOFA-VEL-GRY"]["wh-01"] == 8  # type: ignore[index]
    assert state["products"]["CHAIR-UNO-BLK"]["name"] == "Lounge Chair Uno — Black"  # type: ignore[index]
    assert state["prices"]["CHAIR-UNO-BLK"] == {"sellingPrice": 4990, "costPrice": 2200}  # type: ignore[index]
    order = state["orders"][order_id]  # type: ignore[index]
    assert order["status"] == "shipped" and order["trackingNumber"] == "PKG-123456789"
    assert order["externalId"] == "ERP-ORDER-789"
    assert state["customers"]["customer@example.com"]["phone"] == "+46701234567"  # type: ignore[index]


def test_event_detail_shows_attempts_with_masked_communication_log(stack: Stack) -> None:
    integration = stack.new_integration("Detail")
    body = {
        "action": "customer.upsert",
        "data": {"email": "maria.lind@example.com", "firstName": "Maria", "phone": "+46709876543"},
    }
    event = deliver(stack, integration, body)
    detail = stack.event(integration["id"], str(event["id"]))
    assert detail["payload"]["data"]["email"] == "m***@example.com"  # type: ignore[index]
    call = detail["attemptLog"][0]["calls"][0]  # type: ignore[index]
    assert call["status"] == 200 and call["method"] == "PUT"
    assert call["request"]["headers"]["authorization"] == "[removed]"
    assert call["request"]["headers"]["idempotency-key"] == event["id"]
    text = str(detail)
    for secret in ("maria.lind@example.com", "Maria", "+46709876543", "test-platform-token"):
        assert secret not in text
