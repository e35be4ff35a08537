"""inventory.set (absolute stock per SKU and warehouse) and inventory.adjust (a delta)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from actions.base import ActionData, PlatformCall, Semantics
from actions.common import BulkAction, Quantity, Sku, WarehouseId, stock_key


class StockLevel(ActionData):
    sku: Sku
    quantity: Quantity
    warehouseId: WarehouseId | None = None


class InventorySetData(ActionData):
    items: list[StockLevel] = Field(min_length=1)


class StockAdjustment(ActionData):
    sku: Sku
    adjustment: Annotated[int, Field(ge=-(10**9), le=10**9, strict=True)]
    warehouseId: WarehouseId | None = None
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class InventoryAdjustData(ActionData):
    items: list[StockAdjustment] = Field(min_length=1)


def _levels(response: Any) -> dict[str, Any]:
    items = response.get("items", []) if isinstance(response, dict) else []
    return {"levels": items}


class InventorySet(BulkAction):
    name = "inventory.set"
    data_model = InventorySetData
    semantics = Semantics.ABSOLUTE

    def item_key(self, item: Any) -> str:
        return stock_key(item.sku, item.warehouseId)

    def platform_call(self, data: Any, entity_id: str | None) -> PlatformCall:
        return PlatformCall("setInventoryLevels", self.body(data))

    def describe(self, data: Any, entity_id: str | None) -> str:
        return f"set stock for {_skus(data.items)}"

    def result(self, response: Any) -> dict[str, Any]:
        return _levels(response)


class InventoryAdjust(BulkAction):
    name = "inventory.adjust"
    data_model = InventoryAdjustData
    semantics = Semantics.RELATIVE

    def item_key(self, item: Any) -> str:
        return stock_key(item.sku, item.warehouseId)

    def platform_call(self, data: Any, entity_id: str | None) -> PlatformCall:
        return PlatformCall("adjustInventory", self.body(data))

    def describe(self, data: Any, entity_id: str | None) -> str:
        return f"adjust stock for {_skus(data.items)}"

    def result(self, response: Any) -> dict[str, Any]:
        return _levels(response)


def _skus(items: list[Any]) -> str:
    skus = [item.sku for item in items]
    shown = ", ".join(f"'{sku}'" for sku in skus[:3])
    return shown + (f" and {len(skus) - 3} more" if len(skus) > 3 else "")
