"""The due-time index and Idempotency-Key records in Table Storage.

The due-time index: each event's check row lives beside it in its events partition
(RowKey "~due~<due epoch ms>~<eventId>", see `shared.adapters.table_event_layout`),
written in the same transaction as the event. The timer asks every events partition
(each integration's shards) for check rows with RowKey < now: it reads only rows that
are due, however many events are stored; the partitions it asks follow the number of
integrations.
`idempotency`: PartitionKey = integration id, RowKey = SHA-256 of the client's key.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.adapters.azure_storage import StorageClients, collect, translate_errors
from shared.adapters.table_event_layout import DUE_PREFIX, partition_key
from shared.domain.clock import epoch_ms, from_epoch_ms
from shared.services.ports import (
    IdempotencyRecord,
    IdempotencyStore,
    IntegrationStore,
    ScheduledCheck,
    ScheduleStore,
)

PARALLEL_PARTITION_READS = 16


class TableScheduleStore(ScheduleStore):
    def __init__(self, storage: StorageClients, integrations: IntegrationStore) -> None:
        self._storage = storage
        self._integrations = integrations
        self._table = storage.table("events")
        self._reads = asyncio.Semaphore(PARALLEL_PARTITION_READS)
        self.rows_read = 0  # check rows read, for the timer's cost benchmark

    async def remove(self, key: str) -> None:
        pk, _, rk = key.partition("|")
        try:
            with translate_errors():
                await self._table.delete_entity(pk, rk)
        except ResourceNotFoundError:
            pass

    async def due(
        self, now: datetime, limit: int, after: str | None = None
    ) -> list[ScheduledCheck]:
        await self._storage.ensure_created()
        bound = f"{DUE_PREFIX}{epoch_ms(now) + 1:013d}"
        partitions = [
            partition_key(integration.id, shard)
            for integration in await self._integrations.list()
            for shard in range(integration.partition_shards)
        ]
        per_partition = await asyncio.gather(
            *(self._due_in(partition, bound, limit, after) for partition in partitions)
        )
        rows = sorted((row for rows in per_partition for row in rows), key=lambda r: r["RowKey"])
        self.rows_read += sum(len(rows) for rows in per_partition)
        return [_to_check(row) for row in rows[:limit]]

    async def _due_in(self, partition: str, bound: str, limit: int, after: str | None) -> list[Any]:
        async with self._reads:
            with translate_errors():
                rows = self._table.query_entities(
                    "PartitionKey eq @pk and RowKey gt @after and RowKey lt @bound",
                    parameters={"pk": partition, "after": after or DUE_PREFIX, "bound": bound},
                    results_per_page=limit,
                )
                return await collect(rows, limit)


def _to_check(row: Any) -> ScheduledCheck:
    due_ms, event_id = row["RowKey"].removeprefix(DUE_PREFIX).split("~", 1)
    return ScheduledCheck(
        key=f"{row['PartitionKey']}|{row['RowKey']}",
        due=from_epoch_ms(int(due_ms)),
        integration_id=row["integrationId"],
        event_id=event_id,
        shards=int(row["shards"]),
    )


class TableIdempotencyStore(IdempotencyStore):
    def __init__(self, storage: StorageClients, window_hours: float) -> None:
        self._storage = storage
        self._table = storage.table("idempotency")
        self._window_seconds = window_hours * 3600

    async def claim(
        self, integration_id: str, key: str, record: IdempotencyRecord
    ) -> IdempotencyRecord | None:
        await self._storage.ensure_created()
        entity = {
            "PartitionKey": integration_id,
            "RowKey": _key_hash(key),
            "eventId": record.event_id,
            "bodyHash": record.body_hash,
            "createdAt": record.created_at,
        }
        try:
            with translate_errors():
                await self._table.create_entity(entity)
            return None
        except ResourceExistsError:
            pass
        with translate_errors():
            existing = await self._table.get_entity(integration_id, _key_hash(key))
        age = (record.created_at - existing["createdAt"]).total_seconds()
        if age > self._window_seconds:
            # An expired key is free again; the etag makes two racing claims safe.
            with translate_errors():
                await self._table.update_entity(
                    entity,
                    mode="replace",
                    etag=existing.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            return None
        return IdempotencyRecord(
            event_id=existing["eventId"],
            body_hash=existing["bodyHash"],
            created_at=existing["createdAt"],
        )


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
