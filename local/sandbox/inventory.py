"""Stock rules: absolute levels and deltas, per (sku, warehouseId), never below zero.

Inventory is stored as one document per SKU: `{"WH-1": 5, "WH-2": 0}`.
"""

from __future__ import annotations

from collections.abc import Mapping

from local.sandbox.models import AdjustInventory, SetInventoryLevels
from local.sandbox.rules import Result, require_known_sku, unprocessable
from local.sandbox.store import Tx


def _resolve_warehouse(levels: dict[str, int], sku: str, given: str | None, path: str) -> str:
    """The warehouse a line means: the given one, else the SKU's only warehouse.

    Guessing among several warehouses would silently move stock in the wrong place, so
    an ambiguous line is rejected instead, naming the warehouses that exist.
    """
    if given is not None:
        return given
    if len(levels) == 1:
        return next(iter(levels))
    if not levels:
        message = f"SKU '{sku}' has no warehouse yet; warehouseId must be given"
    else:
        names = ", ".join(f"'{name}'" for name in sorted(levels))
        message = (
            f"SKU '{sku}' is stocked in several warehouses ({names}); warehouseId must be given"
        )
    raise unprocessable("warehouse_required", message, f"{path}.warehouseId")


def set_inventory_levels(tx: Tx, body: SetInventoryLevels, _: Mapping[str, str]) -> Result:
    changed = []
    for index, line in enumerate(body.items):
        path = f"items[{index}]"
        levels: dict[str, int] = tx.get("inventory", line.sku) or {}
        warehouse = _resolve_warehouse(levels, line.sku, line.warehouseId, path)
        levels[warehouse] = line.quantity
        tx.put("inventory", line.sku, levels)
        changed.append({"sku": line.sku, "warehouseId": warehouse, "quantity": line.quantity})
    return 200, {"items": changed}


def adjust_inventory(tx: Tx, body: AdjustInventory, _: Mapping[str, str]) -> Result:
    changed = []
    for index, line in enumerate(body.items):
        path = f"items[{index}]"
        require_known_sku(tx, line.sku, f"{path}.sku")
        levels: dict[str, int] = tx.get("inventory", line.sku) or {}
        warehouse = _resolve_warehouse(levels, line.sku, line.warehouseId, path)
        # A warehouse the SKU was never stocked in starts at zero: a positive delta
        # stocks it, a negative one is refused below.
        current = levels.get(warehouse, 0)
        result = current + line.adjustment
        if result < 0:
            raise unprocessable(
                "insufficient_stock",
                f"Adjusting SKU '{line.sku}' in warehouse '{warehouse}' by {line.adjustment}"
                f" would leave {result} (current level {current}); stock cannot go below zero",
                f"{path}.adjustment",
            )
        levels[warehouse] = result
        tx.put("inventory", line.sku, levels)
        changed.append({"sku": line.sku, "warehouseId": warehouse, "quantity": result})
    return 200, {"items": changed}
