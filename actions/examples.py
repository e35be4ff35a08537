"""The request bodies of the Custom Inbound API reference (custom-inbound-api.txt),
exactly as written there: one per action. The OpenAPI description shows them, and the
tests send them."""

from __future__ import annotations

from typing import Any

REFERENCE_EXAMPLES: dict[str, dict[str, Any]] = {
    "inventory.set": {
        "action": "inventory.set",
        "data": {
            "items": [
                {"sku": "CHAIR-UNO-BLK", "quantity": 42, "warehouseId": "wh-01"},
                {"sku": "SOFA-VEL-GRY", "quantity": 8, "warehouseId": "wh-01"},
            ]
        },
    },
    "inventory.adjust": {
        "action": "inventory.adjust",
        "data": {"items": [{"sku": "CHAIR-UNO-BLK", "adjustment": -2, "reason": "Damaged stock"}]},
    },
    "order.create": {
        "action": "order.create",
        "data": {
            "externalId": "ERP-ORDER-789",
            "customer": {
                "email": "customer@example.com",
                "firstName": "Anna",
                "lastName": "Svensson",
            },
            "lineItems": [{"sku": "CHAIR-UNO-BLK", "quantity": 1, "unitPrice": 4990}],
        },
    },
    "order.update": {
        "action": "order.update",
        "entityId": "order-id-from-avvyr",
        "data": {"status": "shipped", "trackingNumber": "PKG-123456789"},
    },
    "product.upsert": {
        "action": "product.upsert",
        "data": {
            "products": [
                {
                    "sku": "CHAIR-UNO-BLK",
                    "name": "Lounge Chair Uno — Black",
                    "sellingPrice": 4990,
                    "description": "Minimalist lounge chair in black leather.",
                }
            ]
        },
    },
    "price.set": {
        "action": "price.set",
        "data": {"items": [{"sku": "CHAIR-UNO-BLK", "sellingPrice": 4990, "costPrice": 2200}]},
    },
    "customer.upsert": {
        "action": "customer.upsert",
        "data": {
            "email": "customer@example.com",
            "firstName": "Anna",
            "lastName": "Svensson",
            "phone": "+46701234567",
        },
    },
}
