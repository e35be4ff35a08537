"""How one platform request is processed: auth, faults, idempotency, the rule, latency.

The order of the steps is the point of this module:

1. auth (401) - a real platform checks credentials before anything else;
2. injected faults (503/429) - answered before anything is applied and never stored
   under the Idempotency-Key, so the client's retry is processed for real;
3. in ONE transaction: replay a stored response for a known key, else validate the body
   (400, not stored: a corrected body may reuse the key), apply the rule in a savepoint
   and store status + body under the key - so the effect and its record commit together;
4. injected latency, after the commit: a client with a short timeout gives up although
   the change was applied, which is exactly the case idempotency keys exist for.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from local.sandbox.faults import Faults, KeyLog, Stats
from local.sandbox.operations import OPERATIONS
from local.sandbox.rules import Rejection
from local.sandbox.store import Store

MAX_KEY_LENGTH = 200  # as the contract's IdempotencyKey parameter says

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool
    # Replayed to a request for another operation than the key was first used with: the
    # contract still replays, but the client has reused one key for two different calls.
    other_operation: bool = False


def error_response(rejection: Rejection, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(rejection.body(), rejection.status, headers=headers)


def _dotted(location: tuple[int | str, ...]) -> str:
    """`("items", 0, "sku")` -> `items[0].sku`, the path style of the error details."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path or "body"


def parse_body(model: type[M], raw: bytes) -> M:
    """The validated body, or a 400 `validation_failed` naming every bad field."""
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as error:
        details = [
            {"path": _dotted(issue["loc"]), "message": issue["msg"]} for issue in error.errors()
        ]
        first = details[0]
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        message = f"The request body is invalid: {first['path']}: {first['message']}{more}"
        raise Rejection(400, "validation_failed", message, details) from None


class Platform:
    """The platform routes' shared state: the store, the faults and the counters."""

    def __init__(self, store: Store, faults: Faults, api_token: str | None) -> None:
        self.store = store
        self.faults = faults
        self.stats = Stats()
        self.keys = KeyLog()
        self._token = api_token

    def endpoint(self, operation_id: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.handle(operation_id, request)

        return endpoint

    async def handle(self, operation_id: str, request: Request) -> Response:
        self.stats.count_request()
        key = request.headers.get("Idempotency-Key")
        if key:
            self.keys.requests[key] += 1
        if not self._authorized(request):
            self.stats.rejected += 1
            message = "A valid 'Authorization: Bearer <token>' header is required"
            return error_response(Rejection(401, "unauthorized", message))
        if (fault := self.faults.gate(self.stats)) is not None:
            self.keys.refused(key, fault[0].status)
            return error_response(*fault)

        raw = await request.body()
        response: Response
        try:
            outcome = self._execute(operation_id, key, raw, request.path_params)
        except Rejection as rejection:
            self.stats.rejected += 1
            response = error_response(rejection)
        else:
            self._count(outcome)
            delayed = self.faults.latency_seconds > 0
            self.keys.answered(key, outcome.replayed, outcome.other_operation, delayed)
            response = JSONResponse(outcome.body, outcome.status)
        if self.faults.latency_seconds:
            await asyncio.sleep(self.faults.latency_seconds)
        return response

    def _authorized(self, request: Request) -> bool:
        if not self._token:
            return True
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode())

    def _execute(
        self, operation_id: str, key: str | None, raw: bytes, params: Mapping[str, str]
    ) -> Outcome:
        """Step 3 of the module docstring; raises `Rejection` only for a 400 (not stored)."""
        if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
            message = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters"
            detail = {"path": "headers.Idempotency-Key", "message": message}
            raise Rejection(400, "validation_failed", message, [detail])
        operation = OPERATIONS[operation_id]
        with self.store.transaction() as tx:
            if key and (stored := tx.recall(key)) is not None:
                other = stored.operation != operation_id
                return Outcome(stored.status, stored.body, replayed=True, other_operation=other)
            body = parse_body(operation.model, raw)
            try:
                with tx.savepoint():
                    status, payload = operation.apply(tx, body, params)
            except Rejection as rejection:
                # A business rejection is an answer too: stored and replayed like success.
                status, payload = rejection.status, rejection.body()
            if key:
                tx.remember(key, operation_id, status, payload)
            return Outcome(status, payload, replayed=False)

    def _count(self, outcome: Outcome) -> None:
        if outcome.replayed:
            self.stats.replayed += 1
        elif outcome.status < 300:
            self.stats.count_applied()
        else:
            self.stats.rejected += 1
