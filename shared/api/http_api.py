"""The HTTP routes' logic, free of any SDK: an ApiRequest in, an ApiResponse out.

`function_app.py` turns the Functions request into an ApiRequest and the answer
back; everything else (auth, roles, parsing, error mapping) happens here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.domain.errors import (
    NotFound,
    RequestError,
    StaleWrite,
    TransientError,
    UnsupportedMediaType,
    ValidationFailed,
)
from shared.domain.models import Role

if TYPE_CHECKING:
    from shared.bootstrap import Container

log = logging.getLogger("integrations.http")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    route_params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def json_bytes(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


Handler = Callable[["Container", ApiRequest], Awaitable[ApiResponse]]


def guarded(handler: Handler) -> Handler:
    """Known errors become their status with a sentence; a dependency outage a 503."""

    async def run(services: Container, request: ApiRequest) -> ApiResponse:
        try:
            return await handler(services, request)
        except RequestError as error:
            headers = {}
            if error.status == 429:
                headers["Retry-After"] = str(getattr(error, "retry_after_seconds", 1))
            return ApiResponse(error.status, error.to_json(), headers)
        except StaleWrite:
            body = {
                "error": "conflict",
                "message": "The record changed while this request ran; send it again.",
            }
            return ApiResponse(409, body)
        except TransientError as error:
            log.warning("dependency unavailable: %s", error)
            body = {
                "error": "unavailable",
                "message": "The service is briefly unavailable. Retry in a few seconds; "
                "send the same Idempotency-Key again so a request that did get through "
                "is not recorded twice.",
            }
            return ApiResponse(503, body, {"Retry-After": "5"})

    return run


def json_body(request: ApiRequest) -> Any:
    """The JSON body of a management request; empty means {}."""
    if not request.body.strip():
        return {}
    media = (request.header("content-type") or "application/json").split(";")[0].strip()
    if media != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed("The body is not valid JSON.") from exc


def actor(services: Container, request: ApiRequest, needed: Role) -> str:
    # With the services, on first use: importing the app stays free of the settings' and
    # models' libraries (a cold start pays for them only when a request arrives).
    from shared.services.auth import require_role

    role = require_role(services.settings, request.header("authorization"), needed)
    person = (request.header("x-actor") or "").strip()[:100]
    return f"{role.value}:{person}" if person else role.value


@guarded
async def inbound(services: Container, request: ApiRequest) -> ApiResponse:
    from shared.services.inbound import InboundRequest  # with the service, on first use

    accepted = await services.inbound.accept(
        InboundRequest(
            authorization=request.header("authorization"),
            content_type=request.header("content-type"),
            body=request.body,
            idempotency_key=request.header("idempotency-key"),
        )
    )
    headers = {"Idempotent-Replayed": "true"} if accepted.replayed else {}
    return ApiResponse(202, {"messageId": accepted.message_id}, headers)


@guarded
async def integrations(services: Container, request: ApiRequest) -> ApiResponse:
    if request.method == "GET":
        actor(services, request, Role.READER)
        return ApiResponse(200, {"integrations": await services.management.list()})
    actor(services, request, Role.ADMIN)
    return ApiResponse(201, await services.management.create(json_body(request)))


@guarded
async def integration(services: Container, request: ApiRequest) -> ApiResponse:
    integration_id = request.route_params["id"]
    if request.method == "PATCH":
        actor(services, request, Role.ADMIN)
        changed = await services.management.patch(integration_id, json_body(request))
        return ApiResponse(200, changed)
    actor(services, request, Role.READER)
    return ApiResponse(200, (await services.management.get(integration_id)).to_json())


@guarded
async def regenerate_key(services: Container, request: ApiRequest) -> ApiResponse:
    actor(services, request, Role.ADMIN)
    return ApiResponse(200, await services.management.regenerate_key(request.route_params["id"]))


@guarded
async def filter_events(services: Container, request: ApiRequest) -> ApiResponse:
    actor(services, request, Role.READER)
    return ApiResponse(200, await services.queries.filter(json_body(request)))


@guarded
async def count_events(services: Container, request: ApiRequest) -> ApiResponse:
    actor(services, request, Role.READER)
    return ApiResponse(200, await services.queries.counts(json_body(request)))


@guarded
async def event_detail(services: Container, request: ApiRequest) -> ApiResponse:
    actor(services, request, Role.READER)
    params = request.route_params
    return ApiResponse(200, await services.queries.detail(params["id"], params["eventId"]))


@guarded
async def retry_event(services: Container, request: ApiRequest) -> ApiResponse:
    who = actor(services, request, Role.OPERATOR)
    params = request.route_params
    return ApiResponse(
        202, await services.resubmission.resubmit_one(params["id"], params["eventId"], who)
    )


@guarded
async def bulk_retry(services: Container, request: ApiRequest) -> ApiResponse:
    who = actor(services, request, Role.OPERATOR)
    job = await services.resubmission.start_bulk(
        request.route_params["id"], json_body(request), who
    )
    return ApiResponse(202, job)


@guarded
async def job(services: Container, request: ApiRequest) -> ApiResponse:
    params = request.route_params
    if request.method == "POST":
        who = actor(services, request, Role.OPERATOR)
        return ApiResponse(
            200, await services.resubmission.cancel(params["id"], params["jobId"], who)
        )
    actor(services, request, Role.READER)
    found = await services.resubmission.job(params["id"], params["jobId"])
    return ApiResponse(200, found.to_json())


@guarded
async def audit(services: Container, request: ApiRequest) -> ApiResponse:
    actor(services, request, Role.READER)
    await services.management.get(request.route_params["id"])
    trail = await services.jobs.audit_trail(request.route_params["id"])
    return ApiResponse(200, {"entries": trail})


async def health(services: Container, request: ApiRequest) -> ApiResponse:
    checks: dict[str, str] = {}
    try:
        await services.storage.ping()
        checks["storage"] = "ok"
    except Exception as exc:  # health reports any failure instead of raising it
        checks["storage"] = f"unavailable ({type(exc).__name__})"
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "degraded", "dependencies": checks}
    return ApiResponse(200 if healthy else 503, body)


WEB = Path(__file__).resolve().parent / "web"
# The page's own files under /dashboard/ and their types; no other name is served.
DASHBOARD_FILES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}
PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


async def dashboard(services: Container, request: ApiRequest) -> ApiResponse:
    """The operations page; it asks for a token itself and then calls the read API."""
    page = (WEB / "dashboard.html").read_text()
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    return ApiResponse(200, page, headers | PAGE_HEADERS)


@guarded
async def dashboard_file(services: Container, request: ApiRequest) -> ApiResponse:
    """The page's stylesheet or script. Browsers check them again on every load
    (`no-cache`, answered 304 while the `ETag` holds), so a page never runs with a
    script older or newer than the one deployed with it."""
    name = request.route_params.get("file", "")
    if name not in DASHBOARD_FILES:
        raise NotFound(f"The dashboard has no file {name[:100]!r}.")
    content = (WEB / name).read_bytes()
    tag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    headers = {"Content-Type": DASHBOARD_FILES[name], "Cache-Control": "no-cache", "ETag": tag}
    held = (request.header("if-none-match") or "").split(",")
    if {tag, "*"} & {value.strip().removeprefix("W/") for value in held}:
        return ApiResponse(304, b"", headers | PAGE_HEADERS)
    return ApiResponse(200, content, headers | PAGE_HEADERS)


async def openapi(services: Container, request: ApiRequest) -> ApiResponse:
    """OpenAPI 3.1 description of every public route."""
    return ApiResponse(200, json.loads((WEB / "openapi.json").read_text()))
