"""The sandbox app: platform routes built from the OpenAPI file, plus sandbox-only routes.

`shared/platform_openapi.json` is the single source of truth for the platform's paths and
methods: every `operationId` in it is mapped to a handler from `operations.OPERATIONS`,
and the app refuses to start if either side has one the other lacks, so the sandbox can
never drift from the contract the worker is written against.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from local.sandbox.faults import Faults, KeyLog, Stats
from local.sandbox.models import FaultsUpdate
from local.sandbox.operations import OPERATIONS
from local.sandbox.pipeline import Platform, error_response, parse_body
from local.sandbox.rules import Rejection
from local.sandbox.store import Store

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "platform_openapi.json"
_HTTP_METHODS = ("get", "put", "post", "patch", "delete")


def platform_routes(spec: dict[str, Any], platform: Platform) -> list[BaseRoute]:
    """One route per operation of the spec; path and method as the spec says."""
    routes: list[BaseRoute] = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue  # e.g. path-level "parameters"
            operation_id = operation["operationId"]
            if operation_id not in OPERATIONS:
                where = f"{method.upper()} {path}"
                raise RuntimeError(f"The sandbox has no handler for {operation_id!r} ({where})")
            # OpenAPI templates ("{orderId}") are also Starlette's path syntax.
            endpoint = platform.endpoint(operation_id)
            routes.append(Route(path, endpoint, methods=[method.upper()], name=operation_id))
    missing = set(OPERATIONS) - {route.name for route in routes if isinstance(route, Route)}
    if missing:
        raise RuntimeError(f"Handlers without an operation in the spec: {sorted(missing)}")
    return routes


def control_routes(platform: Platform) -> list[BaseRoute]:
    """Sandbox-only routes: never in the contract, never behind auth or faults."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def state(_: Request) -> Response:
        snapshot = platform.store.snapshot()
        snapshot["stats"] = platform.stats.view()
        snapshot["faults"] = platform.faults.view()
        return JSONResponse(snapshot)

    async def set_faults(request: Request) -> Response:
        try:
            change = parse_body(FaultsUpdate, await request.body())
        except Rejection as rejection:
            return error_response(rejection)
        platform.faults.update(change)
        return JSONResponse(platform.faults.view())

    async def reset(_: Request) -> Response:
        platform.store.clear()
        platform.faults.reset()
        platform.stats = Stats()
        platform.keys = KeyLog()
        return JSONResponse({"status": "reset"})

    async def stats(_: Request) -> Response:
        return JSONResponse(platform.stats.view())

    async def reset_stats(_: Request) -> Response:
        # Measures one phase of a test (e.g. the catch-up after an outage) on its own.
        platform.stats = Stats()
        return JSONResponse(platform.stats.view())

    async def keys(_: Request) -> Response:
        return JSONResponse(platform.keys.view())

    return [
        Route("/health", health, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/stats", reset_stats, methods=["DELETE"]),
        Route("/_sandbox/keys", keys, methods=["GET"]),
        Route("/_sandbox/state", state, methods=["GET"]),
        Route("/_sandbox/faults", set_faults, methods=["PUT"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
    ]


async def _http_error(_: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer in the platform's error shape too."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    rejection = Rejection(exc.status_code, code, str(exc.detail))
    return error_response(rejection, headers=exc.headers)


def create_app(
    db_path: str | Path,
    *,
    api_token: str | None = None,
    spec_path: str | Path = SPEC_PATH,
    rng: random.Random | None = None,
) -> Starlette:
    """The sandbox on the SQLite file `db_path` (created with its folders if missing).

    `api_token`: bearer token the platform routes require; None reads PLATFORM_API_TOKEN,
    and an empty string (or an unset variable) means no auth. `rng` drives `errorRate`.
    """
    token = os.environ.get("PLATFORM_API_TOKEN") if api_token is None else api_token
    store = Store(db_path)
    platform = Platform(store, Faults(rng), token or None)
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    app = Starlette(
        routes=[*control_routes(platform), *platform_routes(spec, platform)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.platform = platform
    return app
