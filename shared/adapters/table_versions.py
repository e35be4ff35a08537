"""Entity versions in Table Storage: PartitionKey = integration, RowKey = key digest."""

from __future__ import annotations

import hashlib

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.adapters.azure_storage import StorageClients, translate_errors
from shared.ports import StaleWrite
from shared.staleness import EntityVersionStore


def _row(key: str) -> str:
    # RowKey forbids '/', '\\', '#', '?': a digest is safe for any SKU or e-mail.
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class TableEntityVersionStore(EntityVersionStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._table = storage.table("entityversions")

    async def get(self, integration_id: str, key: str) -> str | None:
        await self._storage.ensure_created()
        try:
            with translate_errors():
                entity = await self._table.get_entity(integration_id, _row(key))
        except ResourceNotFoundError:
            return None
        return str(entity["version"])

    async def advance(self, integration_id: str, key: str, version: str) -> None:
        entity = {
            "PartitionKey": integration_id,
            "RowKey": _row(key),
            "key": key,
            "version": version,
        }
        for _ in range(5):  # optimistic concurrency: re-read and compare on a race
            try:
                with translate_errors():
                    current = await self._table.get_entity(integration_id, _row(key))
            except ResourceNotFoundError:
                try:
                    with translate_errors():
                        await self._table.create_entity(entity)
                    return
                except ResourceExistsError:
                    continue
            if str(current["version"]) >= version:
                return
            try:
                with translate_errors():
                    await self._table.update_entity(
                        entity,
                        mode="replace",
                        etag=current.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                return
            except StaleWrite:
                continue
