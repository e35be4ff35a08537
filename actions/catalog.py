"""product.upsert (bulk products by SKU) and price.set (bulk prices by SKU)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints

from actions.base import ActionData, PlatformCall, Semantics
from actions.common import BulkAction, MinorUnits, Name, Sku


class Product(ActionData):
    sku: Sku
    name: Name
    sellingPrice: MinorUnits | None = None
    costPrice: MinorUnits | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class ProductUpsertData(ActionData):
    products: list[Product] = Field(min_length=1)


class Price(ActionData):
    sku: Sku
    sellingPrice: MinorUnits
    costPrice: MinorUnits | None = None


class PriceSetData(ActionData):
    items: list[Price] = Field(min_length=1)


UPSERT_PRODUCTS, SET_PRICES = "upsertProducts", "setPrices"


def price_key(sku: str) -> str:
    return f"price:{sku}"


def _carries_prices(product: Product) -> bool:
    return product.sellingPrice is not None or product.costPrice is not None


class ProductUpsert(BulkAction):
    name = "product.upsert"
    data_model = ProductUpsertData
    semantics = Semantics.ABSOLUTE
    items_field: ClassVar[str] = "products"

    def item_key(self, item: Any) -> str:
        return f"product:{item.sku}"

    def entity_keys(self, data: Any, entity_id: str | None) -> list[str]:
        # A product that carries prices also sets the SKU's price, which price.set sets
        # too: both are versioned under the same price key.
        keys = []
        for product in data.products:
            keys.append(self.item_key(product))
            if _carries_prices(product):
                keys.append(price_key(product.sku))
        return keys

    def only_items(self, data: Any, keys: set[str]) -> Any:
        """Products still current, each without its prices if a newer price won."""
        kept = []
        for product in data.products:
            if self.item_key(product) not in keys:
                continue
            if _carries_prices(product) and price_key(product.sku) not in keys:
                product = product.model_copy(update={"sellingPrice": None, "costPrice": None})
            kept.append(product)
        return data.model_copy(update={"products": kept})

    def platform_call(self, data: Any, entity_id: str | None) -> PlatformCall:
        return PlatformCall(UPSERT_PRODUCTS, self.body(data))

    def platform_calls(
        self, data: Any, entity_id: str | None, fresh: set[str] | None
    ) -> list[PlatformCall]:
        """Current products in one call; and, for a product a newer one superseded
        while this event's price is still the newest, that price through setPrices,
        so the newest price is never lost with the stale product."""
        if fresh is None:
            return [self.platform_call(data, entity_id)]
        calls = []
        current = self.only_items(data, fresh)
        if current.products:
            calls.append(self.platform_call(current, entity_id))
        prices = [
            {"sku": p.sku, "sellingPrice": p.sellingPrice}
            | ({"costPrice": p.costPrice} if p.costPrice is not None else {})
            for p in data.products
            if self.item_key(p) not in fresh
            and price_key(p.sku) in fresh
            and p.sellingPrice is not None
        ]
        if prices:
            calls.append(PlatformCall(SET_PRICES, {"items": prices}))
        return calls

    def call_key(self, event_key: str, call: PlatformCall) -> str:
        # Which calls an attempt makes depends on what is still current, so the second
        # operation is keyed by its name, never by its position in the list.
        return (
            event_key
            if call.operation_id == UPSERT_PRODUCTS
            else f"{event_key}~{call.operation_id}"
        )

    def describe(self, data: Any, entity_id: str | None) -> str:
        return f"upsert {len(data.products)} product(s)"

    def result(self, response: Any) -> dict[str, Any]:
        products = response.get("products", []) if isinstance(response, dict) else []
        return {"products": products}

    def results(self, responses: list[Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {"products": []}
        for response in responses:
            if isinstance(response, dict) and "products" in response:
                merged["products"] += response["products"]
            elif isinstance(response, dict) and "items" in response:
                merged["prices"] = response["items"]
        return merged


class PriceSet(BulkAction):
    name = "price.set"
    data_model = PriceSetData
    semantics = Semantics.ABSOLUTE

    def item_key(self, item: Any) -> str:
        return price_key(item.sku)

    def platform_call(self, data: Any, entity_id: str | None) -> PlatformCall:
        return PlatformCall(SET_PRICES, self.body(data))

    def describe(self, data: Any, entity_id: str | None) -> str:
        return f"set {len(data.items)} price(s)"

    def result(self, response: Any) -> dict[str, Any]:
        items = response.get("items", []) if isinstance(response, dict) else []
        return {"prices": items}
