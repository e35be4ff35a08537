"""Managing integrations: the key is shown once, only its hash is kept; changes apply."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

import pytest

from shared.api import schemas
from shared.domain.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from shared.domain.models import Integration, OrderingScope, Role
from shared.services.auth import API_KEY_PREFIX, authenticate_integration, hash_key, key_hint
from shared.services.inbound import entity_session
from shared.services.management import IssuedKey, secret_name
from tests.unit.fakes import ADMIN, World

STOCK = {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 1}]}}


def as_json(found: Integration | IssuedKey) -> dict[str, object]:
    """The answer the API makes of what the service returned."""
    if isinstance(found, IssuedKey):
        return schemas.CreatedIntegration.issued(found).to_json()
    return schemas.Integration.of(found).to_json()


async def create(world: World, **fields: object) -> dict[str, object]:
    return as_json(
        await world.management.create({"service": "custom", "name": "My ERP Sync", **fields}, ADMIN)
    )


async def test_create_returns_the_key_once_and_stores_only_its_hash() -> None:
    world = World()
    created = await create(world, enabled=True)
    key = str(created["apiKey"])
    assert key.startswith(API_KEY_PREFIX) and len(key) > len(API_KEY_PREFIX) + 30
    integration_id = str(created["id"])
    stored = world.integrations.integrations[integration_id]
    assert stored.key_hash == hash_key(key)
    assert key not in json.dumps(asdict(stored), default=str)
    assert stored.key_hint == f"{API_KEY_PREFIX}…{key[-4:]}" == created["apiKeyHint"]
    assert world.secrets.secrets == {secret_name(integration_id): key}
    assert world.integrations.key_index == {hash_key(key): integration_id}
    assert created["name"] == "My ERP Sync" and created["enabled"] is True
    assert created["orderingScope"] == "integration"
    assert stored.partition_shards == world.settings.event_partition_shards
    # later reads never show it
    again = (await world.management.get(integration_id)).to_json()
    assert "apiKey" not in again and key not in json.dumps(again)
    assert key not in json.dumps([as_json(item) for item in await world.management.list()])


async def test_the_created_key_authenticates() -> None:
    world = World()
    created = await create(world)
    found = await authenticate_integration(world.integrations, f"Bearer {created['apiKey']}")
    assert found.id == created["id"]


async def test_every_integration_gets_its_own_key() -> None:
    world = World()
    first, second = await create(world), await create(world, name="Other")
    assert first["id"] != second["id"] and first["apiKey"] != second["apiKey"]
    assert [item.name for item in await world.management.list()] == ["My ERP Sync", "Other"]


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"service": "shopify", "name": "x"}, "service"),
        ({"service": "custom", "name": "  "}, "name"),
        ({"service": "custom"}, "name"),
        ({"service": "custom", "name": "x", "apiKey": "mine"}, "apiKey"),
        ({"service": "custom", "name": "x", "orderingScope": "global"}, "orderingScope"),
    ],
)
async def test_create_refuses_bad_bodies(document: dict[str, object], path: str) -> None:
    world = World()
    with pytest.raises(ValidationFailed) as caught:
        await world.management.create(document, ADMIN)
    assert path in [problem.path for problem in caught.value.details]
    assert world.integrations.integrations == {} and world.secrets.secrets == {}


async def test_a_regenerated_key_replaces_the_old_one_at_once() -> None:
    world = World()
    created = await create(world)
    old_key, integration_id = str(created["apiKey"]), str(created["id"])
    regenerated = as_json(await world.management.regenerate_key(integration_id, ADMIN))
    new_key = str(regenerated["apiKey"])
    assert new_key.startswith(API_KEY_PREFIX) and new_key != old_key
    assert regenerated["apiKeyHint"] == f"{API_KEY_PREFIX}…{new_key[-4:]}"
    with pytest.raises(Unauthenticated):
        await authenticate_integration(world.integrations, f"Bearer {old_key}")
    assert (await authenticate_integration(world.integrations, f"Bearer {new_key}")).id == (
        integration_id
    )
    assert world.secrets.secrets[secret_name(integration_id)] == new_key
    assert hash_key(old_key) not in world.integrations.key_index


async def test_an_old_key_is_refused_even_while_its_index_row_lingers() -> None:
    world = World()
    created = await create(world)
    old_key, integration_id = str(created["apiKey"]), str(created["id"])
    await world.management.regenerate_key(integration_id, ADMIN)
    world.integrations.key_index[hash_key(old_key)] = integration_id  # delete not done yet
    with pytest.raises(Unauthenticated):
        await authenticate_integration(world.integrations, f"Bearer {old_key}")


async def test_a_patch_racing_a_key_rotation_keeps_the_new_key_working(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    created = await create(world)
    integration_id = str(created["id"])
    get = world.integrations.get
    rotated: list[dict[str, object]] = []

    async def get_then_rotate(wanted: str) -> Integration | None:
        found = await get(wanted)
        # the rotation lands between the patch's read and its write
        monkeypatch.setattr(world.integrations, "get", get)
        rotated.append(as_json(await world.management.regenerate_key(integration_id, ADMIN)))
        return found

    monkeypatch.setattr(world.integrations, "get", get_then_rotate)
    patched = as_json(await world.management.patch(integration_id, {"name": "Renamed"}, ADMIN))

    assert patched["name"] == "Renamed"
    [rotation] = rotated
    found = await authenticate_integration(world.integrations, f"Bearer {rotation['apiKey']}")
    assert found.name == "Renamed" and found.key_hint == rotation["apiKeyHint"]
    with pytest.raises(Unauthenticated):
        await authenticate_integration(world.integrations, f"Bearer {created['apiKey']}")


async def test_a_rotation_that_keeps_losing_the_race_is_a_409(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    created = await create(world)
    integration_id = str(created["id"])
    get = world.integrations.get

    async def get_then_someone_saves(wanted: str) -> Integration | None:
        found = await get(wanted)
        other = await get(wanted)
        assert other is not None
        await world.integrations.save(other)
        return found

    monkeypatch.setattr(world.integrations, "get", get_then_someone_saves)
    with pytest.raises(Conflict, match="another request"):
        await world.management.regenerate_key(integration_id, ADMIN)
    monkeypatch.setattr(world.integrations, "get", get)
    # the original key still works, and no half-made key is left in the index
    found = await authenticate_integration(world.integrations, f"Bearer {created['apiKey']}")
    assert found.id == integration_id
    assert list(world.integrations.key_index.values()) == [integration_id]


async def test_patch_enabled_turns_pushes_away_and_back() -> None:
    world = World()
    created = await create(world)
    integration_id, key = str(created["id"]), str(created["apiKey"])
    world.clock.advance(60)
    changed = as_json(await world.management.patch(integration_id, {"enabled": False}, ADMIN))
    assert changed["enabled"] is False and changed["updatedAt"] != changed["createdAt"]
    with pytest.raises(Forbidden):
        await world.push(key, STOCK)
    await world.management.patch(integration_id, {"enabled": True}, ADMIN)
    assert await world.push(key, STOCK)


async def test_patch_ordering_scope_changes_the_sessions_of_new_events() -> None:
    world = World()
    created = await create(world)
    integration_id, key = str(created["id"]), str(created["apiKey"])
    changed = as_json(
        await world.management.patch(integration_id, {"orderingScope": "entity"}, ADMIN)
    )
    assert changed["orderingScope"] == "entity"
    assert world.integrations.integrations[integration_id].ordering_scope is OrderingScope.ENTITY
    await world.push(key, STOCK)
    expected = entity_session(integration_id, "sku:A", world.settings.entity_ordering_shards)
    assert world.bus.sent[-1].session_id == expected


async def test_patch_retry_overrides_and_clearing_them() -> None:
    world = World()
    created = await create(world)
    integration_id, key = str(created["id"]), str(created["apiKey"])
    changed = as_json(
        await world.management.patch(
            integration_id,
            {"retry": {"maxAttempts": 5, "baseDelaySeconds": 2.5}, "name": "Renamed"},
            ADMIN,
        )
    )
    assert changed["retry"] == {"maxAttempts": 5, "baseDelaySeconds": 2.5}
    assert changed["name"] == "Renamed"
    event_id = await world.push(key, STOCK)
    assert world.event(event_id).max_attempts == 5
    kept = as_json(
        await world.management.patch(integration_id, {"retry": {"maxAttempts": 7}}, ADMIN)
    )
    assert kept["retry"] == {"maxAttempts": 7, "baseDelaySeconds": 2.5}  # merged, not replaced
    cleared = as_json(
        await world.management.patch(
            integration_id, {"retry": {"maxAttempts": None, "baseDelaySeconds": None}}, ADMIN
        )
    )
    assert cleared["retry"] == {"maxAttempts": None, "baseDelaySeconds": None}
    assert cleared["name"] == "Renamed"  # fields not sent are kept


@pytest.mark.parametrize(
    "document",
    [{"retry": {"maxAttempts": 0}}, {"retry": {"baseDelaySeconds": 0}}, {"enabled": "perhaps"}],
)
async def test_patch_refuses_bad_values(document: dict[str, object]) -> None:
    world = World()
    created = await create(world)
    with pytest.raises(ValidationFailed):
        await world.management.patch(str(created["id"]), document, ADMIN)
    assert world.integrations.saves == 0


async def test_unknown_integrations_are_404() -> None:
    world = World()
    for call in (
        world.management.get("int_missing"),
        world.management.patch("int_missing", {"enabled": False}, ADMIN),
        world.management.regenerate_key("int_missing", ADMIN),
    ):
        with pytest.raises(NotFound) as caught:
            await call
        assert caught.value.status == 404 and "int_missing" in caught.value.message
    assert world.secrets.secrets == {}


async def test_the_ordering_scope_changes_only_while_nothing_is_on_its_way() -> None:
    """Events queued on the old scope's sessions could be overtaken by new ones."""
    world = World()
    created = await create(world)
    integration_id, key = str(created["id"]), str(created["apiKey"])
    event_id = await world.push(key, STOCK)
    with pytest.raises(Conflict, match="still has events on their way"):
        await world.management.patch(integration_id, {"orderingScope": "entity"}, ADMIN)
    # other changes still go through, and the same scope is no change at all
    await world.management.patch(integration_id, {"name": "Renamed"}, ADMIN)
    await world.management.patch(integration_id, {"orderingScope": "integration"}, ADMIN)
    world.platform.answer(200, {"items": []})
    assert await world.deliver() == "success"
    assert world.event(event_id).check_at is None
    changed = as_json(
        await world.management.patch(integration_id, {"orderingScope": "entity"}, ADMIN)
    )
    assert changed["orderingScope"] == "entity"


