"""The platform sandbox (local/sandbox): contract routes, business rules, idempotency,
persistence, injected faults and the control surface. In-process via ASGITransport."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.routing import Route

from local.sandbox.app import SPEC_PATH, create_app

pytestmark = pytest.mark.asyncio


def client_for(app: Starlette, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers)


@pytest_asyncio.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(tmp_path / "s.db", api_token="")) as http:
        yield http


async def state(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/_sandbox/state")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def product(client: httpx.AsyncClient, sku: str, **fields: Any) -> dict[str, Any]:
    body = {"products": [{"sku": sku, "name": f"Product {sku}", **fields}]}
    response = await client.put("/v1/products", json=body)
    assert response.status_code == 200, response.text
    return response.json()["products"][0]  # type: ignore[no-any-return]


async def stock(client: httpx.AsyncClient, sku: str, warehouse: str, quantity: int) -> None:
    line = {"sku": sku, "warehouseId": warehouse, "quantity": quantity}
    response = await client.put("/v1/inventory/levels", json={"items": [line]})
    assert response.status_code == 200, response.text


def order_body(external_id: str = "EXT-1", sku: str = "A", email: str = "Ann@Example.com") -> Any:
    return {
        "externalId": external_id,
        "customer": {"email": email, "firstName": "Ann"},
        "lineItems": [{"sku": sku, "quantity": 2, "unitPrice": 1250}],
        "currency": "EUR",
    }


def assert_rejected(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "details"}
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


# --- the contract ---------------------------------------------------------------------


async def test_routes_are_built_from_the_openapi_file(tmp_path: Path) -> None:
    spec = json.loads(SPEC_PATH.read_text())
    expected = {
        (op["operationId"], path, method.upper())
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    app = create_app(tmp_path / "s.db", api_token="")
    built = {
        (route.name, route.path, method)
        for route in app.routes
        if isinstance(route, Route) and not route.path.startswith(("/_sandbox", "/health"))
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert built == expected
    assert len(expected) == 7


async def test_health_and_unknown_route(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert_rejected(await client.get("/v1/nothing"), 404)
    assert_rejected(await client.delete("/v1/products"), 405)


# --- products, prices, customers ------------------------------------------------------


async def test_upsert_products_creates_then_updates(client: httpx.AsyncClient) -> None:
    first = await product(client, "A", sellingPrice=999, description="d")
    assert re.fullmatch(r"prd_[0-9a-f]+", first["id"]) and first["created"] is True
    second = await product(client, "A", name="Renamed")
    assert second["id"] == first["id"] and second["created"] is False
    current = await state(client)
    assert current["products"]["A"]["name"] == "Renamed"
    assert current["products"]["A"]["description"] == "d"
    assert current["prices"]["A"] == {"sellingPrice": 999, "costPrice": None}


async def test_set_prices(client: httpx.AsyncClient) -> None:
    await product(client, "A")
    response = await client.put(
        "/v1/prices", json={"items": [{"sku": "A", "sellingPrice": 500, "costPrice": 300}]}
    )
    assert response.status_code == 200
    assert response.json()["items"] == [{"sku": "A", "sellingPrice": 500, "costPrice": 300}]
    await client.put("/v1/prices", json={"items": [{"sku": "A", "sellingPrice": 550}]})
    assert (await state(client))["prices"]["A"] == {"sellingPrice": 550, "costPrice": 300}


async def test_set_prices_rejects_unknown_sku_all_or_nothing(client: httpx.AsyncClient) -> None:
    await product(client, "A")
    items = [{"sku": "A", "sellingPrice": 1}, {"sku": "X", "sellingPrice": 2}]
    body = assert_rejected(
        await client.put("/v1/prices", json={"items": items}), 422, "SKU 'X' does not exist"
    )
    assert body["details"][0]["path"] == "items[1].sku"
    assert "A" not in (await state(client))["prices"]
    negative = {"items": [{"sku": "A", "sellingPrice": -1}]}
    assert_rejected(await client.put("/v1/prices", json=negative), 400)


async def test_upsert_customer_by_email_case_insensitive(client: httpx.AsyncClient) -> None:
    first = await client.put("/v1/customers", json={"email": "Bob@Example.com", "lastName": "B"})
    assert first.status_code == 200
    assert re.fullmatch(r"cus_[0-9a-f]+", first.json()["id"]) and first.json()["created"]
    second = await client.put("/v1/customers", json={"email": "bob@example.COM", "phone": "1"})
    assert second.json()["id"] == first.json()["id"] and second.json()["created"] is False
    customer = (await state(client))["customers"]["bob@example.com"]
    assert customer["lastName"] == "B" and customer["phone"] == "1"


# --- inventory ------------------------------------------------------------------------


async def test_set_levels_and_only_warehouse_default(client: httpx.AsyncClient) -> None:
    await stock(client, "A", "WH1", 5)
    response = await client.put(
        "/v1/inventory/levels", json={"items": [{"sku": "A", "quantity": 7}]}
    )
    assert response.json() == {"items": [{"sku": "A", "warehouseId": "WH1", "quantity": 7}]}
    assert (await state(client))["inventory"] == {"A": {"WH1": 7}}


async def test_warehouse_must_be_given_when_ambiguous_or_none(client: httpx.AsyncClient) -> None:
    await stock(client, "A", "WH1", 1)
    await stock(client, "A", "WH2", 1)
    line = {"sku": "A", "adjustment": 1}
    body = assert_rejected(
        await client.post("/v1/inventory/adjustments", json={"items": [line]}),
        422,
        "SKU 'A'",
        "'WH1', 'WH2'",
        "warehouseId must be given",
    )
    assert body["details"][0]["path"] == "items[0].warehouseId"
    new = {"items": [{"sku": "NEW", "quantity": 3}]}
    assert_rejected(await client.put("/v1/inventory/levels", json=new), 422, "SKU 'NEW'")
    assert "NEW" not in (await state(client))["inventory"]


async def test_adjust_inventory(client: httpx.AsyncClient) -> None:
    await stock(client, "A", "WH1", 5)
    items = [{"sku": "A", "adjustment": -2, "reason": "sold"}, {"sku": "A", "adjustment": 10}]
    response = await client.post("/v1/inventory/adjustments", json={"items": items})
    assert response.status_code == 200
    assert [line["quantity"] for line in response.json()["items"]] == [3, 13]
    assert (await state(client))["inventory"]["A"] == {"WH1": 13}


async def test_adjust_rejects_unknown_sku(client: httpx.AsyncClient) -> None:
    body = assert_rejected(
        await client.post(
            "/v1/inventory/adjustments", json={"items": [{"sku": "X", "adjustment": 1}]}
        ),
        422,
        "SKU 'X' does not exist",
    )
    assert body["details"] == [{"path": "items[0].sku", "message": "SKU 'X' does not exist"}]


async def test_adjust_never_below_zero_all_or_nothing(client: httpx.AsyncClient) -> None:
    await stock(client, "A", "WH1", 3)
    items = [{"sku": "A", "adjustment": 1}, {"sku": "A", "warehouseId": "WH1", "adjustment": -9}]
    assert_rejected(
        await client.post("/v1/inventory/adjustments", json={"items": items}),
        422,
        "SKU 'A'",
        "'WH1'",
        "-9",
        "current level 4",
    )
    assert (await state(client))["inventory"]["A"] == {"WH1": 3}  # the first line was undone


# --- orders ---------------------------------------------------------------------------


async def test_create_order_and_external_id_idempotency(client: httpx.AsyncClient) -> None:
    await product(client, "A")
    created = await client.post("/v1/orders", json=order_body())
    assert created.status_code == 201
    order = created.json()
    assert re.fullmatch(r"ord_[0-9a-f]{12}", order["id"]) and order["status"] == "pending"
    again = await client.post("/v1/orders", json=order_body(email="other@example.com"))
    assert again.status_code == 200 and again.json() == order
    current = await state(client)
    assert list(current["orders"]) == [order["id"]]
    assert current["ordersByExternalId"] == {"EXT-1": order["id"]}
    assert list(current["customers"]) == ["ann@example.com"]
    assert current["customers"]["ann@example.com"]["id"] == order["customerId"]


async def test_create_order_rejects_unknown_sku(client: httpx.AsyncClient) -> None:
    body = assert_rejected(
        await client.post("/v1/orders", json=order_body(sku="X")), 422, "SKU 'X' does not exist"
    )
    assert body["details"][0]["path"] == "lineItems[0].sku"
    current = await state(client)
    assert current["orders"] == {} and current["customers"] == {}


async def test_update_order(client: httpx.AsyncClient) -> None:
    await product(client, "A")
    order_id = (await client.post("/v1/orders", json=order_body())).json()["id"]
    change = {"status": "shipped", "trackingNumber": "TN1", "carrier": "DHL"}
    response = await client.patch(f"/v1/orders/{order_id}", json=change)
    assert response.status_code == 200
    assert {name: response.json()[name] for name in change} == change
    assert_rejected(await client.patch(f"/v1/orders/{order_id}", json={"status": "lost"}), 400)
    delivered = await client.patch(f"/v1/orders/{order_id}", json={"status": "delivered"})
    assert delivered.status_code == 200
    # Repeating the final status changes nothing and is fine; leaving it is a conflict.
    same = await client.patch(f"/v1/orders/{order_id}", json={"status": "delivered"})
    assert same.status_code == 200
    conflict = await client.patch(f"/v1/orders/{order_id}", json={"status": "cancelled"})
    assert_rejected(conflict, 409, order_id, "delivered")


async def test_update_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch("/v1/orders/ord_nope", json={"status": "confirmed"})
    assert_rejected(response, 404, "Order 'ord_nope' does not exist")


# --- body validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "bad_path"),
    [
        ("/v1/products", {"products": [{"sku": "A"}]}, "products[0].name"),
        ("/v1/inventory/levels", {"items": [{"sku": "A", "quantity": "5"}]}, "items[0].quantity"),
        ("/v1/inventory/levels", {"items": [{"sku": "A", "quantity": -1}]}, "items[0].quantity"),
        ("/v1/customers", {"firstName": "x"}, "email"),
        ("/v1/inventory/levels", "not json", "body"),
    ],
)
async def test_invalid_bodies_are_400(
    client: httpx.AsyncClient, path: str, body: Any, bad_path: str
) -> None:
    method = "POST" if "adjust" in path else "PUT"
    content = body if isinstance(body, str) else json.dumps(body)
    response = await client.request(method, path, content=content)
    details = assert_rejected(response, 400)["details"]
    assert response.json()["error"] == "validation_failed"
    assert bad_path in [detail["path"] for detail in details]


# --- Idempotency-Key ------------------------------------------------------------------


async def test_idempotency_key_replays_and_applies_once(client: httpx.AsyncClient) -> None:
    await stock(client, "A", "WH1", 5)
    body = {"items": [{"sku": "A", "adjustment": -1}]}
    headers = {"Idempotency-Key": "evt-1:adjust"}
    first = await client.post("/v1/inventory/adjustments", json=body, headers=headers)
    second = await client.post("/v1/inventory/adjustments", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    current = await state(client)
    assert current["inventory"]["A"] == {"WH1": 4}
    assert current["idempotency"] == {"evt-1:adjust": 1}
    assert current["stats"]["replayed"] == 1


async def test_idempotent_order_create_replays_201(client: httpx.AsyncClient) -> None:
    await product(client, "A")
    headers = {"Idempotency-Key": "k-order"}
    first = await client.post("/v1/orders", json=order_body(), headers=headers)
    second = await client.post("/v1/orders", json=order_body(), headers=headers)
    assert (first.status_code, first.json()) == (second.status_code, second.json())
    assert second.status_code == 201


async def test_rejections_are_stored_but_400s_are_not(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k-rejected"}
    body = {"items": [{"sku": "X", "adjustment": 1}]}
    first = await client.post("/v1/inventory/adjustments", json=body, headers=headers)
    await stock(client, "X", "WH1", 0)  # the SKU exists now, yet the key replays the 422
    second = await client.post("/v1/inventory/adjustments", json=body, headers=headers)
    assert first.status_code == second.status_code == 422 and first.json() == second.json()

    bad = await client.put("/v1/customers", json={}, headers={"Idempotency-Key": "k-400"})
    assert bad.status_code == 400
    good = await client.put(
        "/v1/customers", json={"email": "c@x.io"}, headers={"Idempotency-Key": "k-400"}
    )
    assert good.status_code == 200
    assert (await state(client))["idempotency"] == {"k-rejected": 1, "k-400": 1}


async def test_overlong_idempotency_key_is_400(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/customers", json={"email": "c@x.io"}, headers={"Idempotency-Key": "k" * 201}
    )
    assert_rejected(response, 400, "Idempotency-Key")


# --- persistence ----------------------------------------------------------------------


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "s.db"
    async with client_for(create_app(db, api_token="")) as http:
        await product(http, "A")
        await http.put("/v1/customers", json={"email": "c@x.io"}, headers={"Idempotency-Key": "k1"})
        before = await state(http)
    async with client_for(create_app(db, api_token="")) as http:
        after = await state(http)
        replay = await http.put(
            "/v1/customers", json={"email": "c@x.io"}, headers={"Idempotency-Key": "k1"}
        )
    for kind in ("products", "customers", "idempotency"):
        assert after[kind] == before[kind]
    assert replay.json()["created"] is True  # the stored first answer, not a new upsert
    assert after["idempotency"] == {"k1": 1}


# --- faults ---------------------------------------------------------------------------


async def set_faults(client: httpx.AsyncClient, **faults: Any) -> dict[str, Any]:
    response = await client.put("/_sandbox/faults", json=faults)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_down_answers_503_and_applies_nothing(client: httpx.AsyncClient) -> None:
    await set_faults(client, down=True)
    headers = {"Idempotency-Key": "k-down"}
    response = await client.put("/v1/customers", json={"email": "c@x.io"}, headers=headers)
    assert_rejected(response, 503)
    assert response.json()["error"] == "unavailable"
    current = await state(client)
    assert current["customers"] == {} and current["idempotency"] == {}
    assert current["stats"]["faultsInjected"] == 1
    await set_faults(client, down=False)
    retry = await client.put("/v1/customers", json={"email": "c@x.io"}, headers=headers)
    assert retry.status_code == 200  # the fault was not stored under the key


async def test_error_rate_one_fails_everything(client: httpx.AsyncClient) -> None:
    await set_faults(client, errorRate=1)
    for _ in range(3):
        response = await client.put("/v1/customers", json={"email": "c@x.io"})
        assert response.status_code == 503
    current = await state(client)
    assert current["customers"] == {} and current["stats"]["faultsInjected"] == 3


async def test_rate_limit_answers_429_with_retry_after(client: httpx.AsyncClient) -> None:
    faults = await set_faults(client, rateLimitPerSecond=2)
    assert faults["rateLimitPerSecond"] == 2
    statuses = []
    for index in range(4):
        response = await client.put("/v1/customers", json={"email": f"c{index}@x.io"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["error"] == "rate_limited"
    assert statuses == [200, 200, 429, 429]
    current = await state(client)
    assert len(current["customers"]) == 2
    assert current["stats"]["rateLimited"] == 2 and current["stats"]["applied"] == 2
    assert current["stats"]["peakAppliedPerSecond"] >= 1
    await set_faults(client, rateLimitPerSecond=None)
    assert (await client.put("/v1/customers", json={"email": "z@x.io"})).status_code == 200


async def test_latency_is_after_the_commit(client: httpx.AsyncClient) -> None:
    await set_faults(client, latencyMs=400)
    request = client.put(
        "/v1/customers", json={"email": "slow@x.io"}, headers={"Idempotency-Key": "k-slow"}
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(request, timeout=0.05)
    current = await state(client)
    assert "slow@x.io" in current["customers"] and current["idempotency"] == {"k-slow": 1}


async def test_faults_partial_update_and_validation(client: httpx.AsyncClient) -> None:
    assert await set_faults(client, latencyMs=5) == {
        "errorRate": 0.0,
        "latencyMs": 5,
        "down": False,
        "rateLimitPerSecond": None,
    }
    assert (await set_faults(client, errorRate=0.5))["latencyMs"] == 5
    for bad in (
        {"errorRate": 2},
        {"latencyMs": -1},
        {"down": "yes"},
        {"rateLimitPerSecond": 0},
        {"typo": 1},
    ):
        assert_rejected(await client.put("/_sandbox/faults", json=bad), 400)
    assert (await state(client))["faults"]["errorRate"] == 0.5


# --- auth and the control surface -----------------------------------------------------


async def test_bearer_token_guards_platform_routes_only(tmp_path: Path) -> None:
    app = create_app(tmp_path / "s.db", api_token="s3cret")
    async with client_for(app) as http:
        assert_rejected(await http.put("/v1/customers", json={"email": "c@x.io"}), 401)
        wrong = {"Authorization": "Bearer nope"}
        assert (
            await http.put("/v1/customers", json={"email": "c@x.io"}, headers=wrong)
        ).status_code == 401
        assert (await http.get("/_sandbox/state")).status_code == 200
    async with client_for(app, Authorization="Bearer s3cret") as http:
        assert (await http.put("/v1/customers", json={"email": "c@x.io"})).status_code == 200


async def test_token_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_API_TOKEN", "from-env")
    async with client_for(create_app(tmp_path / "s.db")) as http:
        assert (await http.put("/v1/customers", json={"email": "c@x.io"})).status_code == 401


async def test_state_shape_and_reset(client: httpx.AsyncClient) -> None:
    await product(client, "A")
    await set_faults(client, down=True)
    current = await state(client)
    assert list(current) == [
        "inventory",
        "products",
        "prices",
        "customers",
        "orders",
        "ordersByExternalId",
        "idempotency",
        "stats",
        "faults",
    ]
    assert set(current["stats"]) >= {
        "requests",
        "applied",
        "rejected",
        "faultsInjected",
        "rateLimited",
        "peakAppliedPerSecond",
    }
    assert current["stats"]["requests"] == 1 and current["stats"]["applied"] == 1
    assert (await client.post("/_sandbox/reset")).status_code == 200
    cleared = await state(client)
    assert cleared["products"] == {} and cleared["faults"]["down"] is False
    assert cleared["stats"]["requests"] == 0
