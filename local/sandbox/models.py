"""Request bodies of the platform operations, as pydantic models.

They mirror the schemas in `shared/platform_openapi.json` (required fields, `minimum`,
enums). Strict mode because a real platform rejects `"5"` for an integer: the worker
must send the right JSON types, and the sandbox is where we find out if it does not.
Unknown fields are ignored, as the contract does not forbid them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


NonNegative = Annotated[int, Field(ge=0)]

OrderStatus = Literal["pending", "confirmed", "processing", "shipped", "delivered", "cancelled"]


class StockLine(Body):
    sku: str
    warehouseId: str | None = None
    quantity: NonNegative


class SetInventoryLevels(Body):
    items: list[StockLine]


class AdjustmentLine(Body):
    sku: str
    warehouseId: str | None = None
    adjustment: int
    reason: str | None = None


class AdjustInventory(Body):
    items: list[AdjustmentLine]


class Customer(Body):
    email: str
    firstName: str | None = None
    lastName: str | None = None
    phone: str | None = None


class LineItem(Body):
    sku: str
    quantity: Annotated[int, Field(ge=1)]
    unitPrice: NonNegative


class CreateOrder(Body):
    externalId: str
    customer: Customer
    lineItems: list[LineItem]
    currency: str | None = None


class UpdateOrder(Body):
    status: OrderStatus | None = None
    trackingNumber: str | None = None
    carrier: str | None = None


class Product(Body):
    sku: str
    name: str
    sellingPrice: NonNegative | None = None
    costPrice: NonNegative | None = None
    description: str | None = None


class UpsertProducts(Body):
    products: list[Product]


class PriceLine(Body):
    sku: str
    sellingPrice: NonNegative
    costPrice: NonNegative | None = None


class SetPrices(Body):
    items: list[PriceLine]


class FaultsUpdate(BaseModel):
    """Body of `PUT /_sandbox/faults`; every field optional so updates can be partial.

    Unknown fields are refused so a typo (`errorrate`) does not silently do nothing.
    """

    model_config = ConfigDict(strict=True, extra="forbid")

    errorRate: Annotated[float, Field(ge=0, le=1)] = 0.0
    latencyMs: Annotated[int, Field(ge=0, le=600_000)] = 0
    down: bool = False
    rateLimitPerSecond: Annotated[float, Field(gt=0)] | None = None
