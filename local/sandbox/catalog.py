"""Products, prices and customers: upserts keyed by SKU or by e-mail.

Prices have one home, the `prices` documents: a product upsert that carries prices
writes them there too, so `setPrices` and `upsertProducts` never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local.sandbox.models import Customer, SetPrices, UpsertProducts
from local.sandbox.rules import Result, new_id, now, require_known_sku, without_none
from local.sandbox.store import Tx


def _write_prices(tx: Tx, sku: str, selling: int | None, cost: int | None) -> dict[str, Any]:
    """Merge the given prices into the SKU's prices; an omitted price keeps its value."""
    prices: dict[str, Any] = tx.get("prices", sku) or {"sellingPrice": None, "costPrice": None}
    if selling is not None:
        prices["sellingPrice"] = selling
    if cost is not None:
        prices["costPrice"] = cost
    tx.put("prices", sku, prices)
    return prices


def upsert_products(tx: Tx, body: UpsertProducts, _: Mapping[str, str]) -> Result:
    results = []
    for product in body.products:
        existing: dict[str, Any] | None = tx.get("products", product.sku)
        fields = without_none(product.model_dump(exclude={"sellingPrice", "costPrice"}))
        if existing is None:
            record = {"id": new_id("prd"), **fields, "createdAt": now()}
        else:
            record = {**existing, **fields}
        record["updatedAt"] = now()
        tx.put("products", product.sku, record)
        if product.sellingPrice is not None or product.costPrice is not None:
            _write_prices(tx, product.sku, product.sellingPrice, product.costPrice)
        results.append({**record, "created": existing is None})
    return 200, {"products": results}


def set_prices(tx: Tx, body: SetPrices, _: Mapping[str, str]) -> Result:
    results = []
    for index, line in enumerate(body.items):
        require_known_sku(tx, line.sku, f"items[{index}].sku")
        prices = _write_prices(tx, line.sku, line.sellingPrice, line.costPrice)
        results.append({"sku": line.sku, **prices})
    return 200, {"items": results}


def save_customer(tx: Tx, customer: Customer) -> tuple[dict[str, Any], bool]:
    """Create or update a customer by e-mail; e-mail is case-insensitive, stored lower."""
    email = customer.email.strip().lower()
    existing: dict[str, Any] | None = tx.get("customers", email)
    fields = without_none(customer.model_dump())
    fields["email"] = email
    if existing is None:
        record = {"id": new_id("cus"), **fields, "createdAt": now()}
    else:
        record = {**existing, **fields}
    record["updatedAt"] = now()
    tx.put("customers", email, record)
    return record, existing is None


def upsert_customer(tx: Tx, body: Customer, _: Mapping[str, str]) -> Result:
    record, created = save_customer(tx, body)
    return 200, {**record, "created": created}
