"""A reproducible ERP workload and the platform state it must produce.

Each integration has its own SKUs and customers. Absolute-state data (stock of "set"
SKUs, prices, product names, customer phones) must end at the value of the last event
the client sent that carried it (a stale retry must never win): the client's own send
order, never the product's ordering rule, so a product that orders events wrongly is
caught. Relative data (stock of "adjust" SKUs) must end at the seed plus every
adjustment exactly once: the one check the platform's own idempotency cannot pass for
the product. Each order externalId exists exactly once however often it was pushed. A
few events are invalid on purpose (adjusting an unknown SKU): they must fail permanently
and change nothing. And the platform must hold nothing the client never sent.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

WAREHOUSE = "wh-1"
SEED_STOCK = 1000
SEED_ORDER = -1  # the seed events come before everything a client sends


@dataclass
class Expected:
    """The platform state the accepted events must produce. Each absolute value keeps
    the client's send position of the event that carried it; the newest wins."""

    stock: dict[str, int] = field(default_factory=dict)
    set_stock: dict[str, tuple[int, int]] = field(default_factory=dict)
    prices: dict[str, tuple[int, int]] = field(default_factory=dict)
    names: dict[str, tuple[int, str]] = field(default_factory=dict)
    phones: dict[str, tuple[int, str]] = field(default_factory=dict)
    customers: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)

    def seeded(self, workload: Workload) -> None:
        """What `Workload.seed_events` creates: every SKU, named v0, stocked."""
        for sku in workload.set_skus + workload.adjust_skus:
            self.names[sku] = (SEED_ORDER, f"{sku} v0")
        for sku in workload.set_skus:
            self.set_stock[sku] = (SEED_ORDER, SEED_STOCK)
        for sku in workload.adjust_skus:
            self.stock[sku] = SEED_STOCK

    def record(self, body: dict[str, Any], order: int, invalid: bool) -> None:
        """Fold in one accepted event, the `order`-th its client sent."""
        if invalid:
            return
        data, action = body["data"], body["action"]

        def newest(table: dict[str, Any], key: str, value: Any) -> None:
            if key not in table or table[key][0] < order:
                table[key] = (order, value)

        if action == "inventory.set":
            for item in data["items"]:
                newest(self.set_stock, item["sku"], item["quantity"])
        elif action == "inventory.adjust":
            for item in data["items"]:
                self.stock[item["sku"]] += item["adjustment"]
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
            self.customers.add(data["email"])
        elif action == "order.create":
            self.orders.add(data["externalId"])
            self.customers.add(data["customer"]["email"])

    def mismatches(self, state: dict[str, Any]) -> list[str]:
        """Every difference between the platform's state and the expected one."""
        problems = []
        inventory, prices = state["inventory"], state["prices"]
        stock = self.stock | {sku: quantity for sku, (_, quantity) in self.set_stock.items()}
        for sku, quantity in stock.items():
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

    def extra_records(self, state: dict[str, Any]) -> list[str]:
        """Every platform record no accepted event asked for."""
        skus = set(self.names)
        extra = [f"inventory {sku}" for sku in set(state["inventory"]) - skus]
        extra += [f"product {sku}" for sku in set(state["products"]) - skus]
        extra += [f"prices {sku}" for sku in set(state["prices"]) - skus]
        extra += [f"customer {email}" for email in set(state["customers"]) - self.customers]
        extra += [
            f"order {order['externalId']}"
            for order in state["orders"].values()
            if order["externalId"] not in self.orders
        ]
        return extra


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
        order: dict[str, Any] = {
            "externalId": external_id,
            "customer": {"email": order_rng.choice(self.emails)},
            "lineItems": [
                {"sku": order_rng.choice(self.set_skus), "quantity": 1, "unitPrice": 4990}
            ],
        }
        return {"action": "order.create", "data": order}, False
