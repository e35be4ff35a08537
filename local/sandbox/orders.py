"""Orders: created once per externalId, then moved through statuses until a final one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local.sandbox.catalog import save_customer
from local.sandbox.models import CreateOrder, UpdateOrder
from local.sandbox.rules import Rejection, Result, new_id, now, require_known_sku
from local.sandbox.store import Tx

FINAL_STATUSES = ("delivered", "cancelled")


def create_order(tx: Tx, body: CreateOrder, _: Mapping[str, str]) -> Result:
    # Idempotent on externalId even without an Idempotency-Key: a repeated create returns
    # the order as it is now (200) and touches nothing, not even the customer.
    existing_id: str | None = tx.get("ordersByExternalId", body.externalId)
    if existing_id is not None:
        return 200, tx.get("orders", existing_id)

    for index, item in enumerate(body.lineItems):
        require_known_sku(tx, item.sku, f"lineItems[{index}].sku")
    customer, _created = save_customer(tx, body.customer)

    stamp = now()
    order: dict[str, Any] = {
        "id": new_id("ord"),
        "externalId": body.externalId,
        "customerId": customer["id"],
        "customerEmail": customer["email"],
        "status": "pending",
        "lineItems": [item.model_dump() for item in body.lineItems],
        "totalAmount": sum(item.quantity * item.unitPrice for item in body.lineItems),
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    if body.currency is not None:
        order["currency"] = body.currency
    tx.put("orders", order["id"], order)
    tx.put("ordersByExternalId", body.externalId, order["id"])
    return 201, order


def update_order(tx: Tx, body: UpdateOrder, params: Mapping[str, str]) -> Result:
    order_id = params["orderId"]
    order: dict[str, Any] | None = tx.get("orders", order_id)
    if order is None:
        message = f"Order '{order_id}' does not exist"
        raise Rejection(404, "order_not_found", message, [{"path": "orderId", "message": message}])

    changes = body.model_dump(exclude_none=True)
    if all(order.get(name) == value for name, value in changes.items()):
        # Nothing would change (e.g. a retried "delivered"): answer like a success rather
        # than 409, because no final status is being left.
        return 200, order
    if order["status"] in FINAL_STATUSES:
        message = (
            f"Order '{order_id}' is already {order['status']};"
            f" a {order['status']} order cannot be changed"
        )
        raise Rejection(409, "order_final", message, [{"path": "status", "message": message}])

    order.update(changes)
    order["updatedAt"] = now()
    tx.put("orders", order_id, order)
    return 200, order
