"""Bulk resubmission jobs and the audit trail in Table Storage.

`jobs`: PartitionKey = integration id, RowKey = job id.
`audit`: PartitionKey = integration id, RowKey = inverted time and a random suffix, so
newest first; pages continue with Table Storage's own continuation, wrapped opaquely.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shared.adapters.azure_storage import StorageClients, translate_errors, write_entity
from shared.domain.audit import AuditAction, AuditEntry, AuditPage
from shared.domain.clock import epoch_ms
from shared.domain.errors import ValidationFailed
from shared.domain.jobs import BulkJob, JobStatus
from shared.domain.models import Role
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
        entity = {
            "PartitionKey": entry.integration_id,
            "RowKey": audit_row_key(entry.at),
            "at": entry.at,
            "action": entry.action.value,
            "actor": entry.actor,
            "role": entry.role.value if entry.role else None,
            "address": entry.address,
            "before": _json_or_none(entry.before),
            "after": _json_or_none(entry.after),
            "jobId": entry.job_id,
            # a property holds 64 KiB: the first 500 ids, and the count of all
            "eventIds": json.dumps(entry.event_ids[:500]),
            "eventCount": len(entry.event_ids),
        }
        with translate_errors():
            await self._audit.create_entity(entity)

    async def audit_page(
        self, integration_id: str, limit: int, continuation_token: str | None = None
    ) -> AuditPage:
        await self._storage.ensure_created()
        resume = _decode_audit_token(integration_id, continuation_token)
        entries: list[AuditEntry] = []
        # Table Storage may answer fewer rows than asked (or none) with a continuation:
        # ask again for the rest, never for more than the page still holds.
        with translate_errors():
            while True:
                rows = self._audit.query_entities(
                    "PartitionKey eq @pk",
                    parameters={"pk": integration_id},
                    results_per_page=limit - len(entries),
                )
                # The SDK's token is the next partition and row key (a dict), typed str.
                pages: Any = rows.by_page(continuation_token=resume)  # type: ignore[arg-type]
                try:
                    async for page in pages:
                        entries += [_to_audit_entry(row) async for row in page]
                        break
                except HttpResponseError as exc:
                    if exc.status_code == 400 and resume:  # keys storage cannot resume from
                        raise ValidationFailed(NOT_OURS) from exc
                    raise
                resume = pages.continuation_token
                if not resume or len(entries) >= limit:
                    break
        return AuditPage(entries, _encode_audit_token(integration_id, resume))


def audit_row_key(at: datetime) -> str:
    """Inverted milliseconds, so a partition reads newest first, and a random suffix, so
    two actions in one millisecond are two rows (rows were always keyed this way)."""
    return f"{INVERTED_MS_BASE - epoch_ms(at):013d}~{secrets.token_hex(4)}"


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _to_audit_entry(row: Any) -> AuditEntry:
    """A stored row; rows from before role, address and before/after read as None."""
    role = row.get("role")
    before, after = row.get("before"), row.get("after")
    return AuditEntry(
        integration_id=row["PartitionKey"],
        at=row["at"],
        action=AuditAction.named(row["action"]),
        actor=row["actor"],
        role=Role(role) if role else None,
        address=row.get("address"),
        before=json.loads(before) if before else None,
        after=json.loads(after) if after else None,
        event_ids=json.loads(row.get("eventIds") or "[]"),
        job_id=row.get("jobId"),
    )


# --- continuation tokens: Table Storage's own (its next partition and row key, opaque
# strings), wrapped with the integration whose trail they continue ---
NOT_OURS = "The continuationToken is not one this API issued; start again without it."
MAX_KEY = 1024  # a key of Table Storage is at most 1 KiB


def _encode_audit_token(integration_id: str, token: dict[str, str] | None) -> str | None:
    if not token:
        return None
    wrapped = [integration_id, token.get("PartitionKey") or "", token.get("RowKey") or ""]
    packed = json.dumps(wrapped, separators=(",", ":"))
    return base64.urlsafe_b64encode(packed.encode()).decode().rstrip("=")


def _decode_audit_token(integration_id: str, token: str | None) -> dict[str, str] | None:
    if token is None:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        trail, partition, row = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(NOT_OURS) from exc
    keys = (partition, row)
    # Another integration's token would page through this trail from an odd place.
    if trail != integration_id or not all(_storage_key(key) for key in keys):
        raise ValidationFailed(NOT_OURS)
    return {"PartitionKey": partition, "RowKey": row}


def _storage_key(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_KEY and value.isprintable()
