"""Turning an inbound body into a validated action, or a 4xx a person can act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from actions import ACTIONS, SUPPORTED_ACTIONS, Action
from actions.base import ActionData
from actions.common import EntityId, Printable
from shared.domain.errors import (
    FieldProblem,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from shared.services.json_input import read_json

# Clearer words than pydantic's for the mistakes data owners actually make.
FRIENDLIER_MESSAGES = {
    "int_type": "must be a whole number",
    "extra_forbidden": "is not a known field",
    "missing": "is required",
}


class InboundEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Annotated[str, StringConstraints(min_length=1, max_length=100), Printable]
    entityId: EntityId | None = None
    data: dict[str, Any]


@dataclass(frozen=True)
class ValidatedRequest:
    action: Action
    entity_id: str | None
    data: ActionData
    raw_data: dict[str, Any]


def pydantic_problems(error: PydanticValidationError, prefix: str = "") -> list[FieldProblem]:
    """pydantic's errors as `data.items[3].quantity` paths with readable messages."""
    problems = []
    for item in error.errors():
        path = prefix
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = FRIENDLIER_MESSAGES.get(item["type"], item["msg"])
        if item["type"] == "value_error":  # our own validators' sentences, as written
            message = str(item["ctx"]["error"]) if "error" in item.get("ctx", {}) else message
        if item["type"] == "int_type" and isinstance(item.get("input"), float):
            message = "must be a whole number; money is in minor units (49.90 is 4990)"
        if item["type"] == "extra_forbidden":
            message = f"is not a known field (check the spelling; value {item['input']!r})"
        problems.append(FieldProblem(path or "body", message))
    return problems


def check_body(body: bytes, content_type: str | None, max_bytes: int) -> Any:
    """Size, media type and strict JSON (see `json_input`); returns the parsed JSON."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(
            f"The body is {len(body):,} bytes; the limit is {max_bytes:,}. "
            "Split the items over several requests."
        )
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            "Send the body as JSON with 'Content-Type: application/json' "
            f"(got '{media or 'none'}')."
        )
    return read_json(body)


def validate_inbound(document: Any, max_items: int) -> ValidatedRequest:
    """The envelope, the action name and the action's data, with every problem listed."""
    if not isinstance(document, dict):
        raise ValidationFailed('The body must be a JSON object: {"action", "entityId"?, "data"}.')
    try:
        envelope = InboundEnvelope.model_validate(document)
    except PydanticValidationError as exc:
        raise ValidationFailed(
            "The request is missing or has malformed fields.", pydantic_problems(exc)
        ) from exc
    action = ACTIONS.get(envelope.action)
    if action is None:
        raise ValidationFailed(
            f"Unknown action '{envelope.action}'. Supported actions: "
            + ", ".join(SUPPORTED_ACTIONS)
            + ".",
            [FieldProblem("action", "must be one of " + ", ".join(SUPPORTED_ACTIONS))],
        )
    if action.requires_entity_id and not envelope.entityId:
        raise ValidationFailed(
            f"Action '{action.name}' needs 'entityId': the platform id of the record to change.",
            [FieldProblem("entityId", "is required for " + action.name)],
        )
    try:
        data = action.parse(envelope.data)
    except PydanticValidationError as exc:
        problems = pydantic_problems(exc, prefix="data")
        raise ValidationFailed(
            f"The data for '{action.name}' is not valid: {len(problems)} problem(s); see details.",
            problems,
        ) from exc
    count = action.item_count(data)
    if count > max_items:
        raise PayloadTooLarge(
            f"The event carries {count:,} items; the limit is {max_items:,} per request. "
            "Split the items over several requests."
        )
    return ValidatedRequest(action, envelope.entityId, data, envelope.data)
