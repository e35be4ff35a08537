"""Writes `shared/api/web/openapi.json`, the OpenAPI 3.1 description of every public route.

The request schemas come from the pydantic models the API validates with (each
action's `data` model, the management bodies) and the response examples from the
code that shapes real answers (`to_json`, masking, the communication log, the error
classes), so the document follows the product. `tests/unit/test_openapi.py` checks
that the committed file is exactly what this script writes.

    .venv/bin/python -m scripts.build_openapi           # rewrite the file
    .venv/bin/python -m scripts.build_openapi --check   # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from pydantic.json_schema import models_json_schema

from actions import ACTIONS
from actions.examples import REFERENCE_EXAMPLES
from shared.api import http_api
from shared.domain.advice import advice_for
from shared.domain.comm_log import logged_call
from shared.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RequestError,
    Throttled,
    TransientError,
    Unprocessable,
)
from shared.domain.jobs import BulkJob, JobStatus
from shared.domain.masking import mask
from shared.domain.models import (
    Attempt,
    AttemptOutcome,
    EventStatus,
    Integration,
    IntegrationEvent,
    PlatformExchange,
)
from shared.domain.outcomes import classify
from shared.services.auth import API_KEY_PREFIX, bearer_token, key_hint
from shared.services.management import CreateIntegration, PatchIntegration
from shared.services.queries import CountsRequest, EventFilter
from shared.services.validation import check_body, validate_inbound

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "shared" / "api" / "web" / "openapi.json"
REF = "#/components/schemas/{model}"
Json = dict[str, Any]


def ref(name: str) -> Json:
    return {"$ref": REF.format(model=name)}


# --- request schemas, from the pydantic models ----------------------------------------
# Words the pydantic models do not carry, added to the generated schemas.
FIELD_NOTES = {
    "StockLevel.quantity": "Absolute stock level: replaces the current level.",
    "StockLevel.warehouseId": "Omit when the SKU has exactly one warehouse.",
    "StockAdjustment.adjustment": "Relative change; negative removes stock.",
    "StockAdjustment.warehouseId": "Omit when the SKU has exactly one warehouse.",
    "LineItem.unitPrice": "Integer minor units: 4990 is 49.90.",
    "Product.sellingPrice": "Integer minor units: 4990 is 49.90.",
    "Product.costPrice": "Integer minor units.",
    "Price.sellingPrice": "Integer minor units: 4990 is 49.90.",
    "Price.costPrice": "Integer minor units.",
    "OrderCreateData.externalId": "Your order number; order.create is idempotent on it.",
    "CustomerData.email": "The customer's key: an existing customer with it is updated.",
    "EventFilter.from": "Events created at or after this time (ISO 8601).",
    "EventFilter.to": "Events created before this time (ISO 8601).",
    "EventFilter.continuationToken": "From the previous page's answer; omit for page one.",
}


def _strip_property_titles(schema: Any) -> Any:
    """pydantic's per-field titles ("Integrationid") say nothing: drop them."""
    if isinstance(schema, list):
        return [_strip_property_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: Json = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {
                name: {k: _strip_property_titles(v) for k, v in prop.items() if k != "title"}
                for name, prop in value.items()
            }
        else:
            out[key] = _strip_property_titles(value)
    return out


def model_schemas() -> Json:
    """Component schemas of every request model, exactly as pydantic validates them."""
    models: list[Any] = [action.data_model for action in ACTIONS.values()]
    models += [CreateIntegration, PatchIntegration, EventFilter, CountsRequest]
    _, generated = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    schemas: Json = _strip_property_titles(generated["$defs"])
    for where, note in FIELD_NOTES.items():
        name, field = where.split(".")
        schemas[name]["properties"][field]["description"] = note
    bulk = copy.deepcopy(schemas["EventFilter"])
    bulk["title"] = "BulkRetryRequest"
    bulk["description"] = (
        "Which events to resubmit (the integration comes from the path). Only failed events "
        "among the matches are resubmitted; the others are counted as skipped."
    )
    for name in ("integrationId", "continuationToken", "limit"):
        del bulk["properties"][name]
    del bulk["required"]
    schemas["BulkRetryRequest"] = bulk
    return schemas


def inbound_schemas() -> Json:
    """One envelope per action (`action` is the discriminator) and their union."""
    schemas: Json = {}
    mapping: dict[str, str] = {}
    for action in ACTIONS.values():
        name = "".join(part.title() for part in action.name.split(".")) + "Request"
        entity: Json = {"type": "string", "minLength": 1, "maxLength": 200}
        entity["description"] = (
            "The platform id of the record to change."
            if action.requires_entity_id
            else "Optional identifier of the entity, shown with the event."
        )
        required = ["action", "data"] + (["entityId"] if action.requires_entity_id else [])
        schemas[name] = {
            "title": name,
            "description": f"`{action.name}` ({action.semantics.value}).",
            "type": "object",
            "additionalProperties": False,
            "required": required,
            "properties": {
                "action": {"const": action.name},
                "entityId": entity,
                "data": ref(action.data_model.__name__),
            },
        }
        mapping[action.name] = REF.format(model=name)
    schemas["InboundRequest"] = {
        "title": "InboundRequest",
        "description": "`action` names the action; `data` is its payload.",
        "oneOf": [{"$ref": target} for target in mapping.values()],
        "discriminator": {"propertyName": "action", "mapping": mapping},
    }
    return schemas


# --- response schemas ---------------------------------------------------------------------
TIME: Json = {"type": "string", "format": "date-time"}
NULLABLE_TIME: Json = {"type": ["string", "null"], "format": "date-time"}


def obj(required: list[str], properties: Json, description: str | None = None) -> Json:
    """A response object: open to new fields (clients must ignore those they do not know)."""
    schema: Json = {"type": "object", "required": required, "properties": properties}
    if description:
        schema["description"] = description
    return schema


def response_schemas() -> Json:
    counts = {status.value: {"type": "integer", "minimum": 0} for status in EventStatus}
    return {
        "Error": obj(
            ["error", "message"],
            {
                "error": {
                    "type": "string",
                    "description": "Stable code: validation_failed, unauthorized, forbidden, "
                    "not_found, conflict, payload_too_large, unsupported_media_type, "
                    "unprocessable, throttled, unavailable.",
                },
                "message": {"type": "string", "description": "A sentence a person can act on."},
                "details": {"type": "array", "items": ref("FieldProblem")},
            },
            "Every error answer.",
        ),
        "FieldProblem": obj(
            ["path", "message"],
            {
                "path": {"type": "string", "description": "e.g. `data.items[3].quantity`"},
                "message": {"type": "string"},
            },
        ),
        "Accepted": obj(["messageId"], {"messageId": {"type": "string", "format": "uuid"}}),
        "Integration": obj(
            ["id", "service", "name", "enabled", "orderingScope", "apiKeyHint", "createdAt"],
            {
                "id": {"type": "string"},
                "service": {"const": "custom"},
                "name": {"type": "string"},
                "enabled": {"type": "boolean"},
                "orderingScope": ref("OrderingScope"),
                "apiKeyHint": {"type": "string", "description": "The key's last characters."},
                "retry": obj(
                    [],
                    {
                        "maxAttempts": {"type": ["integer", "null"]},
                        "baseDelaySeconds": {"type": ["number", "null"]},
                    },
                    "Per-integration retry overrides; null means the platform default.",
                ),
                "createdAt": TIME,
                "updatedAt": TIME,
            },
        ),
        "CreatedIntegration": {
            "allOf": [
                ref("Integration"),
                obj(["apiKey"], {"apiKey": ref("ApiKey")}, "The key, shown this once."),
            ]
        },
        "ApiKey": {"type": "string", "pattern": f"^{API_KEY_PREFIX}"},
        "IntegrationList": obj(
            ["integrations"], {"integrations": {"type": "array", "items": ref("Integration")}}
        ),
        "NewApiKey": obj(
            ["id", "apiKey"],
            {"id": {"type": "string"}, "apiKey": ref("ApiKey"), "apiKeyHint": {"type": "string"}},
            "The new key, shown this once; the old key stops working.",
        ),
        "LastError": obj(
            ["kind", "message"],
            {
                "kind": {"enum": ["transient", "permanent"]},
                "httpStatus": {"type": ["integer", "null"]},
                "message": {"type": "string"},
            },
            "transient: the platform was unavailable, retried automatically; permanent: the "
            "platform rejected the data, fix it and resubmit.",
        ),
        "Event": obj(
            ["id", "integrationId", "action", "status", "attempts", "maxAttempts", "createdAt"],
            {
                "id": {"type": "string", "description": "The `messageId`."},
                "integrationId": {"type": "string"},
                "action": {"type": "string"},
                "entityId": {"type": ["string", "null"]},
                "status": ref("EventStatus"),
                "attempts": {"type": "integer", "minimum": 0},
                "maxAttempts": {"type": "integer", "minimum": 1},
                "nextRetryAt": {
                    **NULLABLE_TIME,
                    "description": "null: no automatic retry is due (success, or waits for "
                    "a person).",
                },
                "deadLettered": {"type": "boolean"},
                "lastError": {"oneOf": [ref("LastError"), {"type": "null"}]},
                "result": {
                    "type": ["object", "null"],
                    "description": "Platform record ids, e.g. `orderId`.",
                },
                "skippedReason": {"type": ["string", "null"]},
                "resubmissions": {"type": "integer", "minimum": 0},
                "createdAt": TIME,
                "updatedAt": TIME,
            },
        ),
        "EventPage": obj(
            ["events", "continuationToken"],
            {
                "events": {"type": "array", "items": ref("Event")},
                "continuationToken": {
                    "type": ["string", "null"],
                    "description": "Send it back for the next page; null on the last page.",
                },
            },
            "Newest events first.",
        ),
        "PlatformCall": obj(
            ["method", "url", "status"],
            {
                "method": {"type": "string"},
                "url": {"type": "string"},
                "startedAt": TIME,
                "durationMs": {"type": "number"},
                "status": {"type": ["integer", "null"]},
                "error": {"type": ["string", "null"]},
                "request": obj([], {"headers": {"type": "object"}, "body": {}}),
                "response": obj([], {"headers": {"type": "object"}, "body": {}}),
            },
            "One platform call of an attempt; credentials removed, personal data masked.",
        ),
        "Attempt": obj(
            ["attempt", "outcome", "calls"],
            {
                "attempt": {"type": "integer", "minimum": 1},
                "startedAt": TIME,
                "finishedAt": TIME,
                "outcome": {"enum": [outcome.value for outcome in AttemptOutcome]},
                "error": {"oneOf": [ref("LastError"), {"type": "null"}]},
                "calls": {"type": "array", "items": ref("PlatformCall")},
            },
        ),
        "Advice": obj(
            ["kind", "headline", "todo", "http"],
            {
                "kind": {"enum": ["past", "transient", "permanent"]},
                "headline": {"type": "string"},
                "todo": {"type": "string", "description": "What a person can do about it."},
                "http": {
                    "type": ["string", "null"],
                    "description": "e.g. `HTTP 422 · data not accepted`.",
                },
            },
            "The last error in plain words, the same for the dashboard and the command-line "
            "tool; null when no attempt failed.",
        ),
        "EventDetail": {
            "allOf": [
                ref("Event"),
                obj(
                    ["payload", "attemptLog"],
                    {
                        "payload": {
                            "type": ["object", "null"],
                            "description": "The request as received, personal data masked.",
                        },
                        "idempotencyKey": {"type": ["string", "null"]},
                        "attemptLog": {"type": "array", "items": ref("Attempt")},
                        "advice": {"oneOf": [ref("Advice"), {"type": "null"}]},
                    },
                ),
            ]
        },
        "EventCounts": obj(
            ["integrationId", "counts", "deadLettered", "total", "complete"],
            {
                "integrationId": {"type": "string"},
                "counts": obj(list(counts), counts),
                "deadLettered": {"type": "integer", "minimum": 0},
                "total": {"type": "integer", "minimum": 0},
                "complete": {
                    "type": "boolean",
                    "description": "false when the window held more than 20,000 events.",
                },
            },
        ),
        "Resubmitted": obj(
            ["id", "status"],
            {
                "id": {"type": "string"},
                "status": ref("EventStatus"),
                "resubmissions": {"type": "integer", "minimum": 1},
            },
        ),
        "Job": obj(
            ["id", "integrationId", "status", "progress"],
            {
                "id": {"type": "string"},
                "integrationId": {"type": "string"},
                "filter": {"type": "object"},
                "status": {"enum": ["running", "completed", "cancelled"]},
                "progress": obj(
                    ["matched", "resubmitted", "skipped"],
                    {
                        "matched": {"type": "integer", "minimum": 0},
                        "resubmitted": {"type": "integer", "minimum": 0},
                        "skipped": {"type": "integer", "minimum": 0},
                    },
                ),
                "requestedBy": {"type": "string"},
                "createdAt": TIME,
                "updatedAt": TIME,
            },
            "A bulk resubmission, advanced page by page until completed or cancelled.",
        ),
        "AuditEntry": obj(
            ["actor", "action", "eventIds", "at"],
            {
                "actor": {"type": "string", "description": "role, or role:person (X-Actor)"},
                "action": {"type": "string"},
                "jobId": {"type": ["string", "null"]},
                "eventIds": {"type": "array", "items": {"type": "string"}},
                "at": TIME,
            },
        ),
        "AuditTrail": obj(["entries"], {"entries": {"type": "array", "items": ref("AuditEntry")}}),
        "Health": obj(
            ["status", "dependencies"],
            {
                "status": {"enum": ["ok", "degraded"]},
                "dependencies": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        ),
    }


# --- examples, made by the product's own code -----------------------------------------------
# The inbound bodies exactly as custom-inbound-api.txt shows them.
INBOUND_EXAMPLES: dict[str, Json] = dict(REFERENCE_EXAMPLES)

T0 = datetime(2025, 5, 1, 10, 0, 0, tzinfo=UTC)
INTEGRATION_ID = "int_3f9a1c2b4d5e6f70"
EVENT_ID = "01968b49-ed00-7d41-9a2b-3c4d5e6f7a8b"  # UUIDv7 of T0
OTHER_EVENT_ID = "01968b49-fca0-7e02-8c11-0a1b2c3d4e5f"  # T0 + 4 s
JOB_ID = "job_5a1b2c3d4e5f6a7b"
API_KEY = API_KEY_PREFIX + "q7Vb2mXr9TfLc0WzA4sKd1HnPy6EuJ8oGi3RtYbNvQ"
NEW_API_KEY = API_KEY_PREFIX + "M2cTz8HwQ1rVx5LpDk9JfYa0NsGe4BuO7iWmEt3RqZ"


def example(summary: str, value: Any) -> Json:
    return {"summary": summary, "value": value}


def _integration(**changes: Any) -> Json:
    integration = Integration(
        id=INTEGRATION_ID,
        name="My ERP Sync",
        service="custom",
        enabled=True,
        key_hash="",
        key_hint=key_hint(API_KEY),
        created_at=T0,
        updated_at=T0,
    )
    for name, value in changes.items():
        setattr(integration, name, value)
    return integration.to_json()


def _failed_order() -> tuple[IntegrationEvent, Attempt]:
    """order.create rejected by the platform, as the worker records it."""
    body = INBOUND_EXAMPLES["order.create"]["data"]
    reason = {
        "error": "unknown_sku",
        "message": "SKU 'CHAIR-UNO-BLK' does not exist",
        "details": [{"path": "lineItems[0].sku", "message": "SKU 'CHAIR-UNO-BLK' does not exist"}],
    }
    exchange = PlatformExchange(
        method="POST",
        url="https://platform.example.com/v1/orders",
        request_headers={
            "authorization": "Bearer platform-token",
            "content-type": "application/json",
            "idempotency-key": EVENT_ID,
        },
        request_body=body,
        started_at=T0 + timedelta(milliseconds=120),
        duration_ms=84.2,
        status=422,
        response_headers={"content-type": "application/json"},
        response_body=reason,
    )
    error = classify(exchange, ACTIONS["order.create"].describe(_parsed("order.create"), None))
    event = IntegrationEvent(
        id=EVENT_ID,
        integration_id=INTEGRATION_ID,
        action="order.create",
        entity_id=None,
        status=EventStatus.FAILED,
        created_at=T0,
        updated_at=T0 + timedelta(milliseconds=210),
        session_id=INTEGRATION_ID,
        max_attempts=8,
        attempts=1,
        last_error=error.error,
        payload=INBOUND_EXAMPLES["order.create"],
    )
    attempt = Attempt(
        event_id=EVENT_ID,
        number=1,
        started_at=T0 + timedelta(milliseconds=110),
        finished_at=T0 + timedelta(milliseconds=210),
        outcome=AttemptOutcome.FAILED,
        error=error.error,
        calls=[logged_call(exchange, [])],
    )
    return event, attempt


def _parsed(action: str) -> Any:
    return ACTIONS[action].parse(INBOUND_EXAMPLES[action]["data"])


def _stock_event() -> Json:
    event = IntegrationEvent(
        id=OTHER_EVENT_ID,
        integration_id=INTEGRATION_ID,
        action="inventory.set",
        entity_id=None,
        status=EventStatus.SUCCESS,
        created_at=T0 + timedelta(seconds=4),
        updated_at=T0 + timedelta(seconds=4, milliseconds=180),
        session_id=INTEGRATION_ID,
        max_attempts=8,
        attempts=1,
        result={"levels": INBOUND_EXAMPLES["inventory.set"]["data"]["items"]},
    )
    return event.to_json()


def _job(status: str, matched: int, resubmitted: int, skipped: int) -> Json:
    job = BulkJob(
        id=JOB_ID,
        integration_id=INTEGRATION_ID,
        filter={"integrationId": INTEGRATION_ID, "status": "failed", "limit": 50},
        requested_by="operator:maria.ops",
        created_at=T0,
        updated_at=T0 + timedelta(seconds=3),
        status=JobStatus(status),
        matched=matched,
        resubmitted=resubmitted,
        skipped=skipped,
    )
    return job.to_json()


def response_examples() -> dict[str, Json]:
    failed, attempt = _failed_order()
    detail = {
        **failed.to_json(),
        "payload": mask(failed.payload),
        "idempotencyKey": None,
        "attemptLog": [attempt.to_json()],
        "advice": advice.to_json() if (advice := advice_for(failed)) else None,
    }
    counts = {status.value: 0 for status in EventStatus}
    counts.update(success=1250, failed=3, queued=2)
    return {
        "accepted": {"accepted": example("Accepted", {"messageId": EVENT_ID})},
        "integration": {"integration": example("An integration", _integration())},
        "integrationList": {
            "list": example("Every integration", {"integrations": [_integration()]})
        },
        "created": {
            "created": example("Created; store the key now", {**_integration(), "apiKey": API_KEY})
        },
        "disabled": {"disabled": example("Disabled", _integration(enabled=False))},
        "newKey": {
            "newKey": example(
                "The new key",
                {"id": INTEGRATION_ID, "apiKey": NEW_API_KEY, "apiKeyHint": key_hint(NEW_API_KEY)},
            )
        },
        "eventPage": {
            "page": example(
                "One page, newest first",
                {"events": [_stock_event(), failed.to_json()], "continuationToken": None},
            )
        },
        "eventDetail": {"failed": example("A failed order.create", detail)},
        "counts": {
            "counts": example(
                "Last 24 hours",
                {
                    "integrationId": INTEGRATION_ID,
                    "counts": counts,
                    "deadLettered": 0,
                    "total": sum(counts.values()),
                    "complete": True,
                },
            )
        },
        "resubmitted": {
            "resubmitted": example(
                "Queued again", {"id": EVENT_ID, "status": "queued", "resubmissions": 1}
            )
        },
        "jobStarted": {"running": example("Started", _job("running", 100, 97, 3))},
        "job": {
            "running": example("Running", _job("running", 100, 97, 3)),
            "completed": example("Completed", _job("completed", 143, 139, 4)),
        },
        "jobCancelled": {"cancelled": example("Cancelled", _job("cancelled", 100, 97, 3))},
        "audit": {
            "trail": example(
                "Resubmissions",
                {
                    "entries": [
                        {
                            "actor": "operator:maria.ops",
                            "action": "resubmit",
                            "jobId": None,
                            "eventIds": [EVENT_ID],
                            "at": "2025-05-01T10:15:00.000Z",
                        }
                    ]
                },
            )
        },
        "healthy": {"ok": example("Healthy", {"status": "ok", "dependencies": {"storage": "ok"}})},
        "degraded": {
            "degraded": example(
                "Storage unreachable",
                {"status": "degraded", "dependencies": {"storage": "unavailable (TimeoutError)"}},
            )
        },
    }


def _raised(call: Any) -> Json:
    try:
        call()
    except RequestError as error:
        return error.to_json()
    raise AssertionError("expected a RequestError")


async def _outage(services: Any, request: http_api.ApiRequest) -> http_api.ApiResponse:
    raise TransientError("storage unreachable")


async def _staged_outage() -> Json:
    """What a route answers when storage is down (the shared error mapping's own body)."""
    answer = await http_api.guarded(_outage)(cast(Any, None), http_api.ApiRequest("GET", {}))
    return dict(answer.body)


def error_examples() -> dict[str, dict[str, Json]]:
    """Per status, the error bodies the product really answers."""
    bad_quantity = {"action": "inventory.set", "data": {"items": [{"sku": "X", "quantity": 4.5}]}}
    quiet = logging.getLogger(http_api.log.name)
    quiet.disabled = True  # the outage below is staged; its warning would only confuse
    try:
        unavailable: Json = asyncio.run(_staged_outage())
    finally:
        quiet.disabled = False
    return {
        "400": {
            "invalidData": example(
                "Data that does not fit the action",
                _raised(lambda: validate_inbound(bad_quantity, 1000)),
            ),
            "unknownAction": example(
                "Unknown action",
                _raised(lambda: validate_inbound({"action": "stock.set", "data": {}}, 1000)),
            ),
            "notJson": example(
                "Not JSON", _raised(lambda: check_body(b"{", "application/json", 1_048_576))
            ),
        },
        "401": {
            "missing": example("No key or token", _raised(lambda: bearer_token(None))),
        },
        "403": {
            "disabled": example(
                "Disabled integration",
                Forbidden(
                    "Integration 'My ERP Sync' is disabled; an admin can enable it again."
                ).to_json(),
            ),
            "role": example(
                "Role too low",
                Forbidden("This needs the admin role; your token has reader.").to_json(),
            ),
        },
        "404": {
            "integration": example(
                "Unknown integration", NotFound("No integration with id 'int_0000'.").to_json()
            ),
        },
        "409": {
            "notFailed": example(
                "Not a failed event",
                Conflict(
                    f"Event {EVENT_ID} is success; only failed events can be resubmitted."
                ).to_json(),
            ),
        },
        "413": {
            "tooLarge": example(
                "Body too large",
                _raised(lambda: check_body(b" " * 1_048_577, "application/json", 1_048_576)),
            ),
        },
        "415": {
            "notJson": example(
                "Not JSON",
                _raised(lambda: check_body(b"a=1", "application/x-www-form-urlencoded", 10)),
            ),
        },
        "422": {
            "keyReused": example(
                "Idempotency-Key reused with another body",
                Unprocessable(
                    "Idempotency-Key 'erp-7731' was already used with a different body "
                    f"(event {EVENT_ID}). Use a new key for new data."
                ).to_json(),
            ),
        },
        "429": {
            "throttled": example(
                "Too many requests",
                Throttled(
                    "Too many requests for this integration; retry after 1 second."
                ).to_json(),
            ),
        },
        "503": {"unavailable": example("A dependency is briefly unavailable", unavailable)},
    }


# --- paths -----------------------------------------------------------------------------------
ERRORS = {
    "400": ("BadRequest", "The body or a field is not valid; `details` names each problem."),
    "401": ("Unauthorized", "The key or token is missing, malformed or unknown."),
    "403": ("Forbidden", "A disabled integration, or a token whose role is too low."),
    "404": ("NotFound", "No such integration, event or job."),
    "409": ("Conflict", "The request conflicts with the record's state."),
    "413": ("PayloadTooLarge", "The body or its item count is over the limit; split it."),
    "415": ("UnsupportedMediaType", "The body is not `application/json`."),
    "422": ("Unprocessable", "The Idempotency-Key was already used with a different body."),
    "429": ("TooManyRequests", "Throttled; retry after `Retry-After` seconds."),
    "503": (
        "Unavailable",
        "A dependency is briefly unavailable; retry with the same Idempotency-Key.",
    ),
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def response_components(errors: dict[str, dict[str, Json]]) -> Json:
    components: Json = {}
    for status, (name, description) in ERRORS.items():
        component: Json = {
            "description": description,
            "content": {"application/json": {"schema": ref("Error"), "examples": errors[status]}},
        }
        if status in ("429", "503"):
            component["headers"] = RETRY_AFTER
        components[name] = component
    return components


def json_content(schema: str, examples: Json) -> Json:
    return {"application/json": {"schema": ref(schema), "examples": examples}}


ROLE_WORDS = {
    "reader": "Role: **reader** (any management token).",
    "operator": "Role: **operator** or admin.",
    "admin": "Role: **admin**.",
}


def operation(
    operation_id: str,
    tag: str,
    summary: str,
    description: str,
    *,
    role: str | None,
    ok: tuple[str, str, Json],
    errors: str = "",
    body: tuple[str, Json, bool] | None = None,
    params: tuple[str, ...] = (),
) -> Json:
    """`errors` lists the error statuses the route can answer ("400 401 403")."""
    if role:
        description = f"{description}\n\n{ROLE_WORDS[role]}"
    op: Json = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
    }
    if role:
        op["x-required-role"] = role
        op["security"] = [{"managementToken": []}]
        params = (*params, "Actor") if role != "reader" else params
    if params:
        op["parameters"] = [{"$ref": f"#/components/parameters/{name}"} for name in params]
    if body:
        schema, examples, required = body
        op["requestBody"] = {"required": required, "content": json_content(schema, examples)}
    status, ok_description, content = ok
    op["responses"] = {status: {"description": ok_description, "content": content}}
    for code in errors.split():
        op["responses"][code] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    return op


def paths(ex: dict[str, Json]) -> Json:
    reference_examples = {
        name: example(f"{name} (as in the Custom Inbound API reference)", body)
        for name, body in INBOUND_EXAMPLES.items()
    }
    public: list[Json] = [{}]
    return {
        "/integrations/custom/inbound": {
            "post": operation(
                "pushEvent",
                "inbound",
                "Push one change (an action) into the platform",
                "Validates, records the event as `queued` and enqueues it, then answers `202` "
                "with the `messageId` (the event's id). Processing is asynchronous: follow the "
                "event with `GET /v1/integrations/{id}/events/{eventId}`. Events of one "
                "integration are applied in order (per entity with `orderingScope: entity`).",
                role=None,
                ok=(
                    "202",
                    "Accepted and recorded. `Idempotent-Replayed: true` when an earlier request "
                    "with the same Idempotency-Key and body answered.",
                    json_content("Accepted", ex["accepted"]),
                ),
                errors="400 401 403 413 415 422 429 503",
                body=("InboundRequest", reference_examples, True),
                params=("IdempotencyKey",),
            )
            | {"security": [{"integrationApiKey": []}]},
        },
        "/v1/integrations": {
            "get": operation(
                "listIntegrations",
                "integrations",
                "List integrations",
                "Every integration, oldest first. Keys are never shown, only their hint.",
                role="reader",
                ok=(
                    "200",
                    "The integrations.",
                    json_content("IntegrationList", ex["integrationList"]),
                ),
                errors="401 403 503",
            ),
            "post": operation(
                "createIntegration",
                "integrations",
                "Create an integration and its API key",
                "Creates a custom integration and its API key (prefix `avvyr_int_live_`). "
                "The key is in this answer only: store it now. `POST /v1/integrations/` (with "
                "the trailing slash) is the same route.",
                role="admin",
                ok=(
                    "201",
                    "Created, with the key.",
                    json_content("CreatedIntegration", ex["created"]),
                ),
                errors="400 401 403 415 503",
                body=(
                    "CreateIntegration",
                    {
                        "reference": example(
                            "As in the reference",
                            {"service": "custom", "enabled": True, "name": "My ERP Sync"},
                        ),
                        "perEntity": example(
                            "Ordered per entity",
                            {"service": "custom", "name": "WMS stock", "orderingScope": "entity"},
                        ),
                    },
                    True,
                ),
            ),
        },
        "/v1/integrations/{id}": {
            "parameters": [{"$ref": "#/components/parameters/IntegrationId"}],
            "get": operation(
                "getIntegration",
                "integrations",
                "Read an integration",
                "The integration, without its key.",
                role="reader",
                ok=("200", "The integration.", json_content("Integration", ex["integration"])),
                errors="401 403 404 503",
            ),
            "patch": operation(
                "updateIntegration",
                "integrations",
                "Change an integration",
                "Changes `enabled`, `name`, `orderingScope` or the retry overrides; fields left "
                "out stay as they are. A disabled integration's key gets 403 on the inbound "
                "route; its queued events are still delivered.",
                role="admin",
                ok=("200", "The changed integration.", json_content("Integration", ex["disabled"])),
                errors="400 401 403 404 409 415 503",
                body=(
                    "PatchIntegration",
                    {
                        "disable": example("Disable", {"enabled": False}),
                        "rename": example("Rename", {"name": "ERP (production)"}),
                        "retry": example(
                            "Retry overrides",
                            {"retry": {"maxAttempts": 12, "baseDelaySeconds": 30}},
                        ),
                    },
                    True,
                ),
            ),
        },
        "/v1/integrations/{id}/regenerate-key": {
            "parameters": [{"$ref": "#/components/parameters/IntegrationId"}],
            "post": operation(
                "regenerateKey",
                "integrations",
                "Replace the API key",
                "Makes a new key and answers it once; the old key stops working at once. "
                "Another change to the integration at the same moment can make it 409: "
                "send it again.",
                role="admin",
                ok=("200", "The new key.", json_content("NewApiKey", ex["newKey"])),
                errors="401 403 404 409 503",
            ),
        },
        "/v1/integrations/events/filter": {
            "post": operation(
                "filterEvents",
                "events",
                "Find events",
                "Events of one integration, newest first, by status, action, entity id (exact, "
                "or `search` for part of it), dead-lettered, and creation time; pages of "
                "`limit` (1–500, default 50) with a `continuationToken`.",
                role="reader",
                ok=("200", "One page of events.", json_content("EventPage", ex["eventPage"])),
                errors="400 401 403 404 415 503",
                body=(
                    "EventFilter",
                    {
                        "reference": example(
                            "As in the reference",
                            {"integrationId": "integration-id", "status": "failed"},
                        ),
                        "window": example(
                            "One action in a time window",
                            {
                                "integrationId": INTEGRATION_ID,
                                "action": "order.create",
                                "from": "2025-05-01T00:00:00Z",
                                "to": "2025-05-02T00:00:00Z",
                                "limit": 100,
                            },
                        ),
                    },
                    True,
                ),
            ),
        },
        "/v1/integrations/events/counts": {
            "post": operation(
                "countEvents",
                "events",
                "Count events per status",
                "How many events of one integration are in each status, in a time window "
                "(at most 20,000 events are read; `complete` says whether all were).",
                role="reader",
                ok=("200", "The counts.", json_content("EventCounts", ex["counts"])),
                errors="400 401 403 404 415 503",
                body=(
                    "CountsRequest",
                    {
                        "lastDay": example(
                            "One day",
                            {"integrationId": INTEGRATION_ID, "from": "2025-05-01T00:00:00Z"},
                        )
                    },
                    True,
                ),
            ),
        },
        "/v1/integrations/{id}/events/{eventId}": {
            "parameters": [
                {"$ref": "#/components/parameters/IntegrationId"},
                {"$ref": "#/components/parameters/EventId"},
            ],
            "get": operation(
                "getEvent",
                "events",
                "Read one event with its attempts",
                "The event, its masked payload, and every attempt with its communication log "
                "(each platform call; credentials removed, personal data masked).",
                role="reader",
                ok=("200", "The event.", json_content("EventDetail", ex["eventDetail"])),
                errors="401 403 404 503",
            ),
        },
        "/v1/integrations/{id}/events/{eventId}/retry": {
            "parameters": [
                {"$ref": "#/components/parameters/IntegrationId"},
                {"$ref": "#/components/parameters/EventId"},
            ],
            "post": operation(
                "retryEvent",
                "events",
                "Resubmit one failed event",
                "Queues a failed event again (a fresh set of attempts); audited. Only failed "
                "events can be resubmitted: any other status is 409.",
                role="operator",
                ok=("202", "Queued again.", json_content("Resubmitted", ex["resubmitted"])),
                errors="401 403 404 409 503",
            ),
        },
        "/v1/integrations/{id}/events/retry": {
            "parameters": [{"$ref": "#/components/parameters/IntegrationId"}],
            "post": operation(
                "retryEvents",
                "events",
                "Resubmit every failed event matching a filter",
                "Starts a bulk resubmission job and answers it after its first page; it goes "
                "on in the background. Follow it with `GET .../jobs/{jobId}`, stop it with "
                "`POST .../jobs/{jobId}/cancel`. An empty body matches every event.",
                role="operator",
                ok=("202", "The job, started.", json_content("Job", ex["jobStarted"])),
                errors="400 401 403 404 415 503",
                body=(
                    "BulkRetryRequest",
                    {
                        "failed": example("Every failed event", {"status": "failed"}),
                        "oneAction": example(
                            "Failed price updates since a time",
                            {
                                "status": "failed",
                                "action": "price.set",
                                "from": "2025-05-01T00:00:00Z",
                            },
                        ),
                    },
                    False,
                ),
            ),
        },
        "/v1/integrations/{id}/jobs/{jobId}": {
            "parameters": [
                {"$ref": "#/components/parameters/IntegrationId"},
                {"$ref": "#/components/parameters/JobId"},
            ],
            "get": operation(
                "getJob",
                "jobs",
                "Read a bulk resubmission job",
                "Its status and progress.",
                role="reader",
                ok=("200", "The job.", json_content("Job", ex["job"])),
                errors="401 403 404 503",
            ),
        },
        "/v1/integrations/{id}/jobs/{jobId}/cancel": {
            "parameters": [
                {"$ref": "#/components/parameters/IntegrationId"},
                {"$ref": "#/components/parameters/JobId"},
            ],
            "post": operation(
                "cancelJob",
                "jobs",
                "Cancel a bulk resubmission job",
                "Stops a running job; events already resubmitted stay queued. Cancelling a "
                "finished job changes nothing and answers it as it is. Audited.",
                role="operator",
                ok=("200", "The job.", json_content("Job", ex["jobCancelled"])),
                errors="401 403 404 503",
            ),
        },
        "/v1/integrations/{id}/audit": {
            "parameters": [{"$ref": "#/components/parameters/IntegrationId"}],
            "get": operation(
                "getAuditTrail",
                "integrations",
                "Who resubmitted what",
                "The integration's audit trail: resubmissions, bulk jobs and cancels, with the "
                "actor (the token's role and `X-Actor`).",
                role="reader",
                ok=("200", "The trail.", json_content("AuditTrail", ex["audit"])),
                errors="401 403 404 503",
            ),
        },
        "/health": {
            "get": operation(
                "health",
                "operations",
                "Liveness and dependencies",
                "No token needed.",
                role=None,
                ok=("200", "Healthy.", json_content("Health", ex["healthy"])),
            )
            | {"security": public}
        },
        "/dashboard": {
            "get": operation(
                "dashboard",
                "operations",
                "The operations web page",
                "An HTML page for operations. The page itself needs no token; it asks for a "
                "management token (reader or higher), or takes it from `#token=` in the URL, "
                "and calls the read routes with it.",
                role=None,
                ok=(
                    "200",
                    "The page.",
                    {"text/html": {"schema": {"type": "string"}}},
                ),
            )
            | {"security": public},
        },
        "/dashboard/{file}": {
            "parameters": [
                {
                    "name": "file",
                    "in": "path",
                    "required": True,
                    "description": "One of the page's own files; any other name is 404.",
                    "schema": {"type": "string", "enum": sorted(http_api.DASHBOARD_FILES)},
                    "example": "dashboard.js",
                }
            ],
            "get": operation(
                "dashboardFile",
                "operations",
                "The operations page's stylesheet and script",
                "The files `GET /dashboard` loads. Sent with `Cache-Control: no-cache` and an "
                "`ETag`: the browser checks them again on every load, so the page never runs "
                "with a script from another version. No token needed.",
                role=None,
                ok=(
                    "200",
                    "The file.",
                    {
                        media.split(";")[0]: {"schema": {"type": "string"}}
                        for media in http_api.DASHBOARD_FILES.values()
                    },
                ),
                errors="404",
            )
            | {"security": public},
        },
        "/openapi.json": {
            "get": operation(
                "openapi",
                "operations",
                "This document",
                "The OpenAPI 3.1 description of every public route. No token needed.",
                role=None,
                ok=("200", "The document.", {"application/json": {"schema": {"type": "object"}}}),
            )
            | {"security": public},
        },
    }


def _parameters() -> Json:
    def in_path(name: str, description: str, value: str) -> Json:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "description": description,
            "schema": {"type": "string", "minLength": 1},
            "example": value,
        }

    return {
        "IntegrationId": in_path("id", "The integration's id.", INTEGRATION_ID),
        "EventId": in_path("eventId", "The event's id (the `messageId`).", EVENT_ID),
        "JobId": in_path("jobId", "The bulk resubmission job's id.", JOB_ID),
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "Your key for this request (at most 200 characters). The same key with the "
                "same body answers the first `messageId` instead of making a second event; "
                "the same key with a different body is refused with 422."
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            "example": "erp-7731",
        },
        "Actor": {
            "name": "X-Actor",
            "in": "header",
            "required": False,
            "description": "Who is acting, for the audit trail (at most 100 characters kept).",
            "schema": {"type": "string"},
            "example": "maria.ops",
        },
    }


