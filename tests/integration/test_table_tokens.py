"""Named tokens on Table Storage: a point read by id, saved only over the copy read."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from shared.adapters.azure_storage import StorageClients
from shared.adapters.table_tokens import TableTokenStore
from shared.config import Settings
from shared.domain.models import Role
from shared.domain.tokens import ManagementToken
from shared.services.ports import StaleWrite

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def storage(azurite: str) -> AsyncIterator[StorageClients]:
    clients = StorageClients(Settings.model_validate({"AzureWebJobsStorage": azurite}))
    yield clients
    await clients.close()


def token(**changes: object) -> ManagementToken:
    made = ManagementToken(
        id="tok_" + secrets.token_hex(8),
        name="maria.ops",
        role=Role.OPERATOR,
        secret_hash="ab" * 32,
        created_at=NOW,
        created_by="admin (MANAGEMENT_TOKEN setting)",
        integration_ids=["int_0123456789abcdef"],
        expires_at=NOW + timedelta(days=30),
    )
    for name, value in changes.items():
        setattr(made, name, value)
    return made


async def test_a_token_reads_back_as_it_was_made(storage: StorageClients) -> None:
    store = TableTokenStore(storage)
    made, unscoped = token(), token(integration_ids=None, expires_at=None)
    await store.add(made)
    await store.add(unscoped)
    found = await store.get(made.id)
    assert found is not None and found.etag
    assert (found.name, found.role, found.secret_hash) == (made.name, made.role, made.secret_hash)
    assert found.integration_ids == made.integration_ids and found.expires_at == made.expires_at
    other = await store.get(unscoped.id)
    assert other is not None and other.integration_ids is None and other.expires_at is None
    assert await store.get("tok_" + "0" * 16) is None
    assert {made.id, unscoped.id} <= {listed.id for listed in await store.list()}


async def test_a_save_over_a_stale_copy_is_refused(storage: StorageClients) -> None:
    store = TableTokenStore(storage)
    made = token()
    await store.add(made)
    first, second = await store.get(made.id), await store.get(made.id)
    assert first is not None and second is not None
    first.revoked_at, first.revoked_by = NOW, "admin"
    await store.save(first)
    second.last_used_at = NOW
    with pytest.raises(StaleWrite):
        await store.save(second)
    stored = await store.get(made.id)
    assert stored is not None and stored.revoked_at == NOW and stored.last_used_at is None
