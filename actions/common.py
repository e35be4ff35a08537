"""Shapes every action shares: SKUs, money, warehouses and bulk item lists."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints

from actions.base import Action, ActionData

Sku = Annotated[str, StringConstraints(min_length=1, max_length=100)]
WarehouseId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Money is integer minor units (4990 = 49.90) so no rounding ever happens on the way.
MinorUnits = Annotated[int, Field(ge=0, le=10**12, strict=True)]
Quantity = Annotated[int, Field(ge=0, le=10**9, strict=True)]


def sku_ordering_key(sku: str) -> str:
    return f"sku:{sku}"


def stock_key(sku: str, warehouse_id: str | None) -> str:
    return f"inventory:{sku}@{warehouse_id or '*'}"


class BulkAction(Action):
    """An action whose data is a list of items under one field (`items`, `products`)."""

    items_field: ClassVar[str] = "items"

    def items(self, data: ActionData) -> list[Any]:
        items: list[Any] = getattr(data, self.items_field)
        return items

    def item_count(self, data: Any) -> int:
        return len(self.items(data))

    def item_key(self, item: Any) -> str:
        raise NotImplementedError

    def default_entity_id(self, data: Any) -> str | None:
        """The SKU when the event carries exactly one; a bulk event has no single id."""
        skus = {item.sku for item in self.items(data)}
        return skus.pop() if len(skus) == 1 else None

    def entity_keys(self, data: Any, entity_id: str | None) -> list[str]:
        return [self.item_key(item) for item in self.items(data)]

    def ordering_key(self, data: Any, entity_id: str | None) -> str:
        # By SKU, whatever the action: a product, its stock and its price stay in order.
        return sku_ordering_key(self.items(data)[0].sku)

    def only_items(self, data: Any, keys: set[str]) -> Any:
        kept = [item for item in self.items(data) if self.item_key(item) in keys]
        return data.model_copy(update={self.items_field: kept})

    def body(self, data: ActionData) -> dict[str, Any]:
        return data.model_dump(mode="json", exclude_none=True)