# --- the document --------------------------------------------------------------------------
def build() -> Json:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    ex = response_examples()
    document_paths = paths(ex)
    document_paths["/health"]["get"]["responses"]["503"] = {
        "description": "A dependency is unavailable.",
        "content": json_content("Health", ex["degraded"]),
    }
    document_paths["/dashboard/{file}"]["get"]["responses"]["304"] = {
        "description": "Unchanged since the `ETag` sent in `If-None-Match`; no body.",
    }
    schemas = {**model_schemas(), **inbound_schemas(), **response_schemas()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Integrations API",
            "version": version,
            "summary": "Push business changes into the commerce platform and operate delivery.",
            "description": (
                "External systems push inventory, orders, products, prices and customers "
                "with `POST /integrations/custom/inbound` and an integration API key, and get "
                "`202` with a `messageId`; from then on the platform owns the delivery. "
                "Operators and platform engineers use the management routes with a "
                "management token; each route names the role it needs (reader < operator < "
                "admin: a higher role may do everything a lower one may).\n\n"
                'Errors are JSON `{"error", "message", "details"?}`: `message` is a sentence '
                "a person can act on, `details` has one `{path, message}` per field problem."
            ),
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "servers": [{"url": "/", "description": "This host"}],
        "tags": [
            {"name": "inbound", "description": "External systems push changes."},
            {"name": "integrations", "description": "Integrations, their keys, the audit trail."},
            {"name": "events", "description": "Find events, see their attempts, resubmit."},
            {"name": "jobs", "description": "Bulk resubmission jobs: progress and cancel."},
            {"name": "operations", "description": "Health, the dashboard, this document."},
        ],
        "paths": document_paths,
        "components": {
            "securitySchemes": {
                "integrationApiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": f"{API_KEY_PREFIX}…",
                    "description": (
                        "The integration's API key, shown once when the integration is created "
                        "or its key regenerated. Valid only on the inbound route."
                    ),
                },
                "managementToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "A management token; each has one role. `reader`: read integrations, "
                        "events, jobs and the audit trail. `operator`: reader, plus resubmit "
                        "events and start or cancel bulk jobs. `admin`: operator, plus create "
                        "and change integrations and regenerate keys. Too low a role gets 403, "
                        "an unknown token 401. Send `X-Actor` so the audit trail names you."
                    ),
                },
            },
            "schemas": dict(sorted(schemas.items())),
            "responses": response_components(error_examples()),
            "parameters": _parameters(),
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write shared/api/web/openapi.json.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run python -m scripts.build_openapi", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
