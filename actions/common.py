"""Shapes every action shares: SKUs, money, warehouses and bulk item lists."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, StringConstraints

from actions.base import Action, ActionData

# Unicode categories no identifier may hold: control characters (NUL, newline, tab),
# invisible formatting (zero-width spaces, right-to-left overrides: one id shown as
# another), line and paragraph separators, surrogates, private-use and unassigned.
FORBIDDEN_IN_IDENTIFIERS = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def identifier_problem(value: str) -> str | None:
    """Why `value` cannot be an identifier (a SKU, an e-mail, an entity or record id,
    an id in a route or filter), or None. Ids are keys in storage, parts of platform
    URLs and words people read and search for, so they hold printable characters
    only, with no space but the plain one, and are never just dots (a path step)."""
    if value.isascii() and value.isprintable():
        return "must not be only dots" if value and value.strip(".") == "" else None
    for position, char in enumerate(value):
        if unicodedata.category(char) in FORBIDDEN_IN_IDENTIFIERS or (
            char.isspace() and char != " "
        ):
            return (
                f"must not contain control or invisible characters "
                f"(found U+{ord(char):04X} at position {position})"
            )
    if value and value.strip(".") == "":
        return "must not be only dots"
    return None


def _printable(value: str) -> str:
    problem = identifier_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Printable = AfterValidator(_printable)
Sku = Annotated[str, StringConstraints(min_length=1, max_length=100), Printable]
WarehouseId = Annotated[str, StringConstraints(min_length=1, max_length=100), Printable]
# The platform id of the record an event changes (a URL part for order.update).
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=200), Printable]
# A business system's own record id, such as an order number.
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=100), Printable]
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Printable,
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
