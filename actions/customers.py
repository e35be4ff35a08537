"""customer.upsert: create or update a customer keyed by e-mail."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints

from actions.base import Action, ActionData, PlatformCall, Semantics
from actions.common import Email, Name

Phone = Annotated[str, StringConstraints(min_length=3, max_length=40, pattern=r"^\+?[0-9 ()\-]+$")]


class CustomerData(ActionData):
    email: Email
    firstName: Name | None = None
    lastName: Name | None = None
    phone: Phone | None = None


def customer_key(email: str) -> str:
    return f"customer:{email.lower()}"


class CustomerUpsert(Action):
    name = "customer.upsert"
    data_model = CustomerData
    semantics = Semantics.ABSOLUTE

    def entity_keys(self, data: Any, entity_id: str | None) -> list[str]:
        return [customer_key(data.email)]

    def platform_call(self, data: Any, entity_id: str | None) -> PlatformCall:
        return PlatformCall("upsertCustomer", data.model_dump(mode="json", exclude_none=True))

    def describe(self, data: Any, entity_id: str | None) -> str:
        return f"upsert customer {data.email}"

    def result(self, response: Any) -> dict[str, Any]:
        if not isinstance(response, dict):
            return {}
        return {"customerId": response.get("id"), "created": response.get("created")}
