"""The platform operations by `operationId`, as named in `shared/platform_openapi.json`.

Only the handlers live here; paths and methods come from the OpenAPI file, and the app
refuses to start if the two disagree (see `app.platform_routes`).
"""

from __future__ import annotations

from typing import Any

from local.sandbox import models
from local.sandbox.catalog import set_prices, upsert_customer, upsert_products
from local.sandbox.inventory import adjust_inventory, set_inventory_levels
from local.sandbox.orders import create_order, update_order
from local.sandbox.rules import Operation

OPERATIONS: dict[str, Operation[Any]] = {
    "setInventoryLevels": Operation(models.SetInventoryLevels, set_inventory_levels),
    "adjustInventory": Operation(models.AdjustInventory, adjust_inventory),
    "createOrder": Operation(models.CreateOrder, create_order),
    "updateOrder": Operation(models.UpdateOrder, update_order),
    "upsertProducts": Operation(models.UpsertProducts, upsert_products),
    "setPrices": Operation(models.SetPrices, set_prices),
    "upsertCustomer": Operation(models.Customer, upsert_customer),
}
