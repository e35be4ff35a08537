"""Integrations and API-key hashes in Table Storage.

`integrations`: PartitionKey = integration id (one small partition each); the row holds
the key's hash, and during a regeneration's grace period the previous key's hash with
its expiry, and each key's last-used time. Rows written before these fields read as
"no previous key, never used".
`apikeys`: PartitionKey = SHA-256 of the key, so authenticating is one point read.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure_storage import StorageClients, translate_errors, write_entity
from shared.domain.errors import TransientError
from shared.domain.models import Integration, OrderingScope
from shared.services.ports import IntegrationStore, StaleWrite

ROW = "integration"
KEY_ROW = "key"


def to_entity(integration: Integration) -> dict[str, Any]:
    return {
        "PartitionKey": integration.id,
        "RowKey": ROW,
        "name": integration.name,
        "service": integration.service,
        "enabled": integration.enabled,
        "keyHash": integration.key_hash,
        "keyHint": integration.key_hint,
        "orderingScope": integration.ordering_scope.value,
        "partitionShards": integration.partition_shards,
        "retryMaxAttempts": integration.retry_max_attempts,
        "retryBaseDelaySeconds": integration.retry_base_delay_seconds,
        "keyLastUsedAt": integration.key_last_used_at,
        "previousKeyHash": integration.previous_key_hash,
        "previousKeyHint": integration.previous_key_hint,
        "previousKeyValidUntil": integration.previous_key_valid_until,
        "previousKeyLastUsedAt": integration.previous_key_last_used_at,
        "createdAt": integration.created_at,
        "updatedAt": integration.updated_at,
    }


def from_entity(entity: Any) -> Integration:
    return Integration(
        id=entity["PartitionKey"],
        name=entity["name"],
        service=entity["service"],
        enabled=bool(entity["enabled"]),
        key_hash=entity["keyHash"],
        key_hint=entity.get("keyHint", ""),
        ordering_scope=OrderingScope(entity.get("orderingScope", "integration")),
        partition_shards=int(entity.get("partitionShards", 8)),
        retry_max_attempts=entity.get("retryMaxAttempts"),
        retry_base_delay_seconds=entity.get("retryBaseDelaySeconds"),
        key_last_used_at=entity.get("keyLastUsedAt"),
        previous_key_hash=entity.get("previousKeyHash"),
        previous_key_hint=entity.get("previousKeyHint"),
        previous_key_valid_until=entity.get("previousKeyValidUntil"),
        previous_key_last_used_at=entity.get("previousKeyLastUsedAt"),
        created_at=entity["createdAt"],
        updated_at=entity["updatedAt"],
        etag=entity.metadata.get("etag"),
    )


class TableIntegrationStore(IntegrationStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._integrations = storage.table("integrations")
        self._keys = storage.table("apikeys")

    async def add(self, integration: Integration) -> None:
        await self._storage.ensure_created()
        with translate_errors():
            await self._keys.upsert_entity(self._key_row(integration))
            meta = await self._integrations.create_entity(to_entity(integration))
        integration.etag = meta.get("etag")

    async def get(self, integration_id: str) -> Integration | None:
        await self._storage.ensure_created()
        try:
            with translate_errors():
                entity = await self._integrations.get_entity(integration_id, ROW)
        except ResourceNotFoundError:
            return None
        return from_entity(entity)

    async def save(self, integration: Integration) -> None:
        entity = to_entity(integration)
        integration.etag = await write_entity(self._integrations, entity, integration.etag)

    async def list(self) -> list[Integration]:
        await self._storage.ensure_created()
        with translate_errors():
            rows = self._integrations.query_entities("RowKey eq @row", parameters={"row": ROW})
            return [from_entity(row) async for row in rows]

    async def integration_for_key(self, key_hash: str) -> str | None:
        await self._storage.ensure_created()
        try:
            with translate_errors():
                entity = await self._keys.get_entity(key_hash, KEY_ROW)
        except ResourceNotFoundError:
            return None
        return str(entity["integrationId"])

    async def replace_key(self, integration: Integration, retired: tuple[str | None, ...]) -> None:
        # New key indexed first, then the integration points at it, then the retired
        # ones go: at no moment does a valid key resolve to nothing.
        with translate_errors():
            await self._keys.upsert_entity(self._key_row(integration))
        try:
            await self.save(integration)
        except StaleWrite:
            # Changed by someone else meanwhile: the new key never took effect. Its index
            # row is removed if storage lets us; left behind it is harmless (a key only
            # works while the integration holds its hash).
            with contextlib.suppress(TransientError, ResourceNotFoundError), translate_errors():
                await self._keys.delete_entity(integration.key_hash, KEY_ROW)
            raise
        held = {integration.key_hash, integration.previous_key_hash}
        for old_hash in dict.fromkeys(retired):
            if old_hash and old_hash not in held:
                with translate_errors():
                    await self._keys.delete_entity(old_hash, KEY_ROW)

    async def record_key_use(
        self, integration: Integration, at: datetime, *, previous: bool = False
    ) -> None:
        field = "previousKeyLastUsedAt" if previous else "keyLastUsedAt"
        entity = {"PartitionKey": integration.id, "RowKey": ROW, field: at}
        if integration.etag is None:
            raise StaleWrite(f"integration {integration.id} was not read from storage")
        try:
            with translate_errors():
                meta = await self._integrations.update_entity(
                    entity,
                    mode="merge",
                    etag=integration.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except ResourceNotFoundError as exc:
            raise StaleWrite(f"integration {integration.id} no longer exists") from exc
        integration.etag = meta.get("etag")

    @staticmethod
    def _key_row(integration: Integration) -> dict[str, Any]:
        return {
            "PartitionKey": integration.key_hash,
            "RowKey": KEY_ROW,
            "integrationId": integration.id,
        }