# --- the audit trail ------------------------------------------------------------------------
def row_text(world: World) -> str:
    """Everything the audit rows hold, as one text to search for what must not be there."""
    return json.dumps([asdict(entry) for entry in world.jobs.entries], default=str)


async def test_each_change_writes_one_audit_row_of_what_it_changed() -> None:
    world = World()
    created = await create(world, enabled=True)
    integration_id, key = str(created["id"]), str(created["apiKey"])
    [row] = world.jobs.trail(integration_id)
    assert (row.action, row.actor, row.role, row.address) == (
        "integration.created",
        "admin:ada",
        Role.ADMIN,
        "203.0.113.7",
    )
    assert row.before is None and row.after == {
        "name": "My ERP Sync",
        "enabled": True,
        "orderingScope": "integration",
        "retry": {"maxAttempts": None, "baseDelaySeconds": None},
        "keyHint": created["apiKeyHint"],
    }

    changes: list[tuple[dict[str, object], str, dict[str, object], dict[str, object]]] = [
        ({"name": "ERP"}, "integration.changed", {"name": "My ERP Sync"}, {"name": "ERP"}),
        (
            {"retry": {"maxAttempts": 4}, "orderingScope": "entity"},
            "integration.changed",
            {
                "orderingScope": "integration",
                "retry": {"maxAttempts": None, "baseDelaySeconds": None},
            },
            {"orderingScope": "entity", "retry": {"maxAttempts": 4, "baseDelaySeconds": None}},
        ),
        ({"enabled": False}, "integration.disabled", {"enabled": True}, {"enabled": False}),
        (
            {"enabled": True, "name": "ERP (production)"},
            "integration.enabled",
            {"enabled": False, "name": "ERP"},
            {"enabled": True, "name": "ERP (production)"},
        ),
    ]
    for document, action, before, after in changes:
        world.clock.advance(1)
        await world.management.patch(integration_id, document, ADMIN)
        row = world.jobs.trail(integration_id)[-1]
        assert (row.action, row.before, row.after) == (action, before, after), document
        assert row.at == world.clock() and row.event_ids == [] and row.job_id is None
    assert len(world.jobs.trail(integration_id)) == 1 + len(changes)

    # the values it already has: nothing changed, nothing recorded
    await world.management.patch(integration_id, {"name": "ERP (production)"}, ADMIN)
    assert len(world.jobs.trail(integration_id)) == 1 + len(changes)

    new = (await world.management.regenerate_key(integration_id, ADMIN)).api_key
    row = world.jobs.trail(integration_id)[-1]
    assert (row.action, row.before, row.after) == (
        "key.regenerated",
        {"keyHint": created["apiKeyHint"]},
        {"keyHint": key_hint(new), "graceSeconds": 0},
    )
    assert len(world.jobs.trail(integration_id)) == 2 + len(changes)
    text = row_text(world)
    for secret in (key, hash_key(key), new, hash_key(new), key[len(API_KEY_PREFIX) :]):
        assert secret not in text


