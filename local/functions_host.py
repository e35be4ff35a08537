"""Hosts `function_app.py`'s own functions on this machine, as the Functions host would.

The registered functions are read once from the app object (`get_functions()`):
HTTP triggers are served by Starlette with the same route templates (empty route
prefix, literal segments before parameters, trailing slash ignored); the
session-enabled Service Bus trigger is fed by the local session queue, and the
trigger on `<queue>/$deadletterqueue` by its dead-letter sub-queue; timer triggers
run on their 6-field NCRONTAB schedules. `%NAME%` in binding values resolves from
the settings, as in Azure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from azure.functions.timer import TimerRequest
from croniter import croniter
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.servicebus.host_settings import ServiceBusSettings
from local.servicebus.queue_dispatcher import SessionQueueDispatcher
from local.servicebus.session_queue import LocalSessionQueue

log = logging.getLogger("local.host")
DEAD_LETTER_SUFFIX = "/$deadletterqueue"
PARAMETER = re.compile(r"\{(\w+)(?::[^}?]*)?(\?)?\}")


def resolve(value: str) -> str:
    """`%SERVICEBUS_QUEUE_NAME%` → the setting's value, as binding expressions do."""
    return re.sub(r"%([^%]+)%", lambda m: os.environ.get(m.group(1), ""), value)


def forwarded(headers: dict[str, str], peer: tuple[str, int] | None) -> dict[str, str]:
    """The headers as App Service's front end passes them on: the TCP peer it served,
    with its port, appended to any X-Forwarded-For the client sent itself (IPv6 in
    brackets). A client's own header is kept before it, as on Azure, so nothing local
    is kinder than Azure about who is calling (see `shared.services.auth.client_address`)."""
    if peer is None:
        return headers
    host, port = peer
    entry = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    given = {name.lower(): value for name, value in headers.items()}.get("x-forwarded-for")
    kept = {name: value for name, value in headers.items() if name.lower() != "x-forwarded-for"}
    return kept | {"x-forwarded-for": f"{given}, {entry}" if given else entry}


class AnyPath(Convertor[str]):
    """Every path, as the Functions host routes it: Starlette's own `path` converter
    (`.*`) stops at a newline, so a `%0A` in an id got Starlette's plain-text 404
    instead of reaching the function."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", AnyPath())


@dataclass
class HttpFunction:
    name: str
    template: str
    methods: set[str]
    pattern: re.Pattern[str]
    literal_segments: int
    call: Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def compile_route(template: str) -> tuple[re.Pattern[str], int]:
    regex, literals = "", 0
    for segment in template.strip("/").split("/"):
        match = PARAMETER.fullmatch(segment)
        if match:
            name, optional = match.group(1), match.group(2)
            regex += f"(?:/(?P<{name}>[^/]+))?" if optional else f"/(?P<{name}>[^/]+)"
        else:
            regex += "/" + re.escape(segment)
            literals += 1
    return re.compile(f"^{regex}/?$", re.IGNORECASE), literals


class FunctionsHost:
    def __init__(self, app: func.FunctionApp) -> None:
        self.http: list[HttpFunction] = []
        self.session_trigger: Callable[..., Awaitable[Any]] | None = None
        self.dead_letter_trigger: Callable[..., Awaitable[Any]] | None = None
        self.timers: list[tuple[str, str, Callable[..., Awaitable[Any]]]] = []
        for function in app.get_functions():  # may be called only once per app
            self._register(function)
        # ASP.NET route precedence: more literal segments first.
        self.http.sort(key=lambda f: -f.literal_segments)

    def _register(self, function: Any) -> None:
        trigger = function.get_trigger().get_dict_repr()
        user_function = function.get_user_function()
        name = function.get_function_name()
        kind = trigger["type"]
        if kind == "httpTrigger":
            pattern, literals = compile_route(trigger.get("route") or name)
            methods = {str(getattr(m, "value", m)).upper() for m in trigger.get("methods") or []}
            self.http.append(
                HttpFunction(name, trigger["route"], methods, pattern, literals, user_function)
            )
        elif kind == "serviceBusTrigger":
            if resolve(trigger["queueName"]).lower().endswith(DEAD_LETTER_SUFFIX):
                self.dead_letter_trigger = user_function
            elif trigger.get("isSessionsEnabled"):
                self.session_trigger = user_function
            else:
                raise RuntimeError(f"{name}: the inbound queue requires sessions")
        elif kind == "timerTrigger":
            self.timers.append((name, resolve(trigger["schedule"]), user_function))
        else:
            raise RuntimeError(f"{name}: trigger type {kind} is not hosted locally")

    # --- HTTP -------------------------------------------------------------------------
    async def serve_http(self, request: Request) -> Response:
        path = "/" + request.path_params.get("path", "")
        allowed: set[str] = set()
        for function in self.http:
            match = function.pattern.match(path.rstrip("/") or "/")
            if not match:
                continue
            if request.method not in function.methods:
                allowed |= function.methods
                continue
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            return await self._invoke(function, request, params)
        if allowed:
            return JSONResponse(
                {"error": "method_not_allowed", "message": f"Use {', '.join(sorted(allowed))}."},
                status_code=405,
                headers={"Allow": ", ".join(sorted(allowed))},
            )
        return JSONResponse(
            {"error": "not_found", "message": f"No route {request.method} {path}."},
            status_code=404,
        )

    async def _invoke(
        self, function: HttpFunction, request: Request, params: dict[str, str]
    ) -> Response:
        incoming = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=forwarded(dict(request.headers), request.client),
            params=dict(request.query_params),
            route_params=params,
            body=await request.body(),
        )
        try:
            answer = await function.call(incoming)
        except Exception:  # the Functions host answers 500 for an unhandled exception
            log.exception("function %s failed", function.name)
            return JSONResponse(
                {"error": "internal", "message": "Unexpected failure."}, status_code=500
            )
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return Response(
            answer.get_body(),
            status_code=answer.status_code,
            headers=headers,
            media_type=answer.mimetype,
        )

    def starlette(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:anypath}", self.serve_http, methods=methods)])

    # --- queue and timers -----------------------------------------------------------------
    def dispatcher(
        self, queue: LocalSessionQueue, settings: ServiceBusSettings
    ) -> SessionQueueDispatcher:
        """The Service Bus triggers fed from `queue`, as host.json's `settings` tell the host."""
        if self.session_trigger is None:
            raise RuntimeError("function_app declares no session-enabled Service Bus trigger")
        return SessionQueueDispatcher(
            queue, self.session_trigger, settings, dead_letter_handler=self.dead_letter_trigger
        )

    async def run_timers(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._run_timer(*timer, stop) for timer in self.timers))

    async def _run_timer(
        self, name: str, schedule: str, call: Callable[..., Awaitable[Any]], stop: asyncio.Event
    ) -> None:
        times = croniter(schedule, datetime.now(UTC), second_at_beginning=True)
        while not stop.is_set():
            due = times.get_next(datetime)
            wait = (due - datetime.now(UTC)).total_seconds()
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 0))
                return
            except TimeoutError:
                pass
            try:
                await call(TimerRequest(past_due=wait < 0))
            except Exception:  # a timer run that fails is not retried, as in Azure
                log.exception("timer %s failed", name)
