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
import copy
import json
import logging
import re
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from actions import ACTIONS
from actions.examples import REFERENCE_EXAMPLES
from shared.api import handlers, http_api, schemas
from shared.api.routes import ROUTES, Access, Route
from shared.domain.advice import advice_for
from shared.domain.audit import AuditAction, AuditEntry, AuditPage
from shared.domain.comm_log import logged_call
from shared.domain.credentials import checksum
from shared.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RequestError,
    Throttled,
    TransientError,
    Unprocessable,
)
from shared.domain.flow import FlowStep, Granularity
from shared.domain.jobs import BulkJob, JobStatus
from shared.domain.masking import mask
from shared.domain.models import (
    Attempt,
    AttemptOutcome,
    EventStatus,
    Integration,
    IntegrationEvent,
    PlatformExchange,
    Role,
)
from shared.domain.outcomes import classify
from shared.domain.tokens import TOKEN_PREFIX, ManagementToken
from shared.services.auth import API_KEY_PREFIX, bearer_token, key_hint
from shared.services.flow import Flow
from shared.services.management import IssuedKey
from shared.services.ports import EventPage
from shared.services.queries import EventCounts, EventDetail, EventFilter
from shared.services.tokens import IssuedToken
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
    models += [r.body.schema for r in ROUTES if r.body and not isinstance(r.body.schema, str)]
    models.append(EventFilter)  # the bulk retry's body is one, less the integration
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


# --- response schemas, from the answer models -------------------------------------------------
def response_schemas() -> Json:
    """Component schemas of every answer, exactly as the API serializes them."""
    answers: list[type[schemas.Answer]] = [schemas.Error, schemas.Health]
    answers += [route.response for route in ROUTES if route.response]
    unique = list(dict.fromkeys(answers))
    _, generated = models_json_schema([(m, "serialization") for m in unique], ref_template=REF)
    found: Json = _strip_property_titles(generated["$defs"])
    for schema in found.values():
        if schema.get("type") == "object":
            schema.pop("additionalProperties", None)  # answers may gain fields
    found["ApiKey"] = {"type": "string", "pattern": f"^{API_KEY_PREFIX}"}
    for name in ("CreatedIntegration", "NewApiKey"):
        found[name]["properties"]["apiKey"] = {
            **ref("ApiKey"),
            "description": "Shown this once: store it now.",
        }
    return found


# --- examples, made by the product's own code -----------------------------------------------
# The inbound bodies exactly as custom-inbound-api.txt shows them.
INBOUND_EXAMPLES: dict[str, Json] = dict(REFERENCE_EXAMPLES)

T0 = datetime(2025, 5, 1, 10, 0, 0, tzinfo=UTC)
INTEGRATION_ID = "int_3f9a1c2b4d5e6f70"
EVENT_ID = "01968b49-ed00-7d41-9a2b-3c4d5e6f7a8b"  # UUIDv7 of T0
OTHER_EVENT_ID = "01968b49-fca0-7e02-8c11-0a1b2c3d4e5f"  # T0 + 4 s
JOB_ID = "job_5a1b2c3d4e5f6a7b"


def _api_key(random_part: str) -> str:
    """A key of the shape the product issues (prefix, id, random part, checksum), with a
    checksum that fails: an example no secret scanner takes for a leaked key."""
    return f"{API_KEY_PREFIX}{INTEGRATION_ID}_{random_part}_000000"


API_KEY = _api_key("q7Vb2mXr9TfLc0WzA4sKd1HnPy6EuJ8oGi3RtYbNvQa")
NEW_API_KEY = _api_key("M2cTz8HwQ1rVx5LpDk9JfYa0NsGe4BuO7iWmEt3RqZb")


def example(summary: str, value: Any) -> Json:
    return {"summary": summary, "value": value}


def _integration(**changes: Any) -> Integration:
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
    return integration


def _rotated_with_grace() -> Integration:
    """The integration just after `{"graceSeconds": 3600}`: the old key still works."""
    return _integration(
        key_hint=key_hint(NEW_API_KEY),
        previous_key_hint=key_hint(API_KEY),
        previous_key_valid_until=T0 + timedelta(days=2, hours=1),
        previous_key_last_used_at=T0 + timedelta(days=1, hours=23, minutes=58),
        updated_at=T0 + timedelta(days=2),
    )


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


