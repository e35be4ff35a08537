"""API keys you can recognise and roll safely: a checksum that refuses a mistyped key
without a storage read, each key's last use (written at most once per 5 minutes), and a
regeneration that may keep the old key working for a grace period the admin chooses."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest

from shared.api import http_api, schemas
from shared.api.http_api import ApiRequest
from shared.domain import credentials
from shared.domain.clock import iso
from shared.domain.errors import Unauthenticated, ValidationFailed
from shared.domain.models import Integration
from shared.services.auth import (
    API_KEY_PREFIX,
    CHECKED_KEY,
    authenticate_integration,
    generate_api_key,
    hash_key,
    integration_named_by,
)
from shared.services.key_usage import LAST_USED_EVERY, KeyUsage
from shared.services.management import MAX_GRACE_SECONDS
from tests.unit.fakes import (
    ADMIN,
    FakeClock,
    FakeIntegrationStore,
    World,
    make_integration,
    unit_settings,
)

STOCK = {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 1}]}}


def _typo(key: str, at: int) -> str:
    """The key with one character changed to another of the same alphabet."""
    swapped = "b" if key[at] == "a" else "a"
    return key[:at] + swapped + key[at + 1 :]


# --- the checksum -------------------------------------------------------------------


def test_a_new_key_names_its_integration_and_ends_in_a_checksum() -> None:
    key = generate_api_key("int_0123456789abcdef")
    assert key.startswith(f"{API_KEY_PREFIX}int_0123456789abcdef_")
    assert CHECKED_KEY.fullmatch(key) and credentials.checksum_holds(key)
    assert integration_named_by(key) == "int_0123456789abcdef"
    assert len(key) == len(API_KEY_PREFIX) + 20 + 1 + 43 + 1 + credentials.CHECKSUM_LENGTH


@pytest.mark.parametrize(
    "spoil",
    [
        lambda key: _typo(key, len(API_KEY_PREFIX) + 30),  # in the random part
        lambda key: _typo(key, len(key) - 1),  # in the checksum
        lambda key: _typo(key, len(API_KEY_PREFIX) + 10),  # in the integration id
        lambda key: key[:-1],  # cut short by one
        lambda key: key[:-8],  # the checksum lost
        lambda key: key[: len(API_KEY_PREFIX) + 40],  # cut in the middle
        lambda key: key + "x",  # one too many
    ],
)
async def test_a_mistyped_or_cut_short_key_is_refused_without_a_storage_read(
    spoil: Any,
) -> None:
    store = FakeIntegrationStore()
    integration, key = make_integration()
    await store.add(integration)
    spoiled = spoil(key)
    assert spoiled != key
    with pytest.raises(Unauthenticated) as caught:
        await authenticate_integration(store, f"Bearer {spoiled}")
    assert caught.value.status == 401
    assert "mistyped or cut short" in caught.value.message
    assert store.reads == 0


async def test_a_whole_key_is_one_read_and_an_unknown_whole_key_one_read_too() -> None:
    store = FakeIntegrationStore()
    integration, key = make_integration()
    await store.add(integration)
    assert (await authenticate_integration(store, f"Bearer {key}")).id == integration.id
    assert store.reads == 1
    with pytest.raises(Unauthenticated):  # right shape and checksum, not this key
        await authenticate_integration(store, f"Bearer {generate_api_key(integration.id)}")
    assert store.reads == 2


async def test_keys_issued_before_the_checksum_keep_working() -> None:
    store = FakeIntegrationStore()
    named, _ = make_integration()
    named_key = f"{API_KEY_PREFIX}{named.id}_{secrets.token_urlsafe(32)}"  # with its id
    named.key_hash = hash_key(named_key)
    unnamed, _ = make_integration()
    unnamed_key = API_KEY_PREFIX + secrets.token_urlsafe(32)  # the oldest: no id at all
    unnamed.key_hash = hash_key(unnamed_key)
    for integration in (named, unnamed):
        await store.add(integration)
    assert integration_named_by(named_key) == named.id
    assert (await authenticate_integration(store, f"Bearer {named_key}")).id == named.id
    assert (await authenticate_integration(store, f"Bearer {unnamed_key}")).id == unnamed.id


# --- last used ----------------------------------------------------------------------


async def test_a_keys_last_use_is_written_at_most_once_per_five_minutes() -> None:
    world = World()
    integration, key = await world.integration()
    shown = schemas.Integration.of(await world.management.get(integration.id)).to_json()
    assert shown["apiKeyLastUsedAt"] is None  # never used
    first = world.clock()
    for _ in range(20):
        await world.push(key, STOCK)
    assert world.integrations.uses == 1
    world.clock.advance(LAST_USED_EVERY.total_seconds() - 1)
    await world.push(key, STOCK)
    assert world.integrations.uses == 1
    shown = schemas.Integration.of(await world.management.get(integration.id)).to_json()
    assert shown["apiKeyLastUsedAt"] == iso(first)  # to within 5 minutes
    world.clock.advance(1)
    await world.push(key, STOCK)
    await world.push(key, STOCK)
    assert world.integrations.uses == 2
    stored = await world.management.get(integration.id)
    assert stored.key_last_used_at == world.clock()


async def test_noting_a_use_adds_no_read_and_is_dropped_over_a_changed_copy() -> None:
    world = World()
    integration, key = await world.integration()
    world.integrations.reads = 0
    await world.push(key, STOCK)
    assert world.integrations.reads == 1  # the authenticating read, nothing more
    # a copy read before someone else's write is not written over
    usage = KeyUsage(world.integrations)
    stale = await world.integrations.get(integration.id)
    assert stale is not None
    await world.management.patch(integration.id, {"name": "Renamed"}, ADMIN)
    await usage.note(stale, previous=False, now=world.clock() + timedelta(hours=1))
    stored = await world.integrations.get(integration.id)
    assert stored is not None and stored.name == "Renamed"
    assert stored.key_last_used_at == world.clock()


async def test_requests_arriving_together_in_one_process_make_one_write() -> None:
    store = FakeIntegrationStore()
    integration, _ = make_integration()
    await store.add(integration)
    usage, now = KeyUsage(store), FakeClock()()
    copies = [await store.get(integration.id) for _ in range(5)]  # read before any write
    for copy in copies:
        assert copy is not None
        await usage.note(copy, previous=False, now=now)
    assert store.uses == 1


async def test_a_patch_racing_a_noted_use_still_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    integration, key = await world.integration()
    get = world.integrations.get

    async def get_then_push(wanted: str) -> Integration | None:
        found = await get(wanted)
        monkeypatch.setattr(world.integrations, "get", get)
        await world.push(key, STOCK)  # notes the use: the copy read is now stale
        return found

    monkeypatch.setattr(world.integrations, "get", get_then_push)
    changed = await world.management.patch(integration.id, {"name": "Renamed"}, ADMIN)
    assert changed.name == "Renamed" and changed.key_last_used_at == world.clock()


# --- a grace period on regeneration ---------------------------------------------------


async def test_by_default_the_old_key_is_refused_at_once() -> None:
    world = World()
    integration, old_key = await world.integration()
    for body in (None, {}, {"graceSeconds": 0}):
        issued = await world.management.regenerate_key(integration.id, ADMIN, body)
        answer = schemas.NewApiKey.of(issued).to_json()
        assert answer["previousKeyValidUntil"] is None and answer["previousKeyHint"] is None
        with pytest.raises(Unauthenticated, match="may have been regenerated"):
            await world.push(old_key, STOCK)
        assert await world.push(issued.api_key, STOCK)
        assert hash_key(old_key) not in world.integrations.key_index
        old_key = issued.api_key


async def test_a_grace_period_keeps_the_old_key_working_until_its_deadline() -> None:
    world = World()
    integration, old_key = await world.integration()
    await world.push(old_key, STOCK)
    issued = await world.management.regenerate_key(integration.id, ADMIN, {"graceSeconds": 600})
    deadline = world.clock() + timedelta(seconds=600)
    answer = schemas.NewApiKey.of(issued).to_json()
    assert answer["previousKeyValidUntil"] == iso(deadline)
    assert answer["previousKeyHint"] == f"{API_KEY_PREFIX}…{old_key[-4:]}"
    assert await world.push(issued.api_key, STOCK)
    world.clock.advance(599)
    assert await world.push(old_key, STOCK)  # one second left
    shown = schemas.Integration.of(await world.management.get(integration.id)).to_json()
    assert shown["previousKeyLastUsedAt"] == iso(world.clock())  # the old key's own use
    assert shown["previousKeyValidUntil"] == iso(deadline)
    world.clock.advance(1)
    with pytest.raises(Unauthenticated) as caught:
        await world.push(old_key, STOCK)
    assert "grace period ended" in caught.value.message
    assert str(iso(deadline)) in caught.value.message
    assert await world.push(issued.api_key, STOCK)


async def test_a_second_regeneration_ends_the_first_grace() -> None:
    world = World()
    integration, first_key = await world.integration()
    second = await world.management.regenerate_key(integration.id, ADMIN, {"graceSeconds": 3600})
    world.clock.advance(60)
    third = await world.management.regenerate_key(integration.id, ADMIN, {"graceSeconds": 3600})
    with pytest.raises(Unauthenticated):
        await world.push(first_key, STOCK)  # only one previous key: the first is gone
    assert await world.push(second.api_key, STOCK)  # now the previous key, in its grace
    assert await world.push(third.api_key, STOCK)
    assert hash_key(first_key) not in world.integrations.key_index
    row = world.jobs.trail(integration.id)[-1]
    assert row.before == {
        "keyHint": second.integration.key_hint,
        "previousKeyHint": f"{API_KEY_PREFIX}…{first_key[-4:]}",
        "previousKeyValidUntil": iso(world.clock() - timedelta(seconds=60) + timedelta(hours=1)),
    }
    # and one without a grace ends the second's at once
    await world.management.regenerate_key(integration.id, ADMIN)
    with pytest.raises(Unauthenticated):
        await world.push(second.api_key, STOCK)


async def test_the_audit_row_says_the_grace_and_never_a_key() -> None:
    world = World()
    integration, old_key = await world.integration()
    issued = await world.management.regenerate_key(integration.id, ADMIN, {"graceSeconds": 90})
    row = world.jobs.trail(integration.id)[-1]
    assert row.action == "key.regenerated"
    assert row.after == {
        "keyHint": issued.integration.key_hint,
        "graceSeconds": 90,
        "previousKeyHint": f"{API_KEY_PREFIX}…{old_key[-4:]}",
        "previousKeyValidUntil": iso(world.clock() + timedelta(seconds=90)),
    }
    text = json.dumps([row.before, row.after])
    for secret in (old_key, issued.api_key, hash_key(old_key), hash_key(issued.api_key)):
        assert secret not in text


async def test_a_key_without_its_id_keeps_its_index_row_during_its_grace() -> None:
    world = World()
    integration, _ = await world.integration()
    legacy = API_KEY_PREFIX + secrets.token_urlsafe(32)
    stored = world.integrations.integrations[integration.id]
    stored.key_hash = hash_key(legacy)
    world.integrations.key_index[hash_key(legacy)] = integration.id
    await world.management.regenerate_key(integration.id, ADMIN, {"graceSeconds": 60})
    assert (
        await authenticate_integration(world.integrations, f"Bearer {legacy}", now=world.clock())
    ).id == integration.id
    world.clock.advance(60)
    with pytest.raises(Unauthenticated, match="grace period ended"):
        await authenticate_integration(world.integrations, f"Bearer {legacy}", now=world.clock())


@pytest.mark.parametrize(
    "body",
    [
        {"graceSeconds": -1},
        {"graceSeconds": MAX_GRACE_SECONDS + 1},
        {"graceSeconds": "60"},
        {"graceSeconds": 1.5},
        {"graceSeconds": True},
        {"graceSeconds": None},
        {"grace": 60},
    ],
)
async def test_a_bad_grace_is_400_and_changes_nothing(body: dict[str, Any]) -> None:
    world = World()
    integration, key = await world.integration()
    with pytest.raises(ValidationFailed) as caught:
        await world.management.regenerate_key(integration.id, ADMIN, body)
    assert caught.value.status == 400 and caught.value.details
    assert await world.push(key, STOCK)  # the key still works: nothing was rotated
    assert world.jobs.trail(integration.id) == []


async def test_the_route_takes_an_empty_or_a_json_body() -> None:
    admin = "admin-secret"
    world = World(settings=unit_settings(MANAGEMENT_TOKEN=admin))
    integration, old_key = await world.integration()
    template = "v1/integrations/{id}/regenerate-key"

    async def send(body: bytes, content_type: str = "application/json") -> Any:
        headers = {"authorization": f"Bearer {admin}", "content-type": content_type}
        request = ApiRequest("POST", headers, body, {"id": integration.id})
        return await http_api.serve(world.services, template, request)

    empty = await send(b"")
    assert empty.status == 200 and empty.body["previousKeyValidUntil"] is None
    graced = await send(json.dumps({"graceSeconds": MAX_GRACE_SECONDS}).encode())
    assert graced.status == 200
    until = world.clock() + timedelta(days=7)
    assert graced.body["previousKeyValidUntil"] == iso(until)
    assert await world.push(empty.body["apiKey"], STOCK)  # the key it replaced, in grace
    too_long = await send(b'{"graceSeconds": 604801}')
    assert too_long.status == 400 and too_long.body["details"][0]["path"] == "graceSeconds"
    assert (await send(b"graceSeconds=5", "text/plain")).status == 415
    with pytest.raises(Unauthenticated):
        await world.push(old_key, STOCK)
