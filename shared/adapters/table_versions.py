"""Entity versions in Table Storage: PartitionKey = "<integration>~<digest's first hex
digit>", RowKey = the key's digest. Sixteen partitions per integration: every
versioned event reads and advances its records' rows, so one partition per
integration would cap a busy integration at about 1,000 events per second (2,000
entity operations per partition). Each row has an expiry index row beside it (see
`shared.adapters.table_expiry`), so rows unchanged for long are found without reading
the others."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError

from shared.adapters.azure_storage import StorageClients, translate_errors
from shared.adapters.table_expiry import expiry_row_key
from shared.domain.clock import epoch_ms, utcnow
from shared.services.ports import EntityVersionStore, StaleWrite, StoredVersion

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
        return StoredVersion(
            str(entity.get("version") or ""),
            entity.metadata.get("etag"),
            entity.get("claimedBy") or None,
            entity.get("claimedUntil"),
        )

    async def advance(
        self, integration_id: str, key: str, version: str, seen: StoredVersion | None
    ) -> None:
        current = seen
        for attempt in range(ADVANCE_ATTEMPTS):
            if attempt:  # the copy we had was stale: read what is there now
                current = await self.get(integration_id, key)
            if current is not None and current.version >= version:
                if current.claimed_by == version:
                    await self.release(integration_id, key, current)
                return
            # Our claim ends here; another event's live claim stays.
            other = current is not None and current.claimed_by not in (None, version)
            claim = current if other and current is not None else StoredVersion(version)
            try:
                await self._write(integration_id, key, version, claim, current)
                return
            except StaleWrite:
                continue
        raise StaleWrite(f"entity version of {key!r} kept changing")

    async def claim(
        self,
        integration_id: str,
        key: str,
        version: str,
        until: datetime,
        seen: StoredVersion | None,
    ) -> StoredVersion:
        stored = seen.version if seen else ""
        claim = StoredVersion(stored, None, version, until)
        etag = await self._write(integration_id, key, stored, claim, seen)
        return StoredVersion(stored, etag, version, until)

    async def release(self, integration_id: str, key: str, claim: StoredVersion) -> None:
        # StaleWrite: taken over after it ran out, or ended already; nothing of ours is left.
        with contextlib.suppress(StaleWrite):
            await self._write(integration_id, key, claim.version, StoredVersion(""), claim)

    async def _write(
        self,
        integration_id: str,
        key: str,
        version: str,
        claim: StoredVersion,
        over: StoredVersion | None,
    ) -> str | None:
        """The row with `version` and `claim`'s claim, over the copy `over` (or as new);
        StaleWrite if that copy is stale."""
        entity: dict[str, Any] = {
            "PartitionKey": version_partition(integration_id, key),
            "RowKey": _row(key),
            "key": key,
            "version": version,
            "claimedBy": claim.claimed_by,
            "claimedUntil": claim.claimed_until,
        }
        if over is None:
            # A new row comes with its expiry index row, in one transaction (one round
            # trip): the purge finds rows unchanged for long by these index rows, never
            # by reading every live one (shared.adapters.table_expiry). Later writes
            # leave the index row where it is; the purge moves it when it finds the
            # row changed since.
            index = {
                "PartitionKey": entity["PartitionKey"],
                "RowKey": expiry_row_key(_changed_ms(version, claim), entity["RowKey"]),
            }
            with translate_errors():
                try:
                    written = await self._table.submit_transaction(
                        [("create", entity), ("upsert", index)]
                    )
                except TableTransactionError as exc:
                    if exc.status_code == 409:
                        raise StaleWrite(f"entity version of {key!r} exists already") from exc
                    raise
            return written[0].get("etag")
        with translate_errors():
            meta = await self._table.update_entity(
                entity,
                mode="replace",
                etag=over.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        return meta.get("etag")


def _changed_ms(version: str, claim: StoredVersion) -> int:
    """When a row was last changed, as its version or claim tells: "<epoch ms>~<id>"."""
    for text in (version, claim.claimed_by or ""):
        if text[:13].isdigit():
            return int(text[:13])
    return epoch_ms(utcnow())
