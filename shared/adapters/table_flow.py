"""Counts of the events' flow in Table Storage.

`flowcounts`: PartitionKey = `<integration id or *>~<minute|hour>`, RowKey =
`<bucket start, e.g. 2026-03-01T12:07>~<writer id>`, one integer property per step.
A window of one partition is one range query on the RowKey (a page per 1,000 rows:
buckets times writers). Each writer's rows of one partition go out as batches of up
to 100 upserts, partitions side by side.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import UpdateMode

from shared.adapters.azure_storage import StorageClients, translate_errors
from shared.domain.flow import ALL_INTEGRATIONS, FlowKey, FlowRow, FlowStep, Granularity
from shared.services.ports import FlowCounterStore

TABLE = "flowcounts"
BATCH = 100  # the most operations one Table Storage transaction takes
_MINUTE = "%Y-%m-%dT%H:%M"


def partition_key(integration_id: str | None, granularity: Granularity) -> str:
    return f"{integration_id or ALL_INTEGRATIONS}~{granularity.value}"


def bucket_key(start: datetime) -> str:
    return start.astimezone(UTC).strftime(_MINUTE)


def to_entity(row: FlowRow) -> dict[str, Any]:
    return {
        "PartitionKey": partition_key(row.key.integration_id, row.key.granularity),
        "RowKey": f"{bucket_key(row.key.start)}~{row.writer}",
        **{step.value: row.counts.get(step, 0) for step in FlowStep},
    }


def from_entity(entity: Any) -> FlowRow:
    partition, _, granularity = entity["PartitionKey"].rpartition("~")
    bucket, _, writer = entity["RowKey"].partition("~")
    start = datetime.strptime(bucket, _MINUTE).replace(tzinfo=UTC)
    counts = {step: int(entity.get(step.value) or 0) for step in FlowStep}
    return FlowRow(FlowKey(partition, Granularity(granularity), start), writer, counts)


class TableFlowCounterStore(FlowCounterStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._table = storage.table(TABLE)

    async def write(self, rows: list[FlowRow]) -> None:
        await self._storage.ensure_created()
        batches: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            entity = to_entity(row)
            batches[entity["PartitionKey"]].append(entity)
        await asyncio.gather(
            *(
                self._upsert(entities[i : i + BATCH])
                for entities in batches.values()
                for i in range(0, len(entities), BATCH)
            )
        )

    async def _upsert(self, entities: list[dict[str, Any]]) -> None:
        operations: list[Any] = [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in entities]
        # Upserts of rows only this writer writes: no conflict, no etag.
        with translate_errors():
            await self._table.submit_transaction(operations)

    async def read(
        self, integration_id: str | None, granularity: Granularity, start: datetime, end: datetime
    ) -> list[FlowRow]:
        await self._storage.ensure_created()
        with translate_errors():
            entities = self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @first and RowKey lt @end",
                parameters={
                    "pk": partition_key(integration_id, granularity),
                    "first": bucket_key(start),
                    "end": bucket_key(end),
                },
            )
            return [from_entity(entity) async for entity in entities]
