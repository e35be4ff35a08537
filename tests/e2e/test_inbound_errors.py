"""Bad input over HTTP: each gets its status and a sentence the data owner can act on,
never a 500; and the authentication rules between keys, tokens and routes."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN, OPERATOR, READER, Stack

pytestmark = pytest.mark.e2e
INBOUND = "/integrations/custom/inbound"
GOOD = {
    "action": "inventory.set",
    "data": {"items": [{"sku": "E-1", "quantity": 1, "warehouseId": "w"}]},
}


@pytest.fixture(scope="module")
def integration(stack: Stack) -> dict[str, str]:
    return stack.new_integration("Bad input")


def inbound(stack: Stack, key: str | None, **kwargs: object) -> tuple[int, dict[str, object]]:
    headers = dict(kwargs.pop("headers", {}))  # type: ignore[call-overload]
    if key:
        headers["Authorization"] = f"Bearer {key}"
    answer = stack.http.post(stack.api + INBOUND, headers=headers, **kwargs)  # type: ignore[arg-type]
    return answer.status_code, answer.json()


@pytest.mark.parametrize(
    ("body", "status", "path", "words"),
    [
        ({"action": "stock.set", "data": {}}, 400, "action", "Supported actions: inventory.set"),
        ({"data": {}}, 400, "action", "missing"),
        ({"action": "inventory.set"}, 400, "data", "missing"),
        (
            {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": -3}]}},
            400,
            "data.items[0].quantity",
            "not valid",
        ),
        (
            {"action": "price.set", "data": {"items": [{"sku": "A", "sellingPrice": 49.9}]}},
            400,
            "data.items[0].sellingPrice",
            "not valid",
        ),
        (
            {"action": "order.update", "data": {"status": "shipped"}},
            400,
            "entityId",
            "needs 'entityId'",
        ),
        (
            {"action": "customer.upsert", "data": {"email": "not-an-email"}},
            400,
            "data.email",
            "not valid",
        ),
        (
            {"action": "inventory.adjust", "data": {"items": [{"sku": "A", "adjustmnt": 1}]}},
            400,
            "data.items[0].adjustmnt",
            "not valid",
        ),
    ],
)
def test_invalid_requests_get_400_with_field_paths(
    stack: Stack,
    integration: dict[str, str],
    body: dict[str, object],
    status: int,
    path: str,
    words: str,
) -> None:
    code, answer = inbound(stack, integration["apiKey"], json=body)
    assert code == status
    assert words in str(answer["message"])
    assert path in [detail["path"] for detail in answer["details"]]  # type: ignore[attr-defined]


def test_malformed_json_is_400(stack: Stack, integration: dict[str, str]) -> None:
    code, answer = inbound(
        stack,
        integration["apiKey"],
        content=b'{"action": "inventory.set", ',
        headers={"Content-Type": "application/json"},
    )
    assert code == 400 and "not valid JSON" in str(answer["message"])


def test_not_json_is_415(stack: Stack, integration: dict[str, str]) -> None:
    code, answer = inbound(
        stack, integration["apiKey"], content=b"sku=A", headers={"Content-Type": "text/plain"}
    )
    assert code == 415 and "application/json" in str(answer["message"])


def test_too_large_body_is_413(stack: Stack, integration: dict[str, str]) -> None:
    items = [{"sku": f"S-{n}", "quantity": 1, "warehouseId": "w" * 90} for n in range(9000)]
    code, answer = inbound(
        stack, integration["apiKey"], json={"action": "inventory.set", "data": {"items": items}}
    )
    assert code == 413 and "limit" in str(answer["message"])


def test_too_many_items_is_413(stack: Stack, integration: dict[str, str]) -> None:
    items = [{"sku": f"S-{n}", "quantity": 1} for n in range(1001)]
    code, answer = inbound(
        stack, integration["apiKey"], json={"action": "inventory.set", "data": {"items": items}}
    )
    assert code == 413 and "1,000" in str(answer["message"])


def test_missing_and_unknown_keys_are_401(stack: Stack) -> None:
    assert inbound(stack, None, json=GOOD)[0] == 401
    assert inbound(stack, "avvyr_int_live_not-a-real-key", json=GOOD)[0] == 401


def test_management_token_is_refused_by_the_inbound_route(stack: Stack) -> None:
    code, answer = inbound(stack, ADMIN, json=GOOD)
    assert code == 401 and "API key" in str(answer["message"])


def test_api_key_is_refused_by_management_and_read_routes(
    stack: Stack, integration: dict[str, str]
) -> None:
    key, ident = integration["apiKey"], integration["id"]
    for method, path, body in [
        ("POST", "/v1/integrations/", {"service": "custom", "name": "x"}),
        ("GET", f"/v1/integrations/{ident}", None),
        ("PATCH", f"/v1/integrations/{ident}", {"enabled": False}),
        ("POST", f"/v1/integrations/{ident}/regenerate-key", None),
        ("POST", "/v1/integrations/events/filter", {"integrationId": ident}),
    ]:
        answer = stack.call(method, path, key, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert "management token" in answer.json()["message"]


def test_roles_limit_what_a_token_may_do(stack: Stack, integration: dict[str, str]) -> None:
    ident = integration["id"]
    filter_body = {"integrationId": ident}
    assert (
        stack.call("POST", "/v1/integrations/events/filter", READER, json=filter_body).status_code
        == 200
    )
    assert (
        stack.call("PATCH", f"/v1/integrations/{ident}", READER, json={"enabled": True}).status_code
        == 403
    )
    assert (
        stack.call(
            "PATCH", f"/v1/integrations/{ident}", OPERATOR, json={"enabled": True}
        ).status_code
        == 403
    )
    assert stack.call("GET", f"/v1/integrations/{ident}", "wrong-token").status_code == 401


def test_regenerated_key_invalidates_the_old_one(stack: Stack) -> None:
    created = stack.new_integration("Rotation")
    old_key = created["apiKey"]
    assert stack.push(old_key, GOOD).status_code == 202
    rotated = stack.admin("POST", f"/v1/integrations/{created['id']}/regenerate-key")
    assert rotated.status_code == 200
    new_key = rotated.json()["apiKey"]
    assert new_key.startswith("avvyr_int_live_") and new_key != old_key
    assert stack.push(old_key, GOOD).status_code == 401
    assert stack.push(new_key, GOOD).status_code == 202


def test_disabled_integration_gets_403_until_enabled(stack: Stack) -> None:
    created = stack.new_integration("Disable me")
    ident, key = created["id"], created["apiKey"]
    assert (
        stack.admin("PATCH", f"/v1/integrations/{ident}", json={"enabled": False}).status_code
        == 200
    )
    answer = stack.push(key, GOOD)
    assert answer.status_code == 403 and "disabled" in answer.json()["message"]
    assert (
        stack.admin("PATCH", f"/v1/integrations/{ident}", json={"enabled": True}).status_code == 200
    )
    assert stack.push(key, GOOD).status_code == 202


def test_management_errors(stack: Stack) -> None:
    answer = stack.admin("POST", "/v1/integrations", json={"service": "sap", "name": "x"})
    assert answer.status_code == 400 and answer.json()["details"][0]["path"] == "service"
    assert stack.admin("GET", "/v1/integrations/int_missing").status_code == 404
    created = stack.new_integration("Events 404")
    missing = stack.admin("GET", f"/v1/integrations/{created['id']}/events/not-an-id")
    assert missing.status_code == 404
    bad_token = stack.admin(
        "POST",
        "/v1/integrations/events/filter",
        json={"integrationId": created["id"], "continuationToken": "%%%"},
    )
    assert bad_token.status_code == 400


def test_create_with_and_without_trailing_slash(stack: Stack) -> None:
    for path in ("/v1/integrations", "/v1/integrations/"):
        answer = stack.admin("POST", path, json={"service": "custom", "enabled": True, "name": "S"})
        assert answer.status_code == 201 and answer.json()["apiKey"].startswith("avvyr_int_live_")
