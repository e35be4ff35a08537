"""The purge of expired records in Table Storage, kind by kind (see
`shared.domain.retention` for what expires when). Each kind is found without reading
live rows:

- events: by their inverted-time RowKeys (`shared.adapters.table_retention_events`);
- the audit trail and flow counts: their RowKeys sort by time already;
- alert ledger rows: RowKey "<window start>~<kind>", so they sort by time too;
- Idempotency-Key records: with the event that names them (the event carries its key);
- entity versions, keyed by digests: by the expiry index rows written with them
  (`shared.adapters.table_expiry`);
- bulk jobs, keyed by a random id: through the audit entry that started each one
  (every job start is audited); a finished job goes with that entry.

`retention`: one row, when the next purge is due and where an unfinished one goes on.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.azure_storage import StorageClients, collect, translate_errors
from shared.adapters.table_expiry import (
    delete_rows,
    expired_index_rows,
    expiry_row_key,
    indexed_row,
    submit,
)
from shared.adapters.table_flow import bucket_key
from shared.adapters.table_flow import partition_key as flow_partition
from shared.adapters.table_retention_events import purge_events
from shared.domain.clock import epoch_ms
from shared.domain.errors import StaleWrite
from shared.domain.flow import Granularity
from shared.domain.jobs import JobStatus
from shared.domain.retention import Purged, PurgeSchedule, RecordKind, window_name
from shared.services.ports import RetentionStore

TABLE = "retention"
MARKER = ("purge", "next")
VERSION_PARTITIONS = "0123456789abcdef"  # see shared.adapters.table_versions
INVERTED_MS_BASE = 10**13 - 1  # the audit trail's RowKeys, as in table_jobs
PARALLEL_READS = 16


class TableRetentionStore(RetentionStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._reads = asyncio.Semaphore(PARALLEL_READS)

    async def schedule(self) -> PurgeSchedule:
        await self._storage.ensure_created()
        try:
            with translate_errors():
                row = await self._storage.table(TABLE).get_entity(*MARKER)
        except ResourceNotFoundError:
            return PurgeSchedule()
        return PurgeSchedule(row.get("nextRunAt"), row.get("resumeAfter") or None)

    async def set_schedule(self, schedule: PurgeSchedule) -> None:
        entity = {
            "PartitionKey": MARKER[0],
            "RowKey": MARKER[1],
            "nextRunAt": schedule.due,
            "resumeAfter": schedule.resume_after,
        }
        with translate_errors():
            await self._storage.table(TABLE).upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def purge(
        self, kind: RecordKind, scope: str, shards: int, before: datetime, limit: int
    ) -> Purged:
        await self._storage.ensure_created()
        table = self._storage.table
        if kind is RecordKind.EVENTS:
            payloads = self._storage.payloads()
            events, keys = table("events"), table("idempotency")
            return await purge_events(events, keys, payloads, scope, shards, before, limit)
        if kind is RecordKind.VERSIONS:
            return await self._versions(scope, before, limit)
        if kind is RecordKind.AUDIT:
            return await self._audit(scope, before, limit)
        if kind is RecordKind.ALERTS:
            end = window_name(before)
            return await self._range(table("alerts"), scope, "", end, limit)
        granularity = Granularity.MINUTE if kind is RecordKind.FLOW_MINUTES else Granularity.HOUR
        partition = flow_partition(scope, granularity)
        return await self._range(table("flowcounts"), partition, "", bucket_key(before), limit)

    async def _range(self, table: Any, partition: str, first: str, end: str, limit: int) -> Purged:
        """Rows nobody changes any more, with first <= RowKey < end."""
        with translate_errors():
            rows = table.query_entities(
                "PartitionKey eq @pk and RowKey ge @first and RowKey lt @end",
                parameters={"pk": partition, "first": first, "end": end},
                select=["RowKey"],
                results_per_page=min(limit, 1000),
            )
            keys = [row["RowKey"] for row in await collect(rows, limit)]
        deleted = await delete_rows(table, partition, keys)
        return Purged(deleted=deleted, more=len(keys) >= limit)

    # --- entity versions: an index row from the record's first write ---------------
    async def _versions(self, integration_id: str, before: datetime, limit: int) -> Purged:
        result = Purged()
        table = self._storage.table("entityversions")
        for digit in VERSION_PARTITIONS:
            room = limit - result.deleted
            if room <= 0:
                result.more = True
                break
            partition = f"{integration_id}~{digit}"
            index = await expired_index_rows(table, partition, before, room)
            outcomes = await asyncio.gather(
                *(self._version(table, partition, key, before) for key in index)
            )
            result.deleted += sum(1 for went in outcomes if went)
            result.kept += sum(1 for went in outcomes if not went)
            result.more = len(index) >= room
        return result

    async def _version(self, table: Any, partition: str, index_key: str, before: datetime) -> bool:
        """Whether the version row went. The index row is written once, when the row is
        created, and not moved by each event (that would cost every event a write): a
        row changed since is found here, and its index row moves to its last change."""
        _, row_key = indexed_row(index_key)
        index_row = {"PartitionKey": partition, "RowKey": index_key}
        async with self._reads:
            try:
                with translate_errors():
                    row = await table.get_entity(partition, row_key)
            except ResourceNotFoundError:
                await submit(table, [("delete", index_row)])
                return False
        last_change = max(
            _version_ms(row.get("version")),
            _version_ms(row.get("claimedBy")),
            epoch_ms(row["claimedUntil"]) if row.get("claimedUntil") else 0,
        )
        if last_change < epoch_ms(before):
            condition = {
                "etag": row.metadata["etag"],
                "match_condition": MatchConditions.IfNotModified,
            }
            record = {"PartitionKey": partition, "RowKey": row_key}
            return await submit(table, [("delete", record, condition), ("delete", index_row)])
        moved = {"PartitionKey": partition, "RowKey": expiry_row_key(last_change, row_key)}
        await submit(table, [("delete", index_row), ("upsert", moved)])
        return False

    # --- the audit trail, and the finished jobs its entries started -----------------
    async def _audit(self, integration_id: str, before: datetime, limit: int) -> Purged:
        table = self._storage.table("audit")
        first = f"{INVERTED_MS_BASE - (epoch_ms(before) - 1):013d}"
        with translate_errors():
            rows = await collect(
                table.query_entities(
                    "PartitionKey eq @pk and RowKey ge @first",
                    parameters={"pk": integration_id, "first": first},
                    select=["RowKey", "jobId"],
                    results_per_page=min(limit, 1000),
                ),
                limit,
            )
        job_ids = sorted({row["jobId"] for row in rows if row.get("jobId")})
        running = await asyncio.gather(*(self._job(integration_id, job) for job in job_ids))
        live = {job for job, is_running in zip(job_ids, running, strict=True) if is_running}
        # An entry naming a job still running stays with it, for a later run.
        keys = [row["RowKey"] for row in rows if row.get("jobId") not in live]
        result = Purged(deleted=await delete_rows(table, integration_id, keys))
        result.kept = len(rows) - len(keys)
        result.more = len(rows) >= limit
        finished = len(job_ids) - len(live)
        if finished:
            result.count("jobs", finished)
        return result

    async def _job(self, integration_id: str, job_id: str) -> bool:
        """Whether the job still runs; a finished one is deleted."""
        jobs = self._storage.table("jobs")
        async with self._reads:
            try:
                with translate_errors():
                    row = await jobs.get_entity(integration_id, job_id, select=["status"])
            except ResourceNotFoundError:
                return False
            if row.get("status") == JobStatus.RUNNING.value:
                return True
            try:
                with translate_errors():
                    await jobs.delete_entity(
                        integration_id,
                        job_id,
                        etag=row.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
            except StaleWrite:
                return True  # it changed since: a later run looks again
            return False


def _version_ms(version: Any) -> int:
    """The creation time a version ("<epoch ms>~<event id>") carries; 0 for none."""
    head = str(version or "")[:13]
    return int(head) if head.isdigit() else 0