async def test_a_refused_change_is_not_recorded() -> None:
    world = World()
    created = await create(world)
    integration_id, key = str(created["id"]), str(created["apiKey"])
    await world.push(key, STOCK)
    before = list(world.jobs.entries)
    with pytest.raises(Conflict):
        await world.management.patch(integration_id, {"orderingScope": "entity"}, ADMIN)
    with pytest.raises(ValidationFailed):
        await world.management.patch(integration_id, {"enabled": "maybe"}, ADMIN)
    with pytest.raises(ValidationFailed):
        await world.management.create({"service": "custom"}, ADMIN)
    assert world.jobs.entries == before


async def test_an_audit_write_refused_for_a_moment_is_tried_again() -> None:
    world = World()
    created = await create(world)
    world.jobs.audit_outages = 2
    await world.management.patch(str(created["id"]), {"enabled": False}, ADMIN)
    assert [row.action for row in world.jobs.entries] == [
        "integration.created",
        "integration.disabled",
    ]


async def test_a_change_whose_audit_row_cannot_be_stored_stands_and_the_row_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The change was made: answering it as failed would invite a second one. The row
    goes to the log at ERROR instead, whole, so it is not lost silently."""
    world = World()
    created = await create(world)
    integration_id, key = str(created["id"]), str(created["apiKey"])
    world.jobs.audit_outages = 10
    at = world.clock()
    changed = await world.management.patch(integration_id, {"enabled": False}, ADMIN)
    assert changed.enabled is False
    assert world.integrations.integrations[integration_id].enabled is False
    assert [row.action for row in world.jobs.entries] == ["integration.created"]
    [logged] = [r for r in caplog.records if r.name == "integrations.audit"]
    assert logged.levelno == logging.ERROR
    message = logged.getMessage()
    row = json.loads(message.split("Row: ", 1)[1])
    assert row == {
        "integrationId": integration_id,
        "at": at.isoformat(),
        "action": "integration.disabled",
        "actor": "admin:ada",
        "role": "admin",
        "address": "203.0.113.7",
        "before": {"enabled": True},
        "after": {"enabled": False},
        "eventIds": [],
        "jobId": None,
    }
    assert key not in message and hash_key(key) not in message
    assert world.clock() > at  # it waited between its tries
