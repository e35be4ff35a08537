"""Bulk resubmission jobs and the audit trail in Table Storage.

`jobs`: PartitionKey = integration id, RowKey = job id.
`audit`: PartitionKey = integration id, RowKey = inverted time, so newest first.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure_storage import StorageClients, translate_errors, write_entity
from shared.domain.clock import epoch_ms
from shared.domain.jobs import AuditEntry, BulkJob, JobStatus
from shared.services.ports import JobStore

INVERTED_MS_BASE = 10**13 - 1


def _to_job(row: Any) -> BulkJob:
    return BulkJob(
        id=row["RowKey"],
        integration_id=row["PartitionKey"],
        filter=json.loads(row["filter"]),
        requested_by=row["requestedBy"],
        created_at=row["createdAt"],
        updated_at=row["updatedAt"],
        status=JobStatus(row["status"]),
        matched=int(row["matched"]),
        resubmitted=int(row["resubmitted"]),
        skipped=int(row["skipped"]),
        continuation_token=row.get("continuationToken"),
        lease_until=row.get("leaseUntil"),
        etag=row.metadata.get("etag"),
    )


class TableJobStore(JobStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._jobs = storage.table("jobs")
        self._audit = storage.table("audit")

    async def save_job(self, job: BulkJob) -> None:
        await self._storage.ensure_created()
        entity = {
            "PartitionKey": job.integration_id,
            "RowKey": job.id,
            "filter": json.dumps(job.filter),
            "requestedBy": job.requested_by,
            "createdAt": job.created_at,
            "updatedAt": job.updated_at,
            "status": job.status,
            "matched": job.matched,
            "resubmitted": job.resubmitted,
            "skipped": job.skipped,
            "continuationToken": job.continuation_token,
            "leaseUntil": job.lease_until,
        }
        job.etag = await write_entity(self._jobs, entity, job.etag, must_be_new=True)

    async def get_job(self, integration_id: str, job_id: str) -> BulkJob | None:
        await self._storage.ensure_created()
        try:
            with translate_errors():
                return _to_job(await self._jobs.get_entity(integration_id, job_id))
        except ResourceNotFoundError:
            return None

    async def running_jobs(self) -> list[BulkJob]:
        await self._storage.ensure_created()
        with translate_errors():
            rows = self._jobs.query_entities(
                "status eq @s", parameters={"s": JobStatus.RUNNING.value}
            )
            return [_to_job(row) async for row in rows]

    async def audit(self, entry: AuditEntry) -> None:
        await self._storage.ensure_created()
        row = f"{INVERTED_MS_BASE - epoch_ms(entry.at):013d}~{secrets.token_hex(4)}"
        entity = {
            "PartitionKey": entry.integration_id,
            "RowKey": row,
            "actor": entry.actor,
            "action": entry.action,
            "jobId": entry.job_id,
            # a property holds 64 KiB: the first 500 ids, and the count of all
            "eventIds": json.dumps(entry.event_ids[:500]),
            "eventCount": len(entry.event_ids),
            "at": entry.at,
        }
        with translate_errors():
            await self._audit.create_entity(entity)

    async def audit_trail(self, integration_id: str, limit: int = 100) -> list[AuditEntry]:
        await self._storage.ensure_created()
        with translate_errors():
            rows = self._audit.query_entities(
                "PartitionKey eq @pk", parameters={"pk": integration_id}, results_per_page=limit
            )
            trail = []
            async for row in rows:
                entry = AuditEntry(
                    integration_id,
                    row["actor"],
                    row["action"],
                    json.loads(row["eventIds"]),
                    row["at"],
                    row.get("jobId"),
                )
                trail.append(entry)
                if len(trail) >= limit:
                    break
            return trail
