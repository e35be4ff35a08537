"""order.create (idempotent on externalId) and order.update (status, tracking)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from actions.base import Action, ActionData, PlatformCall, Semantics
from actions.common import ExternalId, MinorUnits, Sku
from actions.customers import CustomerData

OrderStatus = Literal["pending", "confirmed", "processing", "shipped", "delivered", "cancelled"]


class LineItem(ActionData):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=10**6, strict=True)]
    unitPrice: MinorUnits


class OrderCreateData(ActionData):
    externalId: ExternalId
    customer: CustomerData
    lineItems: list[LineItem] = Field(min_length=1)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None


class OrderUpdateData(ActionData):
    status: OrderStatus | None = None
    trackingNumber: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    carrier: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class OrderCreate(Action):
    name = "order.create"
    data_model = OrderCreateData
    semantics = Semantics.CREATE

    def entity_keys(self, data: Any, entity_id: str | None) -> list[str]:
        return [f"order:{data.externalId}"]

    def item_count(self, data: Any) -> int:
        return len(data.lineItems)

    def default_entity_id(self, data: Any) -> str | None:
        return str(data.externalId)

    def platform_call(self, data: Any, entity_id: str | None) -> PlatformCall:
        return PlatformCall("createOrder", data.model_dump(mode="json", exclude_none=True))

    def describe(self, data: Any, entity_id: str | None) -> str:
        return f"create order {data.externalId}"

    def result(self, response: Any) -> dict[str, Any]:
        if not isinstance(response, dict):
            return {}
        return {
            "orderId": response.get("id"),
            "externalId": response.get("externalId"),
            "customerId": response.get("customerId"),
        }


class OrderUpdate(Action):
    name = "order.update"
    data_model = OrderUpdateData
    semantics = Semantics.UPDATE
    requires_entity_id = True

    def entity_keys(self, data: Any, entity_id: str | None) -> list[str]:
        return [f"order:{entity_id}"]

    def platform_call(self, data: Any, entity_id: str | None) -> PlatformCall:
        body = data.model_dump(mode="json", exclude_none=True)
        return PlatformCall("updateOrder", body, {"orderId": entity_id or ""})

    def describe(self, data: Any, entity_id: str | None) -> str:
        return f"update order {entity_id}"

    def result(self, response: Any) -> dict[str, Any]:
        if not isinstance(response, dict):
            return {}
        return {"orderId": response.get("id"), "status": response.get("status")}
