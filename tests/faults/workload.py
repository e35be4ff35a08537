"""A reproducible ERP workload and the platform state it must produce.

Each integration has its own SKUs and customers. Absolute-state data (stock of "set"
SKUs, prices, product names, customer phones) must end at the value of the newest
accepted event that carried it (a stale retry must never win); relative data (stock of
"adjust" SKUs) must end at the seed plus every adjustment exactly once; each order
externalId exists exactly once however often it was pushed. A few events are invalid
on purpose (adjusting an unknown SKU): they must fail permanently and change nothing.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

WAREHOUSE = "wh-1"
SEED_STOCK = 1000


def version(message_id: str) -> tuple[int, str]:
    """Acceptance order of an event: the time its UUIDv7 id carries, then the id."""
    return uuid.UUID(message_id).int >> 80, message_id


@dataclass
class Expected:
    stock: dict[str, int] = field(default_factory=dict)
    set_stock: dict[str, tuple[tuple[int, str], int]] = field(default_factory=dict)
    prices: dict[str, tuple[tuple[int, str], int]] = field(default_factory=dict)
    names: dict[str, tuple[tuple[int, str], str]] = field(default_factory=dict)
    phones: dict[str, tuple[tuple[int, str], str]] = field(default_factory=dict)
    orders: set[str] = field(default_factory=set)
    invalid: set[str] = field(default_factory=set)

    def record(self, body: dict[str, Any], message_id: str, invalid: bool) -> None:
        """Fold one accepted event into the expected state."""
        if invalid:
            self.invalid.add(message_id)
            return
        v, data, action = version(message_id), body["data"], body["action"]

        def newest(table: dict[str, Any], key: str, value: Any) -> None:
            if key not in table or table[key][0] < v:
                table[key] = (v, value)

        if action == "inventory.set":
            for item in data["items"]:
                newest(self.set_stock, item["sku"], item["quantity"])
        elif action == "inventory.adjust":
            for item in data["items"]:
                self.stock[item["sku"]] = (
                    self.stock.get(item["sku"], SEED_STOCK) + item["adjustment"]
                )
        elif action == "price.set":
            for item in data["items"]:
                newest(self.prices, item["sku"], item["sellingPrice"])
        elif action == "product.upsert":
            for product in data["products"]:
                newest(self.names, product["sku"], product["name"])
                if "sellingPrice" in product:  # a product's price competes with price.set
                    newest(self.prices, product["sku"], product["sellingPrice"])
        elif action == "customer.upsert":
            newest(self.phones, data["email"], data["phone"])
        elif action == "order.create":
            self.orders.add(data["externalId"])

    def mismatches(self, state: dict[str, Any]) -> list[str]:
        """Every difference between the platform's state and the expected one."""
        problems = []
        inventory, prices = state["inventory"], state["prices"]
        for sku, quantity in self.stock.items():
            if inventory.get(sku, {}).get(WAREHOUSE) != quantity:
                problems.append(f"stock {sku}: {inventory.get(sku)} != {quantity}")
        for sku, (_, quantity) in self.set_stock.items():
            if inventory.get(sku, {}).get(WAREHOUSE) != quantity:
                problems.append(f"stock {sku}: {inventory.get(sku)} != {quantity}")
        for sku, (_, price) in self.prices.items():
            if prices.get(sku, {}).get("sellingPrice") != price:
                problems.append(f"price {sku}: {prices.get(sku)} != {price}")
        for sku, (_, name) in self.names.items():
            if state["products"].get(sku, {}).get("name") != name:
                problems.append(f"product {sku}: {state['products'].get(sku)} != {name}")
        for email, (_, phone) in self.phones.items():
            if state["customers"].get(email, {}).get("phone") != phone:
                problems.append(f"customer {email}: {state['customers'].get(email)} != {phone}")
        by_external: dict[str, int] = defaultdict(int)
        for order in state["orders"].values():
            by_external[order["externalId"]] += 1
        for external_id in self.orders:
            if by_external.get(external_id, 0) != 1:
                problems.append(f"order {external_id}: {by_external.get(external_id, 0)} orders")
        return problems


class Workload:
    """Events for one integration, from a seeded random generator."""

    def __init__(self, prefix: str, seed: int) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.set_skus = [f"{prefix}-S{n}" for n in range(12)]
        self.adjust_skus = [f"{prefix}-A{n}" for n in range(6)]
        self.emails = [f"buyer{n}.{prefix.lower()}@example.com" for n in range(8)]
        self.orders: list[str] = []

    def seed_events(self) -> list[dict[str, Any]]:
        skus = self.set_skus + self.adjust_skus
        products = [{"sku": sku, "name": f"{sku} v0"} for sku in skus]
        stock = [{"sku": sku, "quantity": SEED_STOCK, "warehouseId": WAREHOUSE} for sku in skus]
        return [
            {"action": "product.upsert", "data": {"products": products}},
            {"action": "inventory.set", "data": {"items": stock}},
        ]

    def next_event(self) -> tuple[dict[str, Any], bool]:
        """(body, invalid on purpose)."""
        rng, roll = self.rng, self.rng.random()
        if roll < 0.01:
            item = {"sku": f"{self.prefix}-UNKNOWN", "adjustment": 1}
            return {"action": "inventory.adjust", "data": {"items": [item]}}, True
        if roll < 0.25:
            items = [
                {"sku": sku, "quantity": rng.randint(0, 500), "warehouseId": WAREHOUSE}
                for sku in rng.sample(self.set_skus, rng.randint(1, 3))
            ]
            return {"action": "inventory.set", "data": {"items": items}}, False
        if roll < 0.45:
            items = [
                {"sku": sku, "adjustment": rng.randint(-3, 5), "reason": "cycle count"}
                for sku in rng.sample(self.adjust_skus, rng.randint(1, 2))
            ]
            return {"action": "inventory.adjust", "data": {"items": items}}, False
        if roll < 0.60:
            items = [
                {"sku": sku, "sellingPrice": rng.randint(100, 99_999)}
                for sku in rng.sample(self.set_skus, rng.randint(1, 3))
            ]
            return {"action": "price.set", "data": {"items": items}}, False
        if roll < 0.72:
            products: list[dict[str, Any]] = [
                {"sku": sku, "name": f"{sku} v{rng.randint(1, 10**6)}"}
                for sku in rng.sample(self.set_skus, rng.randint(1, 2))
            ]
            for product in products:
                if rng.random() < 0.5:
                    product["sellingPrice"] = rng.randint(100, 99_999)
            return {"action": "product.upsert", "data": {"products": products}}, False
        if roll < 0.85:
            data = {
                "email": rng.choice(self.emails),
                "firstName": "Test",
                "phone": f"+4670{rng.randint(1_000_000, 9_999_999)}",
            }
            return {"action": "customer.upsert", "data": data}, False
        if self.orders and rng.random() < 0.15:
            external_id = rng.choice(self.orders)  # the ERP pushes an order again
        else:
            external_id = f"{self.prefix}-ORD-{len(self.orders)}"
            self.orders.append(external_id)
        order_rng = random.Random(external_id)  # same externalId, same body
        data = {
            "externalId": external_id,
            "customer": {"email": order_rng.choice(self.emails)},
            "lineItems": [
                {"sku": order_rng.choice(self.set_skus), "quantity": 1, "unitPrice": 4990}
            ],
        }
        return {"action": "order.create", "data": data}, False
