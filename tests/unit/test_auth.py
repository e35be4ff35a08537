"""Who may do what: API keys for the inbound route, role tokens for management."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.domain.errors import Forbidden, Unauthenticated
from shared.domain.models import Role
from shared.domain.tokens import Identity, IdentityKind
from shared.services.auth import (
    API_KEY_PREFIX,
    authenticate_integration,
    authorize,
    bearer_token,
    generate_api_key,
    hash_key,
    integration_named_by,
    key_hint,
    management_role,
)
from tests.unit.fakes import FakeIntegrationStore, make_integration

SETTINGS = Settings(
    MANAGEMENT_TOKEN="admin-token", OPERATOR_TOKEN="operator-token", READER_TOKEN="reader-token"
)
TOKENS = {Role.ADMIN: "admin-token", Role.OPERATOR: "operator-token", Role.READER: "reader-token"}


def test_keys_are_random_prefixed_and_stored_as_sha256() -> None:
    keys = {generate_api_key("int_0123456789abcdef") for _ in range(20)}
    assert len(keys) == 20 and all(key.startswith(API_KEY_PREFIX) for key in keys)
    key = keys.pop()
    assert hash_key(key) == hash_key(key) and len(hash_key(key)) == 64
    assert hash_key(key) != hash_key(key + "x")
    hint = key_hint(key)
    assert hint.endswith(key[-4:]) and key[len(API_KEY_PREFIX) : -4] not in hint


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "abc"])
def test_a_missing_or_malformed_header_is_401(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(header)


def test_bearer_scheme_is_case_insensitive_and_trimmed() -> None:
    assert bearer_token("bearer  tok ") == "tok"


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        (Role.READER, Role.READER, True),
        (Role.READER, Role.OPERATOR, False),
        (Role.READER, Role.ADMIN, False),
        (Role.OPERATOR, Role.READER, True),
        (Role.OPERATOR, Role.OPERATOR, True),
        (Role.OPERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.READER, True),
        (Role.ADMIN, Role.OPERATOR, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_each_role_may_do_its_own_and_lesser_things(
    role: Role, needed: Role, allowed: bool
) -> None:
    header = f"Bearer {TOKENS[role]}"
    assert management_role(SETTINGS, header) is role
    identity = Identity("someone", role, IdentityKind.TOKEN)
    if allowed:
        assert authorize(identity, needed).role is role
    else:
        with pytest.raises(Forbidden) as caught:
            authorize(identity, needed)
        assert caught.value.status == 403
        assert f"needs the {needed.value} role" in caught.value.message
        assert f"your token has {role.value}" in caught.value.message


def test_an_integration_key_on_management_routes_is_403() -> None:
    with pytest.raises(Forbidden) as caught:
        management_role(SETTINGS, f"Bearer {generate_api_key('int_0123456789abcdef')}")
    assert caught.value.status == 403 and "/integrations/custom/inbound" in caught.value.message


@pytest.mark.parametrize("token", ["wrong", "admin-token-2", "admin-toke", "ADMIN-TOKEN"])
def test_unknown_management_tokens_are_401(token: str) -> None:
    with pytest.raises(Unauthenticated):
        management_role(SETTINGS, f"Bearer {token}")


def test_roles_without_a_configured_token_cannot_be_reached() -> None:
    only_admin = Settings(MANAGEMENT_TOKEN="admin-token", OPERATOR_TOKEN="", READER_TOKEN=None)
    assert management_role(only_admin, "Bearer admin-token") is Role.ADMIN
    with pytest.raises(Unauthenticated):
        management_role(only_admin, "Bearer operator-token")
    with pytest.raises(Unauthenticated):
        management_role(only_admin, "Bearer ")


async def test_authenticate_integration_paths() -> None:
    store = FakeIntegrationStore()
    integration, key = make_integration()
    await store.add(integration)
    assert (await authenticate_integration(store, f"Bearer {key}")).id == integration.id
    with pytest.raises(Unauthenticated):
        await authenticate_integration(store, "Bearer admin-token")
    with pytest.raises(Unauthenticated):
        await authenticate_integration(store, f"Bearer {generate_api_key(integration.id)}")
    # an index row pointing at an integration that no longer exists
    store.integrations.clear()
    with pytest.raises(Unauthenticated):
        await authenticate_integration(store, f"Bearer {key}")


async def test_a_key_names_its_integration_so_authenticating_is_one_read() -> None:
    store = FakeIntegrationStore()
    integration, key = make_integration()
    await store.add(integration)
    assert integration_named_by(key) == integration.id
    store.reads = 0
    assert (await authenticate_integration(store, f"Bearer {key}")).id == integration.id
    assert store.reads == 1
    # a key naming an integration it does not belong to is refused
    other, _ = make_integration()
    await store.add(other)
    forged = key.replace(integration.id, other.id)
    with pytest.raises(Unauthenticated):
        await authenticate_integration(store, f"Bearer {forged}")


async def test_a_key_issued_without_its_integration_id_is_found_through_the_index() -> None:
    store = FakeIntegrationStore()
    integration, _ = make_integration()
    legacy = API_KEY_PREFIX + "k" * 43
    integration.key_hash = hash_key(legacy)
    await store.add(integration)
    assert integration_named_by(legacy) is None
    assert (await authenticate_integration(store, f"Bearer {legacy}")).id == integration.id
