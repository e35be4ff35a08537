"""The platform API over httpx; routes come from `platform_openapi.json` by operationId.

One AsyncClient per worker. Takes an httpx transport so tests can plug in the sandbox
app or a handler (`httpx.MockTransport`).
"""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from actions.base import PlatformCall
from shared.domain.clock import utcnow
from shared.domain.models import PlatformExchange
from shared.domain.throttle import Throttle
from shared.services.ports import PlatformClient
from shared.telemetry import current_trace_headers

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "platform_openapi.json"
# What stands in an answer for the API token the platform quoted back to us.
REDACTED_TOKEN = "[platform API token removed]"
# A token shorter than this is no secret worth finding in text (a test's "t"), and
# replacing it would mangle every word that contains it.
REDACTED_MIN_LENGTH = 8


@cache
def platform_routes() -> dict[str, tuple[str, str]]:
    """operationId -> (METHOD, path template), read from the OpenAPI file once."""
    spec = json.loads(OPENAPI_FILE.read_text())
    routes = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            routes[operation["operationId"]] = (method.upper(), path)
    return routes


class HttpPlatformClient(PlatformClient):
    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self._throttle = throttle
        self._token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout_seconds,
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def call(self, call: PlatformCall, idempotency_key: str) -> PlatformExchange:
        method, template = platform_routes()[call.operation_id]
        path = template.format(**{k: quote(v, safe="") for k, v in call.path_params.items()})
        # The W3C trace headers join the platform's side of the call to the event's trace.
        headers = {"Idempotency-Key": idempotency_key, **current_trace_headers()}
        request = self._client.build_request(method, path, json=call.body, headers=headers)
        if self._throttle is not None:
            await self._throttle.wait()
        started, clock = utcnow(), time.perf_counter()
        exchange = PlatformExchange(
            method=method,
            url=str(request.url),
            request_headers=dict(request.headers),
            request_body=call.body,
            started_at=started,
            duration_ms=0.0,
        )
        try:
            response = await self._client.send(request)
        except httpx.TimeoutException:
            exchange.error = "The platform did not answer in time (timeout)."
        except httpx.TransportError as exc:
            exchange.error = f"The platform could not be reached ({type(exc).__name__})."
        else:
            exchange.status = response.status_code
            exchange.response_headers = self._redacted(dict(response.headers))
            exchange.response_body = self._redacted(_body(response))
        exchange.duration_ms = round((time.perf_counter() - clock) * 1000, 1)
        return exchange

    async def close(self) -> None:
        await self._client.aclose()

    def _redacted(self, value: Any) -> Any:
        """The answer without our API token in it. Some platforms quote the credential
        they refused ("token ... has expired"); the answer is kept in the event's
        attempts and error, which people, the dashboard and logs read, so the token is
        taken out here, where it is known, whatever field or header quoted it."""
        if not self._token or len(self._token) < REDACTED_MIN_LENGTH:
            return value
        if isinstance(value, str):
            return value.replace(self._token, REDACTED_TOKEN)
        if isinstance(value, dict):
            return {self._redacted(k): self._redacted(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redacted(item) for item in value]
        return value


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
