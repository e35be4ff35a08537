"""Entity versions in Table Storage: PartitionKey = "<integration>~<digest's first hex
digit>", RowKey = the key's digest. Sixteen partitions per integration: every
versioned event reads and advances its records' rows, so one partition per
integration would cap a busy integration at about 1,000 events per second (2,000
entity operations per partition)."""

from __future__ import annotations

import hashlib

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.adapters.azure_storage import StorageClients, translate_errors
from shared.ports import StaleWrite
from shared.staleness import EntityVersionStore, StoredVersion

# Two workers advancing one entity at the same moment settle it in a few fresh reads.
ADVANCE_ATTEMPTS = 5


def _row(key: str) -> str:
    # RowKey forbids '/', '\\', '#', '?': a digest is safe for any SKU or e-mail.
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def version_partition(integration_id: str, key: str) -> str:
    return f"{integration_id}~{_row(key)[0]}"


class TableEntityVersionStore(EntityVersionStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._table = storage.table("entityversions")

    async def get(self, integration_id: str, key: str) -> StoredVersion | None:
        await self._storage.ensure_created()
        try:
            with translate_errors():
                entity = await self._table.get_entity(
                    version_partition(integration_id, key), _row(key)
                )
        except ResourceNotFoundError:
            return None
        return StoredVersion(str(entity["version"]), entity.metadata.get("etag"))

    async def advance(
        self, integration_id: str, key: str, version: str, seen: StoredVersion | None
    ) -> None:
        entity = {
            "PartitionKey": version_partition(integration_id, key),
            "RowKey": _row(key),
            "key": key,
            "version": version,
        }
        current = seen
        for attempt in range(ADVANCE_ATTEMPTS):
            if attempt:  # the copy we had was stale: read what is there now
                current = await self.get(integration_id, key)
            if current is not None and current.version >= version:
                return
            try:
                with translate_errors():
                    if current is None:
                        await self._table.create_entity(entity)
                    else:
                        await self._table.update_entity(
                            entity,
                            mode="replace",
                            etag=current.etag,
                            match_condition=MatchConditions.IfNotModified,
                        )
                return
            except (ResourceExistsError, StaleWrite):
                continue
        raise StaleWrite(f"entity version of {key!r} kept changing")
