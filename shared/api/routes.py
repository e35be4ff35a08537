"""Every HTTP route of the API in one table: method, path, who may call it, what it
takes and answers, the errors it documents, and its handler.

The role check before each handler (`shared.api.http_api.serve`) and the OpenAPI
paths (`scripts/build_openapi.py`) come from this table; `function_app.py` declares
the same routes for the Functions host, and a test holds the two to each other.
The prose (summaries, descriptions, examples) lives with the OpenAPI builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from shared.api import handlers, schemas
from shared.api.http_api import Handler
from shared.domain.models import Role
from shared.services.flow import FlowRequest
from shared.services.management import CreateIntegration, PatchIntegration, RegenerateKey
from shared.services.privacy import ErasureRequest
from shared.services.queries import CountsRequest, EventFilter
from shared.services.tokens import CreateToken


class Access(StrEnum):
    """How a caller proves who they are."""

    API_KEY = "integrationApiKey"  # the integration's own key
    MANAGEMENT = "managementToken"  # a token with a role
    PUBLIC = "public"  # nobody needs to


class Scope(StrEnum):
    """Which integration a management route touches, so a token limited to some
    integrations is held to them (`shared.api.http_api.serve` checks PATH and
    EVERY_INTEGRATION before the handler; the handler checks BODY and LISTED)."""

    PATH = "path"  # the route's {id}
    BODY = "body"  # the body's integrationId (a handler checks it)
    LISTED = "listed"  # a list, cut to the caller's integrations by the handler
    EVERY_INTEGRATION = "every"  # acts beyond any one integration: unscoped tokens only
    CALLER = "caller"  # touches no integration: the caller itself, the deployment's settings


# Bodies whose schema is not one model: the inbound union of every action's envelope,
# and the bulk filter (an EventFilter whose integration comes from the path).
INBOUND_REQUEST = "InboundRequest"
BULK_RETRY_REQUEST = "BulkRetryRequest"


@dataclass(frozen=True)
class Body:
    schema: type[BaseModel] | str
    required: bool = True

    @property
    def name(self) -> str:
        return self.schema if isinstance(self.schema, str) else self.schema.__name__


@dataclass(frozen=True)
class Route:
    operation_id: str
    method: str
    path: str  # the Functions route template, without the leading slash
    handler: Handler
    tag: str
    status: int  # the answer when all goes well
    response: type[schemas.Answer] | None  # None: not JSON (the page, its files)
    access: Access = Access.MANAGEMENT
    role: Role | None = None  # for management routes: the least role that may call
    body: Body | None = None
    errors: tuple[int, ...] = ()  # besides 401/403 of a management route
    query: tuple[str, ...] = ()  # the URL parameters it reads, by their OpenAPI names
    scope: Scope | None = None  # for management routes: see Scope
    doing: str = ""  # for EVERY_INTEGRATION: what a scoped token is refused, in words

    @property
    def documented_errors(self) -> tuple[int, ...]:
        extra = (401, 403) if self.access is Access.MANAGEMENT else ()
        return tuple(sorted({*self.errors, *extra}))


def management(
    operation_id: str,
    method: str,
    path: str,
    handler: Handler,
    role: Role,
    scope: Scope,
    *,
    tag: str,
    response: type[schemas.Answer] | None,
    status: int = 200,
    body: Body | None = None,
    errors: tuple[int, ...] = (503,),
    query: tuple[str, ...] = (),
    doing: str = "",
) -> Route:
    return Route(
        operation_id, method, path, handler, tag, status, response, Access.MANAGEMENT, role, body,
        errors, query, scope, doing,
    )  # fmt: skip


PUBLIC = Access.PUBLIC


ROUTES: tuple[Route, ...] = (
    Route(
        "pushEvent",
        "POST",
        "integrations/custom/inbound",
        handlers.inbound,
        tag="inbound",
        status=202,
        response=schemas.Accepted,
        access=Access.API_KEY,
        body=Body(INBOUND_REQUEST),
        errors=(400, 401, 403, 413, 415, 422, 429, 503),
    ),
    Route(
        "getSentMessage",
        "GET",
        "integrations/custom/events/{messageId}",
        handlers.sent_message,
        tag="inbound",
        status=200,
        response=schemas.SentMessage,
        access=Access.API_KEY,
        errors=(401, 403, 404, 429, 503),
    ),
    management(
        "listIntegrations",
        "GET",
        "v1/integrations",
        handlers.list_integrations,
        Role.READER,
        Scope.LISTED,
        tag="integrations",
        response=schemas.IntegrationList,
    ),
    management(
        "createIntegration",
        "POST",
        "v1/integrations",
        handlers.create_integration,
        Role.ADMIN,
        Scope.EVERY_INTEGRATION,
        tag="integrations",
        response=schemas.CreatedIntegration,
        doing="create integrations (it could not see the new one)",
        status=201,
        body=Body(CreateIntegration),
        errors=(400, 415, 503),
    ),
    management(
        "getIntegration",
        "GET",
        "v1/integrations/{id}",
        handlers.get_integration,
        Role.READER,
        Scope.PATH,
        tag="integrations",
        response=schemas.Integration,
        errors=(404, 503),
    ),
    management(
        "updateIntegration",
        "PATCH",
        "v1/integrations/{id}",
        handlers.update_integration,
        Role.ADMIN,
        Scope.PATH,
        tag="integrations",
        response=schemas.Integration,
        body=Body(PatchIntegration),
        errors=(400, 404, 409, 415, 503),
    ),
    management(
        "regenerateKey",
        "POST",
        "v1/integrations/{id}/regenerate-key",
        handlers.regenerate_key,
        Role.ADMIN,
        Scope.PATH,
        tag="integrations",
        response=schemas.NewApiKey,
        body=Body(RegenerateKey, required=False),
        errors=(400, 404, 409, 415, 503),
    ),
    management(
        "getAuditTrail",
        "GET",
        "v1/integrations/{id}/audit",
        handlers.audit,
        Role.READER,
        Scope.PATH,
        tag="integrations",
        response=schemas.AuditTrail,
        errors=(400, 404, 503),
        query=("AuditLimit", "ContinuationToken"),
    ),
    management(
        "filterEvents",
        "POST",
        "v1/integrations/events/filter",
        handlers.filter_events,
        Role.READER,
        Scope.BODY,
        tag="events",
        response=schemas.EventPage,
        body=Body(EventFilter),
        errors=(400, 404, 415, 503),
    ),
    management(
        "countEvents",
        "POST",
        "v1/integrations/events/counts",
        handlers.count_events,
        Role.READER,
        Scope.BODY,
        tag="events",
        response=schemas.EventCounts,
        body=Body(CountsRequest),
        errors=(400, 404, 415, 503),
    ),
    management(
        "eventFlow",
        "POST",
        "v1/integrations/events/flow",
        handlers.event_flow,
        Role.READER,
        Scope.BODY,
        tag="events",
        response=schemas.FlowChart,
        body=Body(FlowRequest, required=False),
        errors=(400, 404, 415, 503),
    ),
    management(
        "getEvent",
        "GET",
        "v1/integrations/{id}/events/{eventId}",
        handlers.event_detail,
        Role.READER,
        Scope.PATH,
        tag="events",
        response=schemas.EventDetail,
        errors=(404, 503),
    ),
    management(
        "retryEvent",
        "POST",
        "v1/integrations/{id}/events/{eventId}/retry",
        handlers.retry_event,
        Role.OPERATOR,
        Scope.PATH,
        tag="events",
        response=schemas.Resubmitted,
        status=202,
        errors=(404, 409, 503),
    ),
    management(
        "retryEvents",
        "POST",
        "v1/integrations/{id}/events/retry",
        handlers.bulk_retry,
        Role.OPERATOR,
        Scope.PATH,
        tag="events",
        response=schemas.Job,
        status=202,
        body=Body(BULK_RETRY_REQUEST, required=False),
        errors=(400, 404, 415, 503),
    ),
    management(
        "getJob",
        "GET",
        "v1/integrations/{id}/jobs/{jobId}",
        handlers.get_job,
        Role.READER,
        Scope.PATH,
        tag="jobs",
        response=schemas.Job,
        errors=(404, 503),
    ),
    management(
        "cancelJob",
        "POST",
        "v1/integrations/{id}/jobs/{jobId}/cancel",
        handlers.cancel_job,
        Role.OPERATOR,
        Scope.PATH,
        tag="jobs",
        response=schemas.Job,
        errors=(404, 503),
    ),
    management(
        "whoAmI",
        "GET",
        "v1/me",
        handlers.me,
        Role.READER,
        Scope.CALLER,
        tag="operations",
        response=schemas.Me,
    ),
    management(
        "getRetention",
        "GET",
        "v1/retention",
        handlers.retention,
        Role.READER,
        Scope.CALLER,
        tag="operations",
        response=schemas.Retention,
        errors=(),
    ),
    management(
        "createToken",
        "POST",
        "v1/tokens",
        handlers.create_token,
        Role.ADMIN,
        Scope.EVERY_INTEGRATION,
        tag="tokens",
        response=schemas.CreatedToken,
        status=201,
        body=Body(CreateToken),
        errors=(400, 404, 415, 503),
        doing="manage tokens",
    ),
    management(
        "listTokens",
        "GET",
        "v1/tokens",
        handlers.list_tokens,
        Role.ADMIN,
        Scope.EVERY_INTEGRATION,
        tag="tokens",
        response=schemas.TokenList,
        doing="manage tokens",
    ),
    management(
        "revokeToken",
        "DELETE",
        "v1/tokens/{tokenId}",
        handlers.revoke_token,
        Role.ADMIN,
        Scope.EVERY_INTEGRATION,
        tag="tokens",
        response=schemas.Token,
        errors=(404, 409, 503),
        doing="manage tokens",
    ),
    management(
        "erasePersonalData",
        "POST",
        "v1/privacy/erase",
        handlers.erase,
        Role.ADMIN,
        Scope.EVERY_INTEGRATION,
        tag="tokens",
        response=schemas.Erasure,
        body=Body(ErasureRequest),
        errors=(400, 409, 415, 503),
        doing="erase a person's data (it reaches every integration)",
    ),
    management(
        "getAccountAuditTrail",
        "GET",
        "v1/audit",
        handlers.account_audit,
        Role.ADMIN,
        Scope.EVERY_INTEGRATION,
        tag="tokens",
        response=schemas.AuditTrail,
        errors=(400, 503),
        query=("AuditLimit", "ContinuationToken"),
        doing="read the account's audit trail",
    ),
    Route("health", "GET", "health", handlers.health, "operations", 200, schemas.Health, PUBLIC),
    Route("dashboard", "GET", "dashboard", handlers.dashboard, "operations", 200, None, PUBLIC),
    Route(
        "dashboardFile",
        "GET",
        "dashboard/{file}",
        handlers.dashboard_file,
        tag="operations",
        status=200,
        response=None,
        access=PUBLIC,
        errors=(404,),
    ),
    Route("openapi", "GET", "openapi.json", handlers.openapi, "operations", 200, None, PUBLIC),
)

BY_TEMPLATE: dict[tuple[str, str], Route] = {(r.method, r.path): r for r in ROUTES}
