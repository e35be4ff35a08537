"""The due-time index and Idempotency-Key records in Table Storage.

`schedule`: PartitionKey = "due~<n>" (four partitions by event-id hash, to spread
writes), RowKey = "<due epoch ms>~<integrationId>~<eventId>". The timer asks each
partition for RowKey < now: it reads only rows that are due, however many events are
stored.
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
from shared.clock import epoch_ms, from_epoch_ms
from shared.ports import IdempotencyRecord, IdempotencyStore, ScheduledCheck, ScheduleStore

SCHEDULE_PARTITIONS = 4


def _schedule_partition(event_id: str) -> str:
    digest = int(hashlib.sha256(event_id.encode()).hexdigest()[:4], 16)
    return f"due~{digest % SCHEDULE_PARTITIONS}"


class TableScheduleStore(ScheduleStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._table = storage.table("schedule")
        self.rows_read = 0  # storage reads, for the timer's cost benchmark

    async def put(self, due: datetime, integration_id: str, event_id: str, shards: int) -> str:
        await self._storage.ensure_created()
        pk = _schedule_partition(event_id)
        rk = f"{epoch_ms(due):013d}~{integration_id}~{event_id}"
        with translate_errors():
            await self._table.upsert_entity({"PartitionKey": pk, "RowKey": rk, "shards": shards})
        return f"{pk}|{rk}"

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
        bound = f"{epoch_ms(now) + 1:013d}"
        per_partition = await asyncio.gather(
            *(self._due_in(f"due~{n}", bound, limit, after) for n in range(SCHEDULE_PARTITIONS))
        )
        rows = sorted((row for rows in per_partition for row in rows), key=lambda r: r["RowKey"])
        self.rows_read += sum(len(rows) for rows in per_partition)
        return [_to_check(row) for row in rows[:limit]]

    async def _due_in(self, partition: str, bound: str, limit: int, after: str | None) -> list[Any]:
        query = "PartitionKey eq @pk and RowKey lt @bound"
        parameters = {"pk": partition, "bound": bound}
        if after:
            query += " and RowKey gt @after"
            parameters["after"] = after
        with translate_errors():
            rows = self._table.query_entities(query, parameters=parameters, results_per_page=limit)
            return await collect(rows, limit)


def _to_check(row: Any) -> ScheduledCheck:
    due_ms, integration_id, event_id = row["RowKey"].split("~", 2)
    return ScheduledCheck(
        key=f"{row['PartitionKey']}|{row['RowKey']}",
        due=from_epoch_ms(int(due_ms)),
        integration_id=integration_id,
        event_id=event_id,
        shards=int(row.get("shards", 8)),
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