def _stock_event() -> IntegrationEvent:
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
    return event


def _audit_page() -> AuditPage:
    """Three actions, newest first, and a token for the older ones."""
    admin = ("admin:ada", Role.ADMIN, "203.0.113.7")
    entries = [
        AuditEntry(
            INTEGRATION_ID,
            T0 + timedelta(minutes=20),
            AuditAction.EVENT_RESUBMITTED,
            "operator:maria.ops",
            Role.OPERATOR,
            "198.51.100.24",
            before={"status": "failed"},
            after={"status": "queued"},
            event_ids=[EVENT_ID],
        ),
        AuditEntry(
            INTEGRATION_ID,
            T0 + timedelta(minutes=15),
            AuditAction.KEY_REGENERATED,
            *admin,
            before={"keyHint": f"{API_KEY_PREFIX}…Qw7e"},
            after={
                "keyHint": f"{API_KEY_PREFIX}…J9tx",
                "graceSeconds": 3600,
                "previousKeyHint": f"{API_KEY_PREFIX}…Qw7e",
                "previousKeyValidUntil": "2025-05-01T11:15:00.000Z",
            },
        ),
        AuditEntry(
            INTEGRATION_ID,
            T0 + timedelta(minutes=10),
            AuditAction.INTEGRATION_DISABLED,
            *admin,
            before={"enabled": True, "name": "ERP"},
            after={"enabled": False, "name": "ERP (production)"},
        ),
    ]
    return AuditPage(entries, "WyJpbnRfM2Y5YTFjMmI0ZDVlNmY3MCIsIjg1MzE1NDE5OTk5OTl-YTFiMmMzZDQiXQ")


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
    return schemas.Job.of(job).to_json()


def _flow() -> Json:
    counts = [(40, 38, 0, 2, 0, 0, 0), (55, 52, 1, 1, 1, 0, 1), (12, 14, 0, 0, 0, 0, 0)]
    buckets = [
        (T0 + timedelta(minutes=n), dict(zip(FlowStep, values, strict=True)))
        for n, values in enumerate(counts)
    ]
    totals = {step: sum(bucket[step] for _, bucket in buckets) for step in FlowStep}
    end = T0 + timedelta(minutes=3)
    chart = Flow(INTEGRATION_ID, Granularity.MINUTE, T0, end, buckets, totals)
    return schemas.FlowChart.of(chart).to_json()


def _token(*, revoked: bool = False) -> IssuedToken:
    token = ManagementToken(
        id="tok_5a1b2c3d4e5f6a7b",
        name="maria.ops",
        role=Role.OPERATOR,
        secret_hash="",
        created_at=T0,
        created_by="admin (MANAGEMENT_TOKEN setting)",
        integration_ids=[INTEGRATION_ID],
        expires_at=T0 + timedelta(days=90),
        last_used_at=T0 + timedelta(hours=2),
    )
    if revoked:
        token.revoked_at, token.revoked_by = T0 + timedelta(days=3), "anna@contoso.com"
    body = f"{TOKEN_PREFIX}{token.id}_Xq3vB8kLmN2pR7sT9wY4zA6cD1eF5gH0jK8lM3nP2qR"
    # An example whose checksum does not hold (the real one reversed): a scanner takes
    # a secret whose checksum holds for a leaked one (tests/unit/test_repository_secrets).
    return IssuedToken(token, f"{body}_{checksum(body)[::-1]}")


