"""What each route does: read the request, make one call on the core, shape the answer.

The role check has happened before a handler runs (`shared.api.http_api.serve`, from
the route table); a management handler gets the authenticated caller.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.api import schemas
from shared.api.http_api import ApiRequest, ApiResponse
from shared.domain.audit import ACCOUNT_TRAIL
from shared.domain.errors import NotFound, UnsupportedMediaType
from shared.services.auth import Caller
from shared.services.inbound import InboundRequest
from shared.services.json_input import read_json

if TYPE_CHECKING:
    from shared.bootstrap import Container


def json_body(request: ApiRequest) -> Any:
    """The JSON body of a management request; empty means {}."""
    if not request.body.strip():
        return {}
    media = (request.header("content-type") or "application/json").split(";")[0].strip()
    if media != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
    return read_json(request.body)


def who(caller: Caller | None) -> Caller:
    """The caller of a management route, whom the audit trail names (the route table
    guarantees one)."""
    assert caller is not None, "a management route without an authenticated caller"
    return caller


def scoped_body(request: ApiRequest, caller: Caller | None, *, named: bool = True) -> Any:
    """The JSON body of a route that names its integration in `integrationId`, held to
    the caller's integrations. Without one (`named=False` routes may mean "all"), a
    scoped token is refused: "all" would include integrations it may not see."""
    document = json_body(request)
    named_id = document.get("integrationId") if isinstance(document, dict) else None
    if isinstance(named_id, str):
        who(caller).require(named_id.strip())
    elif not named:
        who(caller).require_every_integration("ask about every integration at once")
    return document


# --- inbound ------------------------------------------------------------------------
async def inbound(services: Container, request: ApiRequest, _: Caller | None) -> ApiResponse:
    accepted = await services.inbound.accept(
        InboundRequest(
            authorization=request.header("authorization"),
            content_type=request.header("content-type"),
            body=request.body,
            idempotency_key=request.header("idempotency-key"),
        )
    )
    headers = {"Idempotent-Replayed": "true"} if accepted.replayed else {}
    answer = schemas.Accepted(message_id=accepted.message_id)
    return ApiResponse(202, answer.to_json(), headers)


async def sent_message(
    services: Container, request: ApiRequest, _: Caller | None
) -> schemas.SentMessage:
    event = await services.inbound.sent_event(
        request.header("authorization"), request.route_params["messageId"]
    )
    return schemas.SentMessage.of(event)


# --- integrations -------------------------------------------------------------------
async def list_integrations(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.IntegrationList:
    listed = await services.management.list()
    return schemas.IntegrationList.of([i for i in listed if who(caller).may_see(i.id)])


async def create_integration(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.CreatedIntegration:
    issued = await services.management.create(json_body(request), who(caller))
    return schemas.CreatedIntegration.issued(issued)


async def get_integration(
    services: Container, request: ApiRequest, _: Caller | None
) -> schemas.Integration:
    return schemas.Integration.of(await services.management.get(request.route_params["id"]))


async def update_integration(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.Integration:
    changed = await services.management.patch(
        request.route_params["id"], json_body(request), who(caller)
    )
    return schemas.Integration.of(changed)


async def regenerate_key(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.NewApiKey:
    return schemas.NewApiKey.of(
        await services.management.regenerate_key(
            request.route_params["id"], who(caller), json_body(request)
        )
    )


async def audit(services: Container, request: ApiRequest, _: Caller | None) -> schemas.AuditTrail:
    integration = await services.management.get(request.route_params["id"])
    page = await services.audit.page(
        integration.id, request.query.get("limit"), request.query.get("continuationToken")
    )
    return schemas.AuditTrail.of(page)


# --- events -------------------------------------------------------------------------
async def filter_events(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.EventPage:
    page = await services.queries.filter(scoped_body(request, caller))
    return schemas.EventPage.of(page)


async def count_events(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.EventCounts:
    counts = await services.queries.counts(scoped_body(request, caller))
    return schemas.EventCounts.of(counts)


async def event_flow(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.FlowChart:
    chart = await services.flow.flow(scoped_body(request, caller, named=False))
    return schemas.FlowChart.of(chart)


async def event_detail(
    services: Container, request: ApiRequest, _: Caller | None
) -> schemas.EventDetail:
    params = request.route_params
    found = await services.queries.detail(params["id"], params["eventId"])
    return schemas.EventDetail.detail(found)


async def retry_event(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.Resubmitted:
    params = request.route_params
    event = await services.resubmission.resubmit_one(params["id"], params["eventId"], who(caller))
    return schemas.Resubmitted.of(event)


async def bulk_retry(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.Job:
    job = await services.resubmission.start_bulk(
        request.route_params["id"], json_body(request), who(caller)
    )
    return schemas.Job.of(job)


# --- jobs ---------------------------------------------------------------------------
async def get_job(services: Container, request: ApiRequest, _: Caller | None) -> schemas.Job:
    params = request.route_params
    return schemas.Job.of(await services.resubmission.job(params["id"], params["jobId"]))


async def cancel_job(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.Job:
    params = request.route_params
    job = await services.resubmission.cancel(params["id"], params["jobId"], who(caller))
    return schemas.Job.of(job)


# --- operations ---------------------------------------------------------------------
async def me(services: Container, request: ApiRequest, caller: Caller | None) -> schemas.Me:
    found = who(caller)
    scope = sorted(found.integration_ids) if found.integration_ids is not None else None
    return schemas.Me(role=found.role, actor=found.actor, integration_ids=scope)


async def retention(
    services: Container, request: ApiRequest, _: Caller | None
) -> schemas.Retention:
    return schemas.Retention.of(services.settings)


# --- management tokens and the account's own trail ----------------------------------
async def create_token(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.CreatedToken:
    return schemas.CreatedToken.issued(
        await services.tokens.create(json_body(request), who(caller))
    )


async def list_tokens(
    services: Container, request: ApiRequest, _: Caller | None
) -> schemas.TokenList:
    return schemas.TokenList.of(await services.tokens.list())


async def revoke_token(
    services: Container, request: ApiRequest, caller: Caller | None
) -> schemas.Token:
    revoked = await services.tokens.revoke(request.route_params["tokenId"], who(caller))
    return schemas.Token.of(revoked)


async def erase(services: Container, request: ApiRequest, caller: Caller | None) -> schemas.Erasure:
    return schemas.Erasure.of(await services.privacy.erase(json_body(request), who(caller)))


async def account_audit(
    services: Container, request: ApiRequest, _: Caller | None
) -> schemas.AuditTrail:
    page = await services.audit.page(
        ACCOUNT_TRAIL, request.query.get("limit"), request.query.get("continuationToken")
    )
    return schemas.AuditTrail.of(page)


async def health(services: Container, request: ApiRequest, _: Caller | None) -> ApiResponse:
    checks: dict[str, str] = {}
    try:
        await services.storage.ping()
        checks["storage"] = "ok"
    except Exception as exc:  # health reports any failure instead of raising it
        checks["storage"] = f"unavailable ({type(exc).__name__})"
    healthy = all(value == "ok" for value in checks.values())
    answer = schemas.Health(status="ok" if healthy else "degraded", dependencies=checks)
    return ApiResponse(200 if healthy else 503, answer.to_json())


WEB = Path(__file__).resolve().parent / "web"
# The page's own files under /dashboard/ and their types; no other name is served.
DASHBOARD_FILES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
    "admin.js": "text/javascript; charset=utf-8",
}
# The page runs only its own two files: no inline script or style (not even a style
# attribute), no other origin, no form posting anywhere, no framing (clickjacking). So
# data that slipped past the script's text-only rendering as markup still cannot run.
# `data:` images: the page's empty favicon. X-Frame-Options says "no framing" to
# browsers that predate `frame-ancestors`.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def dashboard(services: Container, request: ApiRequest, _: Caller | None) -> ApiResponse:
    """The operations page; it asks for a token itself and then calls the read API."""
    page = (WEB / "dashboard.html").read_text()
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    return ApiResponse(200, page, headers | PAGE_HEADERS)


async def dashboard_file(services: Container, request: ApiRequest, _: Caller | None) -> ApiResponse:
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


async def openapi(services: Container, request: ApiRequest, _: Caller | None) -> ApiResponse:
    """OpenAPI 3.1 description of every public route."""
    return ApiResponse(200, json.loads((WEB / "openapi.json").read_text()))
