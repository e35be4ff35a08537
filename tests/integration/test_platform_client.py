"""HttpPlatformClient against the sandbox app in-process, and against failing transports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio

from actions.base import PlatformCall
from local.sandbox.app import create_app
from shared.adapters.platform_http import OPENAPI_FILE, HttpPlatformClient, platform_routes
from shared.domain.outcomes import classify

BASE_URL = "http://platform.test"


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox and keeps them, to see what went over the wire."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def sandbox(tmp_path: Path) -> Any:
    return create_app(tmp_path / "s.db", api_token="t")


@pytest_asyncio.fixture
async def wire(sandbox: Any) -> Recording:
    return Recording(httpx.ASGITransport(app=sandbox))


@pytest_asyncio.fixture
async def client(wire: Recording) -> AsyncIterator[HttpPlatformClient]:
    platform = HttpPlatformClient(BASE_URL, "t", timeout_seconds=5, transport=wire)
    yield platform
    await platform.close()


async def sandbox_state(sandbox: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url=BASE_URL
    ) as http:
        return dict((await http.get("/_sandbox/state")).json())


def spec_routes() -> dict[str, tuple[str, str]]:
    spec = json.loads(OPENAPI_FILE.read_text())
    return {
        op["operationId"]: (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }


def test_routes_are_read_from_the_openapi_file() -> None:
    assert platform_routes() == spec_routes()
    assert len(platform_routes()) == 7


PRODUCT = {"sku": "A", "name": "Chair", "sellingPrice": 1}
CALLS = [
    PlatformCall("upsertProducts", {"products": [PRODUCT]}),
    PlatformCall(
        "setInventoryLevels", {"items": [{"sku": "A", "warehouseId": "W", "quantity": 5}]}
    ),
    PlatformCall("adjustInventory", {"items": [{"sku": "A", "adjustment": -2}]}),
    PlatformCall("setPrices", {"items": [{"sku": "A", "sellingPrice": 4990}]}),
    PlatformCall("upsertCustomer", {"email": "anna@example.com", "firstName": "Anna"}),
    PlatformCall(
        "createOrder",
        {
            "externalId": "ERP-1",
            "customer": {"email": "anna@example.com"},
            "lineItems": [{"sku": "A", "quantity": 1, "unitPrice": 4990}],
        },
    ),
]


async def test_every_operation_reaches_its_route_and_applies(
    client: HttpPlatformClient, wire: Recording, sandbox: Any
) -> None:
    routes = spec_routes()
    for n, call in enumerate(CALLS):
        exchange = await client.call(call, f"key-{n}")
        method, path = routes[call.operation_id]
        assert (exchange.method, urlsplit(exchange.url).path) == (method, path)
        assert (wire.requests[-1].method, wire.requests[-1].url.path) == (method, path)
        assert exchange.status is not None and 200 <= exchange.status < 300, exchange.response_body
        assert exchange.error is None and exchange.request_body == call.body
        assert json.loads(wire.requests[-1].content) == call.body
    order_id = exchange.response_body["id"]
    update = PlatformCall("updateOrder", {"status": "shipped"}, {"orderId": order_id})
    exchange = await client.call(update, "key-update")
    assert exchange.method == "PATCH" and urlsplit(exchange.url).path == f"/v1/orders/{order_id}"
    assert exchange.status == 200 and exchange.response_body["status"] == "shipped"
    assert exchange.duration_ms >= 0
    state = await sandbox_state(sandbox)
    assert state["inventory"]["A"] == {"W": 3}
    assert state["orders"][order_id]["status"] == "shipped"
    assert len(wire.requests) == 7


async def test_path_parameters_are_escaped(client: HttpPlatformClient, wire: Recording) -> None:
    call = PlatformCall("updateOrder", {"status": "shipped"}, {"orderId": "ord 1?x#y"})
    exchange = await client.call(call, "key-escape")
    assert wire.requests[-1].url.raw_path == b"/v1/orders/ord%201%3Fx%23y"
    # the platform's own "no such order" for exactly that id, not an unknown route
    assert exchange.status == 404 and exchange.response_body["error"] == "order_not_found"
    assert "'ord 1?x#y'" in exchange.response_body["message"]
    slash = PlatformCall("updateOrder", {"status": "shipped"}, {"orderId": "a/b"})
    await client.call(slash, "key-slash")
    assert wire.requests[-1].url.raw_path == b"/v1/orders/a%2Fb"


async def test_the_idempotency_key_and_token_are_sent(
    client: HttpPlatformClient, wire: Recording, sandbox: Any
) -> None:
    call = CALLS[0]
    first = await client.call(call, "evt-1")
    second = await client.call(call, "evt-1")
    assert [r.headers["Idempotency-Key"] for r in wire.requests] == ["evt-1", "evt-1"]
    assert wire.requests[0].headers["Authorization"] == "Bearer t"
    assert first.request_headers["idempotency-key"] == "evt-1"
    assert first.response_body == second.response_body  # the sandbox replayed it
    state = await sandbox_state(sandbox)
    assert state["stats"]["replayed"] == 1
    assert "evt-1" in state["idempotency"]


async def test_a_wrong_token_is_an_answer_not_an_error(sandbox: Any) -> None:
    platform = HttpPlatformClient(BASE_URL, "wrong", 5, transport=httpx.ASGITransport(app=sandbox))
    try:
        exchange = await platform.call(CALLS[0], "k")
    finally:
        await platform.close()
    assert exchange.status == 401 and exchange.error is None
    assert exchange.response_body["error"] == "unauthorized"


async def test_a_rejection_keeps_the_platforms_body(client: HttpPlatformClient) -> None:
    call = PlatformCall("setPrices", {"items": [{"sku": "NOPE", "sellingPrice": 1}]})
    exchange = await client.call(call, "k-reject")
    assert exchange.status == 422
    assert exchange.response_body["details"][0]["path"] == "items[0].sku"
    assert exchange.response_headers["content-type"] == "application/json"
    outcome = classify(exchange, "set 1 price(s)")
    assert outcome.error is not None and outcome.error.kind == "permanent"
    assert "SKU 'NOPE' does not exist" in outcome.error.message


async def test_a_text_body_is_kept_as_text() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="Bad gateway from the proxy")

    platform = HttpPlatformClient(BASE_URL, None, 5, transport=httpx.MockTransport(handler))
    try:
        exchange = await platform.call(CALLS[0], "k")
    finally:
        await platform.close()
    assert exchange.status == 502 and exchange.response_body == "Bad gateway from the proxy"
    assert "authorization" not in exchange.request_headers  # no token configured


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (httpx.ReadTimeout, "did not answer in time"),
        (httpx.ConnectTimeout, "did not answer in time"),
        (httpx.ConnectError, "could not be reached (ConnectError)"),
        (httpx.RemoteProtocolError, "could not be reached (RemoteProtocolError)"),
    ],
)
async def test_no_response_gives_an_exchange_with_an_error(
    error: type[httpx.TransportError], words: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    platform = HttpPlatformClient(BASE_URL, "t", 5, transport=httpx.MockTransport(handler))
    try:
        exchange = await platform.call(CALLS[1], "evt-timeout")
    finally:
        await platform.close()
    assert exchange.status is None and exchange.response_body is None
    assert exchange.error is not None and words in exchange.error
    assert exchange.request_headers["idempotency-key"] == "evt-timeout"
    assert exchange.url == f"{BASE_URL}/v1/inventory/levels" and exchange.method == "PUT"
    outcome = classify(exchange, "set stock for 'A'")
    assert outcome.transient and outcome.error is not None
    assert outcome.error.http_status is None