def response_examples() -> dict[str, Json]:
    failed, attempt = _failed_order()
    found = EventDetail(failed, mask(failed.payload), [attempt], advice_for(failed))
    counts = {status: 0 for status in EventStatus}
    counts.update({EventStatus.SUCCESS: 1250, EventStatus.FAILED: 3, EventStatus.QUEUED: 2})
    integration = schemas.Integration.of(
        _integration(key_last_used_at=T0 + timedelta(days=1, minutes=42))
    ).to_json()
    return {
        "accepted": {"accepted": example("Accepted", {"messageId": EVENT_ID})},
        "integration": {"integration": example("An integration", integration)},
        "integrationList": {
            "list": example(
                "Every integration", schemas.IntegrationList.of([_integration()]).to_json()
            )
        },
        "created": {
            "created": example(
                "Created; store the key now",
                schemas.CreatedIntegration.issued(IssuedKey(_integration(), API_KEY)).to_json(),
            )
        },
        "disabled": {
            "disabled": example(
                "Disabled", schemas.Integration.of(_integration(enabled=False)).to_json()
            )
        },
        "newKey": {
            "newKey": example(
                "The new key; the old one stopped working",
                schemas.NewApiKey.of(
                    IssuedKey(_integration(key_hint=key_hint(NEW_API_KEY)), NEW_API_KEY)
                ).to_json(),
            ),
            "withGrace": example(
                "The new key; the old one works for another hour",
                schemas.NewApiKey.of(IssuedKey(_rotated_with_grace(), NEW_API_KEY)).to_json(),
            ),
        },
        "eventPage": {
            "page": example(
                "One page, newest first",
                schemas.EventPage.of(EventPage([_stock_event(), failed], None)).to_json(),
            )
        },
        "eventDetail": {
            "failed": example("A failed order.create", schemas.EventDetail.detail(found).to_json())
        },
        "counts": {
            "counts": example(
                "Last 24 hours",
                schemas.EventCounts.of(EventCounts(INTEGRATION_ID, counts, 0, True)).to_json(),
            )
        },
        "flow": {"lastMinutes": example("Three minutes", _flow())},
        "retention": {
            "defaults": example(
                "The defaults", {"eventDays": 30.0, "auditDays": 365.0, "versionDays": 365.0}
            )
        },
        "erasure": {
            "done": example(
                "Erased",
                {
                    "eventsRewritten": 4,
                    "attemptsRewritten": 2,
                    "blobsRewritten": 1,
                    "otherRowsRewritten": 0,
                    "otherRowsDeleted": 1,
                    "integrationsScanned": 3,
                    "eventsScanned": 5120,
                    "complete": True,
                    "fingerprints": {"email": "3f1c0a9b2d4e"},
                },
            )
        },
        "sentMessage": {
            "failed": example(
                "Rejected by the platform: fix the data and send it again",
                schemas.SentMessage.of(failed).to_json(),
            ),
            "applied": example("Applied", schemas.SentMessage.of(_stock_event()).to_json()),
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
                "A page of the trail, newest first", schemas.AuditTrail.of(_audit_page()).to_json()
            )
        },
        "me": {
            "operator": example(
                "A named operator token limited to one integration",
                {"role": "operator", "actor": "maria.ops", "integrationIds": [INTEGRATION_ID]},
            ),
            "admin": example(
                "The first admin, from the settings",
                {
                    "role": "admin",
                    "actor": "admin (MANAGEMENT_TOKEN setting)",
                    "integrationIds": None,
                },
            ),
        },
        "createdToken": {
            "created": example(
                "Created; store the token now", schemas.CreatedToken.issued(_token()).to_json()
            )
        },
        "tokenList": {
            "list": example(
                "Every token, without secrets", schemas.TokenList.of([_token().token]).to_json()
            )
        },
        "revokedToken": {
            "revoked": example("Revoked", schemas.Token.of(_token(revoked=True).token).to_json())
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
        return _body(error)
    raise AssertionError("expected a RequestError")


def _body(error: RequestError) -> Json:
    return schemas.Error.of(error).to_json()


def error_examples() -> dict[str, dict[str, Json]]:
    """Per status, the error bodies the product really answers."""
    bad_quantity = {"action": "inventory.set", "data": {"items": [{"sku": "X", "quantity": 4.5}]}}
    quiet = logging.getLogger(http_api.log.name)
    quiet.disabled = True  # the outage below is staged; its warning would only confuse
    try:
        # what a route answers when storage is down: the shared error mapping's own body
        unavailable: Json = http_api.error_answer(TransientError("storage unreachable")).body
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
                _body(
                    Forbidden(
                        "Integration 'My ERP Sync' is disabled; an admin can enable it again."
                    )
                ),
            ),
            "role": example(
                "Role too low",
                _body(Forbidden("This needs the admin role; your token has reader.")),
            ),
        },
        "404": {
            "integration": example(
                "Unknown integration", _body(NotFound("No integration with id 'int_0000'."))
            ),
        },
        "409": {
            "notFailed": example(
                "Not a failed event",
                _body(
                    Conflict(f"Event {EVENT_ID} is success; only failed events can be resubmitted.")
                ),
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
                _body(
                    Unprocessable(
                        "Idempotency-Key 'erp-7731' was already used with a different body "
                        f"(event {EVENT_ID}). Use a new key for new data."
                    )
                ),
            ),
        },
        "429": {
            "throttled": example(
                "Too many requests",
                _body(Throttled("Too many requests for this integration; retry after 1 second.")),
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
    Role.READER: "Role: **reader** (any management token).",
    Role.OPERATOR: "Role: **operator** or admin.",
    Role.ADMIN: "Role: **admin**.",
}


@dataclass(frozen=True)
class Prose:
    """What a person reads about a route; everything else comes from the route table."""

    summary: str
    description: str
    ok: str  # what the success answer means
    examples: str | None = None  # the key of its answer's examples
    body_examples: Json = field(default_factory=dict)
    content: Json | None = None  # a non-JSON answer's media types


def prose(ex: dict[str, Json]) -> dict[str, Prose]:
    return {
        "pushEvent": Prose(
            "Push one change (an action) into the platform",
            "Validates, records the event as `queued` and enqueues it, then answers `202` "
            "with the `messageId` (the event's id). Processing is asynchronous: follow the "
            "event with `GET /v1/integrations/{id}/events/{eventId}`. Events of one "
            "integration are applied in order (per entity with `orderingScope: entity`).",
            "Accepted and recorded. `Idempotent-Replayed: true` when an earlier request "
            "with the same Idempotency-Key and body answered.",
            "accepted",
            {
                name: example(f"{name} (as in the Custom Inbound API reference)", body)
                for name, body in INBOUND_EXAMPLES.items()
            },
        ),
        "getSentMessage": Prose(
            "What became of a message you sent",
            "The sending system asks about one of its own messages with the same "
            "integration's API key and the `messageId` the `202` gave: its status, attempts "
            "so far, the last error in words the data owner can act on, the platform record "
            "ids (`result`) and its times. A message of another integration is 404, as an id "
            "that never existed is, so ids cannot be probed. Throttled per integration like "
            "the inbound route, on a budget of its own (polling never slows a push).",
            "The message.",
            "sentMessage",
        ),
        "listIntegrations": Prose(
            "List integrations",
            "Every integration, oldest first. Keys are never shown, only their hint.",
            "The integrations.",
            "integrationList",
        ),
        "createIntegration": Prose(
            "Create an integration and its API key",
            "Creates a custom integration and its API key (prefix `avvyr_int_live_`). "
            "The key is in this answer only: store it now. `POST /v1/integrations/` (with "
            "the trailing slash) is the same route.",
            "Created, with the key.",
            "created",
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
        ),
        "getIntegration": Prose(
            "Read an integration", "The integration, without its key.", "The integration.",
            "integration",
        ),
        "updateIntegration": Prose(
            "Change an integration",
            "Changes `enabled`, `name`, `orderingScope` or the retry overrides; fields left "
            "out stay as they are. A disabled integration's key gets 403 on the inbound "
            "route; its queued events are still delivered.",
            "The changed integration.",
            "disabled",
            {
                "disable": example("Disable", {"enabled": False}),
                "rename": example("Rename", {"name": "ERP (production)"}),
                "retry": example(
                    "Retry overrides", {"retry": {"maxAttempts": 12, "baseDelaySeconds": 30}}
                ),
            },
        ),
        "regenerateKey": Prose(
            "Replace the API key",
            "Makes a new key and answers it once. The old key stops working at once, "
            "unless the body gives it a grace period: `{\"graceSeconds\": n}` (0 to "
            "604800, 7 days; 0 by default, and the body may be left out) keeps it working "
            "until `previousKeyValidUntil`, so the clients can switch to the new key "
            "without a refused request. Only one previous key is kept: a regeneration "
            "during a grace period ends that grace at once. The integration shows when "
            "each key was last used (`apiKeyLastUsedAt`, `previousKeyLastUsedAt`, to "
            "within 5 minutes), so you can see when no client sends the old key any more. "
            "The audit trail records the grace, never a key. Another change to the "
            "integration at the same moment can make it 409: send it again.",
            "The new key, and until when the old one works.",
            "newKey",
            {
                "atOnce": example("The old key stops working at once", {}),
                "grace": example("The old key works for another hour", {"graceSeconds": 3600}),
            },
        ),
        "getRetention": Prose(
            "How long data is kept",
            "The deployment's retention, from its `RETENTION_*` settings: final events with "
            "their payloads and communication logs, the audit trail, and what each record "
            "was last set by are purged by the maintenance timer after these many days. "
            "Queued, processing and failed events are kept until resolved, however old.",
            "The retention.",
            "retention",
        ),
        "createToken": Prose(
            "Make a named management token",
            "A token for one person or tool: a name (the audit trail names its holder by "
            "it), a role, optionally the integrations it is limited to (it then sees "
            "nothing of the others: not by id, filter, count, chart, job or trail), and "
            "optionally an expiry. The secret is in this answer only: store it now. Only "
            "its SHA-256 is kept. A token limited to integrations cannot make tokens.",
            "Made, with the secret.",
            "createdToken",
            {
                "scoped": example(
                    "An operator for one integration, for 90 days",
                    {
                        "name": "maria.ops",
                        "role": "operator",
                        "integrationIds": [INTEGRATION_ID],
                        "expiresAt": "2025-07-30T10:00:00Z",
                    },
                ),
                "reader": example("A read-only tool", {"name": "grafana", "role": "reader"}),
            },
        ),
        "listTokens": Prose(
            "List the named tokens",
            "Every named token, oldest first, without its secret: who holds it, its role "
            "and scope, when it expires, when it was last used (to within five minutes) "
            "and whether it was revoked.",
            "The tokens.",
            "tokenList",
        ),
        "revokeToken": Prose(
            "Revoke a token",
            "The token is refused from its next request on (every request reads its "
            "record). Revoking a revoked token changes nothing and answers it as it is.",
            "The revoked token.",
            "revokedToken",
        ),
        "erasePersonalData": Prose(
            "Erase a person's data",
            "Rewrites every stored payload, communication log and event view that carries "
            "the e-mail address (any letter case) or phone number (any formatting) given: "
            "each match becomes `[erased]`, and a record holding it (a customer) loses its "
            "names, phones, e-mails and address as a whole; other tables' rows holding it "
            "are rewritten or, when a key holds it, deleted; blobs likewise. Events keep "
            "their status, ids and history; an erased event retried later fails for good "
            "without a platform call. An event still `queued` or `processing` with the data "
            "makes it 409 before anything is written: try again once it has settled. "
            "Audited on the account's trail without the value. It reads every event, so "
            "it takes long with many: it is for the rare request, not for routine use.",
            "What was rewritten.",
            "erasure",
            {
                "byEmail": example("By e-mail", {"email": "customer@example.com"}),
                "both": example(
                    "By e-mail and phone",
                    {"email": "customer@example.com", "phone": "+46 70-123 45 67"},
                ),
            },
        ),
        "getAccountAuditTrail": Prose(
            "Who did what beyond one integration",
            "The audit trail of actions that belong to no single integration — tokens made "
            "and revoked, personal data erased — newest first, paged like an integration's "
            "trail.",
            "One page of the trail.",
            "audit",
        ),
        "getAuditTrail": Prose(
            "Who did what to an integration",
            "The integration's audit trail, newest first, in pages of `limit` (1–200, default "
            "50) with a `continuationToken`. One entry per management action: "
            "`integration.created`, `integration.changed` (name, ordering scope, retry), "
            "`integration.enabled`, `integration.disabled` (with any other field the same "
            "change made), `key.regenerated`, `event.resubmitted`, `events.resubmitted` (a "
            "bulk resubmission started, with its filter), `job.progressed` (the events a "
            "page of that job resubmitted) and `job.cancelled`. Each says when; who (the "
            "identity — a named token's name, the signed-in person, or the setting a token "
            "came from — with its role and the client's address); and the fields it changed, "
            "`before` and `after`. A key appears only as its hint. A `limit` that is not a "
            "whole number from 1 to 200, or a token this API did not issue, is 400.",
            "One page of the trail.",
            "audit",
        ),
        "filterEvents": Prose(
            "Find events",
            "Events of one integration, newest first, by status, action, entity id (exact, "
            "or `search` for part of it), dead-lettered, and creation time; pages of "
            "`limit` (1–500, default 50) with a `continuationToken`.",
            "One page of events.",
            "eventPage",
            {
                "reference": example(
                    "As in the reference", {"integrationId": "integration-id", "status": "failed"}
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
        ),
        "countEvents": Prose(
            "Count events per status",
            "How many events of one integration are in each status, in a time window "
            "(at most 20,000 events are read; `complete` says whether all were).",
            "The counts.",
            "counts",
            {
                "lastDay": example(
                    "One day", {"integrationId": INTEGRATION_ID, "from": "2025-05-01T00:00:00Z"}
                )
            },
        ),
        "eventFlow": Prose(
            "Chart the flow of events",
            "How many events took each step — received, resubmitted, succeeded, skipped, "
            "retry scheduled, failed, dead-lettered — per minute (windows up to six hours) "
            "or per hour (up to 31 days), for one integration or, without "
            "`integrationId`, all together. `to` defaults to now and `from` to an hour "
            "before it. Cheap however many events there are: it reads per-interval "
            "counters, never the events; the newest minute fills in within "
            "`FLOW_FLUSH_SECONDS`.",
            "The chart.",
            "flow",
            {
                "lastHour": example(
                    "The last hour, one integration", {"integrationId": INTEGRATION_ID}
                ),
                "week": example(
                    "A week, every integration, per hour",
                    {"from": "2025-04-24T10:00:00Z", "to": "2025-05-01T10:00:00Z"},
                ),
            },
        ),
        "getEvent": Prose(
            "Read one event with its attempts",
            "The event, its masked payload, and every attempt with its communication log "
            "(each platform call; credentials removed, personal data masked).",
            "The event.",
            "eventDetail",
        ),
        "retryEvent": Prose(
            "Resubmit one failed event",
            "Queues a failed event again (a fresh set of attempts); audited. Only failed "
            "events can be resubmitted: any other status is 409.",
            "Queued again.",
            "resubmitted",
        ),
        "retryEvents": Prose(
            "Resubmit every failed event matching a filter",
            "Starts a bulk resubmission job and answers it after its first page; it goes "
            "on in the background. Follow it with `GET .../jobs/{jobId}`, stop it with "
            "`POST .../jobs/{jobId}/cancel`. An empty body matches every event.",
            "The job, started.",
            "jobStarted",
            {
                "failed": example("Every failed event", {"status": "failed"}),
                "oneAction": example(
                    "Failed price updates since a time",
                    {"status": "failed", "action": "price.set", "from": "2025-05-01T00:00:00Z"},
                ),
            },
        ),
        "getJob": Prose(
            "Read a bulk resubmission job", "Its status and progress.", "The job.", "job"
        ),
        "cancelJob": Prose(
            "Cancel a bulk resubmission job",
            "Stops a running job; events already resubmitted stay queued. Cancelling a "
            "finished job changes nothing and answers it as it is. Audited.",
            "The job.",
            "jobCancelled",
        ),
        "whoAmI": Prose(
            "Who this token is",
            "The role of the token sent, and the name the audit trail gives its caller; "
            "the dashboard shows or hides actions by it.",
            "The caller.",
            "me",
        ),
        "health": Prose("Liveness and dependencies", "No token needed.", "Healthy.", "healthy"),
        "dashboard": Prose(
            "The operations web page",
            "An HTML page for operations. The page itself needs no token; it asks for a "
            "management token (reader or higher), or takes it from `#token=` in the URL, "
            "and calls the read routes with it.",
            "The page.",
            content={"text/html": {"schema": {"type": "string"}}},
        ),
        "dashboardFile": Prose(
            "The operations page's stylesheet and script",
            "The files `GET /dashboard` loads. Sent with `Cache-Control: no-cache` and an "
            "`ETag`: the browser checks them again on every load, so the page never runs "
            "with a script from another version. No token needed.",
            "The file.",
            content={
                media.split(";")[0]: {"schema": {"type": "string"}}
                for media in handlers.DASHBOARD_FILES.values()
            },
        ),
        "openapi": Prose(
            "This document",
            "The OpenAPI 3.1 description of every public route. No token needed.",
            "The document.",
            content={"application/json": {"schema": {"type": "object"}}},
        ),
    }  # fmt: skip


PATH_PARAMETERS = {
    "id": "IntegrationId",
    "eventId": "EventId",
    "jobId": "JobId",
    "messageId": "MessageId",
    "tokenId": "TokenId",
}
FILE_PARAMETER: Json = {
    "name": "file",
    "in": "path",
    "required": True,
    "description": "One of the page's own files; any other name is 404.",
    "schema": {"type": "string", "enum": sorted(handlers.DASHBOARD_FILES)},
    "example": "dashboard.js",
}


def operation(route: Route, words: Prose, ex: dict[str, Json]) -> Json:
    """One route's operation: its facts from the table, its words from `prose`."""
    description = words.description
    if route.role:
        description = f"{description}\n\n{ROLE_WORDS[route.role]}"
    op: Json = {
        "operationId": route.operation_id,
        "tags": [route.tag],
        "summary": words.summary,
        "description": description,
    }
    params: list[str] = []
    if route.access is Access.API_KEY and route.method == "POST":
        params.append("IdempotencyKey")
    params += route.query
    if params:
        op["parameters"] = [{"$ref": f"#/components/parameters/{name}"} for name in params]
    if route.body:
        content = json_content(route.body.name, words.body_examples)
        op["requestBody"] = {"required": route.body.required, "content": content}
    if route.response and words.examples:
        content = json_content(route.response.__name__, ex[words.examples])
    else:
        content = words.content or {}
    op["responses"] = {str(route.status): {"description": words.ok, "content": content}}
    for code in route.documented_errors:
        op["responses"][str(code)] = {"$ref": f"#/components/responses/{ERRORS[str(code)][0]}"}
    security = {Access.API_KEY: [{"integrationApiKey": []}], Access.PUBLIC: [{}]}
    if route.access is Access.MANAGEMENT:
        assert route.role is not None
        op["x-required-role"] = route.role.value
        op["security"] = [{"managementToken": []}]
    else:
        op["security"] = security[route.access]
    return op


def paths(ex: dict[str, Json]) -> Json:
    words = prose(ex)
    assert set(words) == {route.operation_id for route in ROUTES}, "prose and routes differ"
    found: Json = {}
    for route in ROUTES:
        path = "/" + route.path
        item = found.setdefault(path, {})
        named = re.findall(r"{(\w+)}", route.path)
        if named and "parameters" not in item:
            item["parameters"] = [
                {"$ref": f"#/components/parameters/{PATH_PARAMETERS[name]}"}
                if name in PATH_PARAMETERS
                else FILE_PARAMETER
                for name in named
            ]
        item[route.method.lower()] = operation(route, words[route.operation_id], ex)
    return found


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
        "MessageId": in_path("messageId", "The `messageId` the 202 answer gave.", EVENT_ID),
        "JobId": in_path("jobId", "The bulk resubmission job's id.", JOB_ID),
        "TokenId": in_path("tokenId", "The token's id (not its secret).", "tok_5a1b2c3d4e5f6a7b"),
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
        "AuditLimit": {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "How many entries at most (1–200, default 50); any other value is 400.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
            "example": 50,
        },
        "ContinuationToken": {
            "name": "continuationToken",
            "in": "query",
            "required": False,
            "description": (
                "The `continuationToken` of the page before, to read the next one; a token "
                "this API did not issue for this integration is 400."
            ),
            "schema": {"type": "string", "minLength": 1},
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
    components = {**model_schemas(), **inbound_schemas(), **response_schemas()}
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
            {"name": "tokens", "description": "Named management tokens, the account's trail."},
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
                        "or its key regenerated. Valid only on the inbound route (and the "
                        "sender's view of its own messages). Its shape: "
                        "`avvyr_int_live_<integration id>_<43 random>_<6 checksum>`; the "
                        "checksum (CRC32, base62) lets a secret scanner recognise a leaked "
                        "key, and a mistyped or cut-short key gets 401 at once. Keys issued "
                        "before the checksum keep working."
                    ),
                },
                "managementToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "A management token; each has one role. `reader`: read integrations, "
                        "events, jobs and the audit trail. `operator`: reader, plus resubmit "
                        "events and start or cancel bulk jobs. `admin`: operator, plus create "
                        "and change integrations, regenerate keys and manage tokens. Named "
                        "tokens (`avvyr_mgmt_…`, made with `POST /v1/tokens`) may be limited "
                        "to some integrations and expire; the first admin's token comes from "
                        "the `MANAGEMENT_TOKEN` setting. Where the Function App's Microsoft "
                        "Entra ID sign-in is on (`ENTRA_AUTH_ENABLED`), a signed-in person's "
                        "app role counts instead. Too low a role, or an integration outside "
                        "a token's scope, gets 403; an unknown, revoked or expired token 401."
                    ),
                },
            },
            "schemas": dict(sorted(components.items())),
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
