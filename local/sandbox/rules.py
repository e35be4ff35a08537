"""What the business rules share: the rejection they raise and a few common checks.

A rule is a plain function `(tx, body, path_params) -> (status, response_body)` that reads
and writes documents through `Tx` and raises `Rejection` when the request must not be
applied. The caller runs it inside a savepoint, so a rejection half way through a batch
undoes the earlier lines too (all-or-nothing per request).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from local.sandbox.store import Tx

Result = tuple[int, Any]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Rejection(Exception):
    """A request the platform refuses; becomes `{"error", "message", "details"}`."""

    status: int
    code: str
    message: str
    details: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


@dataclass(frozen=True)
class Operation(Generic[M]):
    """One platform operation: the body it accepts and the rule that applies it."""

    model: type[M]
    apply: Callable[[Tx, M, Mapping[str, str]], Result]


def new_id(prefix: str) -> str:
    # 12 hex digits: short enough to read in logs, plenty for a sandbox.
    return f"{prefix}_{secrets.token_hex(6)}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def unprocessable(code: str, message: str, path: str) -> Rejection:
    return Rejection(422, code, message, [{"path": path, "message": message}])


def require_known_sku(tx: Tx, sku: str, path: str) -> None:
    """A SKU exists once a product with it was upserted or its stock was set."""
    if tx.get("products", sku) is None and tx.get("inventory", sku) is None:
        raise unprocessable("unknown_sku", f"SKU '{sku}' does not exist", path)


def without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop absent optional fields, so an upsert only overwrites what was sent."""
    return {name: value for name, value in values.items() if value is not None}
