"""The account's own trail (`GET /v1/audit`): what belongs to no one integration —
tokens made and revoked, personal data erased — newest first, without the secret or
the value, and only for an admin whose token sees every integration."""

from __future__ import annotations

import json

from shared.api import http_api
from shared.api.http_api import ApiRequest, ApiResponse
from tests.unit.fakes import World, unit_settings

ADMIN = "first-admin"
ORDER = {
    "action": "order.create",
    "data": {
        "externalId": "ERP-1",
        "customer": {"email": "anna@example.com", "firstName": "Anna"},
        "lineItems": [{"sku": "A", "quantity": 1, "unitPrice": 100}],
    },
}


async def call(
    world: World, method: str, template: str, body: object = None, **params: str
) -> ApiResponse:
    headers = {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"}
    raw = json.dumps(body).encode() if body is not None else b""
    request = ApiRequest(method, headers, raw, params)
    return await http_api.serve(world.services, template, request)


async def test_tokens_and_erasures_are_on_the_accounts_trail_newest_first() -> None:
    world = World(settings=unit_settings(MANAGEMENT_TOKEN=ADMIN))
    _, key = await world.integration()
    world.platform.answer(201, {"id": "ord_1"})
    await world.push(key, ORDER)
    await world.deliver()
    made = await call(world, "POST", "v1/tokens", {"name": "grafana", "role": "reader"})
    assert made.status == 201
    revoked = await call(world, "DELETE", "v1/tokens/{tokenId}", tokenId=made.body["id"])
    assert revoked.status == 200 and revoked.body["revokedAt"]
    erased = await call(world, "POST", "v1/privacy/erase", {"email": "ANNA@example.com"})
    assert erased.status == 200, erased.body
    assert erased.body["eventsRewritten"] == 1 and erased.body["complete"] is True

    trail = await call(world, "GET", "v1/audit")
    assert trail.status == 200
    actions = [entry["action"] for entry in trail.body["entries"]]
    assert actions == ["data.erased", "token.revoked", "token.created"]
    text = json.dumps(trail.body)
    assert made.body["token"] not in text and "anna@example.com" not in text.lower()
    assert all(
        entry["actor"] == "admin (MANAGEMENT_TOKEN setting)" for entry in trail.body["entries"]
    )


async def test_any_token_may_read_how_long_data_is_kept() -> None:
    world = World(
        settings=unit_settings(
            MANAGEMENT_TOKEN=ADMIN, RETENTION_EVENT_DAYS=14, RETENTION_AUDIT_DAYS=400
        )
    )
    kept = await call(world, "GET", "v1/retention")
    assert kept.status == 200
    assert kept.body == {"eventDays": 14.0, "auditDays": 400.0, "versionDays": 365.0}
