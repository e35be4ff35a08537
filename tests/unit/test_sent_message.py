"""The sender's view: a system asks about its own message with its own key, and learns
nothing about any other integration's."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import http_api
from shared.api.http_api import ApiRequest, ApiResponse
from tests.unit.fakes import World, unit_settings

ROUTE = "integrations/custom/events/{messageId}"
ADJUST = {"action": "inventory.adjust", "data": {"items": [{"sku": "NOPE", "adjustment": 1}]}}


async def ask(world: World, key: str | None, message_id: str) -> ApiResponse:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    request = ApiRequest("GET", headers, b"", {"messageId": message_id})
    return await http_api.serve(world.services, ROUTE, request)


async def test_a_sender_sees_its_message_the_platforms_words_and_the_record_ids() -> None:
    world = World()
    _, key = await world.integration()
    world.platform.answer(422, {"error": "unknown_sku", "message": "SKU 'NOPE' does not exist"})
    event_id = await world.push(key, ADJUST)
    queued = await ask(world, key, event_id)
    assert queued.status == 200 and queued.body["status"] == "queued"
    assert queued.body["messageId"] == event_id and queued.body["attempts"] == 0
    await world.deliver()
    failed = (await ask(world, key, event_id)).body
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert failed["lastError"]["kind"] == "permanent"
    assert failed["lastError"]["httpStatus"] == 422
    assert "NOPE" in failed["lastError"]["message"]
    assert "payload" not in failed and "attemptLog" not in failed

    world.platform.answer(200, {})
    applied_id = await world.push(
        key, {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 1}]}}
    )
    await world.deliver()
    applied = (await ask(world, key, applied_id)).body
    assert applied["status"] == "success" and applied["result"] is not None


async def test_another_integrations_message_is_not_found_like_an_id_that_never_was() -> None:
    world = World()
    _, key = await world.integration()
    _, other_key = await world.integration()
    event_id = await world.push(key, ADJUST)
    foreign = await ask(world, other_key, event_id)
    unknown = await ask(world, other_key, event_id[:-4] + "0000")
    assert foreign.status == unknown.status == 404
    assert _words(foreign.body, event_id) == _words(unknown.body, event_id[:-4] + "0000")


async def test_a_malformed_id_is_not_found_without_asking_storage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    _, key = await world.integration()
    asked: list[str] = []
    get = world.events.get

    async def recording_get(integration_id: str, event_id: str, shards: int) -> Any:
        asked.append(event_id)
        return await get(integration_id, event_id, shards)

    monkeypatch.setattr(world.events, "get", recording_get)
    answer = await ask(world, key, "../../etc\x00")
    assert answer.status == 404 and asked == []
    assert "\x00" not in answer.body["message"]
    assert (await ask(world, key, "01968b49-ed00-7d41-9a2b-3c4d5e6f7a8b")).status == 404
    assert asked == ["01968b49-ed00-7d41-9a2b-3c4d5e6f7a8b"]


async def test_only_the_integrations_own_enabled_key_may_ask() -> None:
    world = World(settings=unit_settings(READER_TOKEN="reader-token"))
    integration, key = await world.integration()
    event_id = await world.push(key, ADJUST)
    assert (await ask(world, None, event_id)).status == 401
    assert (await ask(world, "reader-token", event_id)).status == 401
    mistyped = key[:-1] + ("y" if key.endswith("x") else "x")
    assert (await ask(world, mistyped, event_id)).status == 401
    stored = await world.integrations.get(integration.id)  # as it is now, key use noted
    assert stored is not None
    stored.enabled = False
    await world.integrations.save(stored)
    assert (await ask(world, key, event_id)).status == 403


async def test_asking_is_throttled_on_a_budget_of_its_own() -> None:
    world = World(settings=unit_settings(INBOUND_REQUESTS_PER_SECOND=2))
    _, key = await world.integration()
    event_id = await world.push(key, ADJUST)
    statuses = [(await ask(world, key, event_id)).status for _ in range(10)]
    assert 429 in statuses and statuses[0] == 200
    throttled = await ask(world, key, event_id)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) >= 1
    # pushing still has its own budget
    assert await world.push(key, ADJUST)


def _words(body: dict[str, Any], message_id: str) -> str:
    return str(body["message"]).replace(repr(message_id), "<id>")
