"""The HTTP layer's entry, free of any SDK: an ApiRequest in, an ApiResponse out.

`function_app.py` turns each Functions request into an ApiRequest and hands it to
`serve` with the route template it was declared with; `serve` finds the route in the
table (`shared.api.routes`), checks the caller's role, runs the handler
(`shared.api.handlers`) and maps the core's errors to their statuses. This module
stays light: the table, the handlers and their models load with the first request,
so a cold start's import pays for none of them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.api.schemas import Answer
    from shared.bootstrap import Container
    from shared.services.auth import Caller

log = logging.getLogger("integrations.http")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    route_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)  # the URL's parameters

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def json_bytes(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


# A handler gets the caller a management route has authenticated (None elsewhere) and
# answers a model, sent with the route's status, or a whole response of its own.
Handler = Callable[["Container", ApiRequest, "Caller | None"], Awaitable["Answer | ApiResponse"]]

UNAVAILABLE = (
    "The service is briefly unavailable. Retry in a few seconds; send the same "
    "Idempotency-Key again so a request that did get through is not recorded twice."
)


async def serve(services: Container, template: str, request: ApiRequest) -> ApiResponse:
    """Answer a request to the route declared as `template`."""
    from shared.api.routes import BY_TEMPLATE, Access, Scope
    from shared.api.schemas import Answer
    from shared.domain.errors import IntegrationsError
    from shared.services.auth import authorize

    route = BY_TEMPLATE[(request.method, template)]
    try:
        caller = None
        if route.access is Access.MANAGEMENT:
            assert route.role is not None
            identity = await services.tokens.identify(request.headers)
            caller = authorize(identity, route.role, request.header("x-forwarded-for"))
            if route.scope is Scope.PATH:
                caller.require(request.route_params["id"])
            elif route.scope is Scope.EVERY_INTEGRATION:
                caller.require_every_integration(route.doing)
        answer = await route.handler(services, request, caller)
    except IntegrationsError as error:
        return error_answer(error)
    if isinstance(answer, Answer):
        return ApiResponse(route.status, answer.to_json())
    return answer


def error_answer(error: Exception) -> ApiResponse:
    """Known errors become their status with a sentence; a dependency outage a 503."""
    from shared.api.schemas import Error
    from shared.domain.errors import RequestError, StaleWrite, TransientError

    if isinstance(error, RequestError):
        headers = {}
        if error.status == 429:
            headers["Retry-After"] = str(getattr(error, "retry_after_seconds", 1))
        return ApiResponse(error.status, Error.of(error).to_json(), headers)
    if isinstance(error, StaleWrite):
        message = "The record changed while this request ran; send it again."
        return ApiResponse(409, {"error": "conflict", "message": message})
    if isinstance(error, TransientError):
        log.warning("dependency unavailable: %s", error)
        body = {"error": "unavailable", "message": UNAVAILABLE}
        return ApiResponse(503, body, {"Retry-After": "5"})
    raise error
