"""Named management tokens: shown once, stored as a hash, refused once revoked or
expired, mistypes refused without a read; Entra ID sign-ins only where switched on."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from shared.domain.audit import ACCOUNT_TRAIL
from shared.domain.credentials import checksum, checksum_holds
from shared.domain.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from shared.domain.models import Role
from shared.domain.tokens import IdentityKind
from shared.services.auth import Caller
from shared.services.tokens import TokenService, hash_secret
from tests.unit.fakes import FakeTokenStore, World, unit_settings

ADMIN = Caller(Role.ADMIN, "admin (MANAGEMENT_TOKEN setting)", "203.0.113.9")


def service(world: World, **settings: object) -> tuple[TokenService, FakeTokenStore]:
    store = FakeTokenStore()
    chosen = unit_settings(MANAGEMENT_TOKEN="first-admin", **settings)
    return TokenService(chosen, store, world.integrations, world.services.audit, world.clock), store


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def test_a_token_is_shown_once_stored_as_a_hash_and_names_its_holder() -> None:
    world = World()
    tokens, store = service(world)
    issued = await tokens.create({"name": "maria.ops", "role": "operator"}, ADMIN)
    assert issued.secret.startswith(f"avvyr_mgmt_{issued.token.id}_")
    assert checksum_holds(issued.secret)
    [stored] = store.tokens.values()
    assert stored.secret_hash == hash_secret(issued.secret)
    assert issued.secret not in json.dumps(stored.__dict__, default=str)
    assert stored.created_by == ADMIN.actor
    identity = await tokens.identify(bearer(issued.secret))
    assert (identity.name, identity.role, identity.kind) == ("maria.ops", Role.OPERATOR, "token")
    assert identity.token_id == issued.token.id and not identity.scoped


async def test_a_revoked_token_is_refused_at_once_and_an_expired_one_when_it_expires() -> None:
    world = World()
    tokens, _ = service(world)
    revoked = await tokens.create({"name": "leaver", "role": "admin"}, ADMIN)
    await tokens.identify(bearer(revoked.secret))
    await tokens.revoke(revoked.token.id, ADMIN)
    with pytest.raises(Unauthenticated, match="revoked"):
        await tokens.identify(bearer(revoked.secret))
    soon = (world.clock() + timedelta(hours=1)).isoformat()
    expiring = await tokens.create({"name": "ci", "role": "reader", "expiresAt": soon}, ADMIN)
    await tokens.identify(bearer(expiring.secret))
    world.clock.advance(3600)
    with pytest.raises(Unauthenticated, match="expired"):
        await tokens.identify(bearer(expiring.secret))


async def test_a_mistyped_token_is_refused_without_reading_storage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    tokens, store = service(world)
    issued = await tokens.create({"name": "tool", "role": "reader"}, ADMIN)
    reads: list[str] = []
    get = store.get

    async def counting_get(token_id: str) -> object:
        reads.append(token_id)
        return await get(token_id)

    monkeypatch.setattr(store, "get", counting_get)
    body, _, _ = issued.secret.rpartition("_")
    for mistyped in (issued.secret[:-1], issued.secret[:-2] + "zz", body + "_" + checksum("x")):
        with pytest.raises(Unauthenticated, match="mistyped"):
            await tokens.identify(bearer(mistyped))
    assert reads == []
    forged = body[:-1] + ("A" if body[-1] != "A" else "B")
    with pytest.raises(Unauthenticated):
        await tokens.identify(bearer(f"{forged}_{checksum(forged)}"))
    assert reads == [issued.token.id]


async def test_a_scoped_token_names_its_integrations_and_they_must_exist() -> None:
    world = World()
    integration, _ = await world.integration()
    tokens, _ = service(world)
    issued = await tokens.create(
        {"name": "wms", "role": "operator", "integrationIds": [integration.id]}, ADMIN
    )
    identity = await tokens.identify(bearer(issued.secret))
    assert identity.scoped and identity.may_see(integration.id)
    assert not identity.may_see("int_someone_else")
    with pytest.raises(NotFound):
        await tokens.create({"name": "x", "role": "reader", "integrationIds": ["int_nope"]}, ADMIN)


@pytest.mark.parametrize(
    "document",
    [
        {"name": "", "role": "reader"},
        {"name": "x", "role": "owner"},
        {"name": "x", "role": "reader", "integrationIds": []},
        {"name": "x", "role": "reader", "integrationIds": ["../etc"]},
        {"name": "x", "role": "reader", "expiresAt": "2020-01-01T00:00:00Z"},
        {"name": "x", "role": "reader", "expiresAt": "2030-01-01T00:00:00"},  # no zone
        {"name": "x", "role": "reader", "secret": "mine"},
        [None, None],
    ],
)
async def test_bad_token_requests_are_refused_with_a_sentence(document: object) -> None:
    tokens, _ = service(World())
    with pytest.raises(ValidationFailed):
        await tokens.create(document, ADMIN)


async def test_the_settings_token_is_the_first_admin() -> None:
    tokens, _ = service(World())
    identity = await tokens.identify(bearer("first-admin"))
    assert identity.role is Role.ADMIN and identity.kind is IdentityKind.SETTING
    with pytest.raises(Unauthenticated):
        await tokens.identify(bearer("guess"))


def principal(*roles: str) -> str:
    claims = [{"typ": "roles", "val": role} for role in roles]
    claims.append({"typ": "name", "val": "Anna Admin"})
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()


async def test_entra_sign_ins_count_only_where_built_in_authentication_is_on() -> None:
    headers = {
        "x-ms-client-principal": principal("Integrations.Reader", "Integrations.Admin"),
        "x-ms-client-principal-name": "anna@contoso.com",
    }
    off, _ = service(World())
    with pytest.raises(Unauthenticated):  # a forged header elsewhere is just no token
        await off.identify(headers)
    on, _ = service(World(), ENTRA_AUTH_ENABLED=True)
    identity = await on.identify(headers)
    assert (identity.name, identity.role, identity.kind) == ("anna@contoso.com", "admin", "entra")
    with pytest.raises(Forbidden, match="no role"):
        await on.identify({"x-ms-client-principal": principal("Other.Role")})
    with pytest.raises(Unauthenticated):
        await on.identify({"x-ms-client-principal": "not base64!"})


async def test_making_and_revoking_a_token_is_on_the_accounts_trail_without_its_secret() -> None:
    world = World()
    tokens, _ = service(world)
    issued = await tokens.create({"name": "erp-sync", "role": "operator"}, ADMIN)
    await tokens.revoke(issued.token.id, ADMIN)
    await tokens.revoke(issued.token.id, ADMIN)  # again: nothing new happens
    trail = [entry for entry in world.jobs.entries if entry.integration_id == ACCOUNT_TRAIL]
    assert [entry.action for entry in trail] == ["token.created", "token.revoked"]
    assert all(entry.actor == ADMIN.actor and entry.address == "203.0.113.9" for entry in trail)
    assert trail[0].after == {
        "id": issued.token.id,
        "name": "erp-sync",
        "role": "operator",
        "integrationIds": None,
        "expiresAt": None,
    }
    text = json.dumps([entry.to_json() for entry in trail])
    assert issued.secret not in text and hash_secret(issued.secret) not in text
