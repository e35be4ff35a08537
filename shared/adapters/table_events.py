"""IntegrationEvents and their attempts in Table Storage.

Layout, chosen for Azure's limits (2,000 entities/s per partition):
- PartitionKey = "<integrationId>~<shard>", the shard a hash of the event id over the
  integration's `partitionShards`, so one busy integration writes to several
  partitions and never reads another integration's rows;
- RowKey = "<inverted creation ms>~<eventId>", so each partition lists newest first and
  a time range is a RowKey range. The event id (a UUIDv7) carries its creation time,
  so (integration, event id) is a point read.
Payloads too big for a table property (64 KiB) go to the `payloads` blob container.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.adapters.azure_storage import StorageClients, collect, translate_errors
from shared.clock import epoch_ms, event_id_time_ms
from shared.errors import ValidationFailed
from shared.models import Attempt, EventStatus, IntegrationEvent, LastError
from shared.ports import EventPage, EventQuery, EventStore, StaleWrite

INVERTED_MS_BASE = 10**13 - 1
INLINE_PAYLOAD_LIMIT = 30_000  # characters; a string property holds 32K UTF-16 units
SCAN_CAP_PER_SHARD = 2_000
ROW_KEY_SHAPE = re.compile(r"\d{13}~[0-9a-f-]{36}")  # bounds client-side text search per page


def shard_of(event_id: str, shards: int) -> int:
    return int(hashlib.sha256(event_id.encode()).hexdigest()[:8], 16) % max(shards, 1)


def partition_key(integration_id: str, shard: int) -> str:
    return f"{integration_id}~{shard:02d}"


def row_key_for_ms(ms: int, event_id: str = "") -> str:
    return f"{INVERTED_MS_BASE - ms:013d}~{event_id}"


def event_keys(integration_id: str, event_id: str, shards: int) -> tuple[str, str]:
    ms = event_id_time_ms(event_id)
    return partition_key(integration_id, shard_of(event_id, shards)), row_key_for_ms(ms, event_id)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _unjson(value: Any) -> Any:
    return None if value in (None, "") else json.loads(value)


class TableEventStore(EventStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._events = storage.table("events")
        self._attempts = storage.table("attempts")

    # --- events -------------------------------------------------------------------
    async def add(self, event: IntegrationEvent, shards: int) -> None:
        await self._storage.ensure_created()
        entity = await self._to_entity(event, shards)
        try:
            with translate_errors():
                meta = await self._events.create_entity(entity)
        except ResourceExistsError as exc:
            # Two requests finishing one acceptance at once: the other one recorded it.
            raise StaleWrite(f"event {event.id} exists already") from exc
        event.etag = meta.get("etag")

    async def get(self, integration_id: str, event_id: str, shards: int) -> IntegrationEvent | None:
        await self._storage.ensure_created()
        try:
            pk, rk = event_keys(integration_id, event_id, shards)
        except ValueError:
            return None  # not an event id this product issued
        try:
            with translate_errors():
                entity = await self._events.get_entity(pk, rk)
        except ResourceNotFoundError:
            return None
        return await self._from_entity(entity)

    async def save(self, event: IntegrationEvent, shards: int) -> None:
        entity = await self._to_entity(event, shards)
        with translate_errors():
            if event.etag:
                meta = await self._events.update_entity(
                    entity,
                    mode="replace",
                    etag=event.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            else:
                meta = await self._events.upsert_entity(entity, mode="replace")
        event.etag = meta.get("etag")

    async def query(self, query: EventQuery) -> EventPage:
        await self._storage.ensure_created()
        limit = max(1, min(query.limit, 500))
        after = _decode_token(query.continuation_token)
        shard_results = await asyncio.gather(
            *(self._query_shard(query, shard, after, limit) for shard in range(query.shards))
        )
        merged = sorted(
            (row for rows, _ in shard_results for row in rows), key=lambda r: r["RowKey"]
        )
        # A text search scans a bounded number of rows per shard; past the oldest row
        # a shard scanned nothing is known, so the page stops there and the token
        # resumes from it.
        horizons = [horizon for _, horizon in shard_results if horizon]
        horizon = min(horizons) if horizons else None
        if horizon:
            merged = [row for row in merged if row["RowKey"] <= horizon]
        page = merged[:limit]
        more = len(merged) > limit or any(len(rows) >= limit for rows, _ in shard_results)
        token: str | None = None
        if page and (more or (horizon and len(page) == limit)):
            token = _encode_token(page[-1]["RowKey"])
        elif horizon:
            token = _encode_token(horizon)
        events = [await self._from_entity(row, with_payload=False) for row in page]
        return EventPage(events, token)

    async def _query_shard(
        self, query: EventQuery, shard: int, after: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """Up to `limit` matching rows, and for a capped text search the last row read."""
        clauses = ["PartitionKey eq @pk"]
        params: dict[str, Any] = {"pk": partition_key(query.integration_id, shard)}
        if after:
            clauses.append("RowKey gt @after")
            params["after"] = after
        if query.created_to:
            clauses.append("RowKey ge @lower")
            params["lower"] = row_key_for_ms(epoch_ms(query.created_to))
        if query.created_from:
            clauses.append("RowKey lt @upper")
            params["upper"] = row_key_for_ms(epoch_ms(query.created_from) - 1)
        for name, value in (
            ("status", query.status),
            ("action", query.action),
            ("entityId", query.entity_id),
            ("deadLettered", query.dead_lettered),
        ):
            if value is not None:
                clauses.append(f"{name} eq @{name}")
                params[name] = value
        rows = self._events.query_entities(
            " and ".join(clauses), parameters=params, results_per_page=limit
        )
        if not query.entity_id_contains:
            with translate_errors():
                return await collect(rows, limit), None
        # Table Storage has no substring filter: scan a bounded number of rows here.
        needle = query.entity_id_contains.lower()
        found: list[Any] = []
        with translate_errors():
            scanned = await collect(rows, SCAN_CAP_PER_SHARD)
        for row in scanned:
            if needle in str(row.get("entityId") or "").lower():
                found.append(row)
                if len(found) >= limit:
                    return found, None
        capped = len(scanned) >= SCAN_CAP_PER_SHARD
        return found, scanned[-1]["RowKey"] if capped else None

    # --- attempts -------------------------------------------------------------------
    async def add_attempt(self, attempt: Attempt) -> None:
        entity = {
            "PartitionKey": attempt.event_id,
            # A resubmission starts counting attempts again; its rows must not
            # overwrite the attempts that failed before it.
            "RowKey": f"{attempt.submission:03d}~{attempt.number:04d}",
            "startedAt": attempt.started_at,
            "finishedAt": attempt.finished_at,
            "outcome": attempt.outcome,
            "error": _json(attempt.error.to_json() if attempt.error else None),
            "calls": _json(attempt.calls),
        }
        with translate_errors():
            await self._attempts.upsert_entity(entity, mode="replace")

    async def attempts(self, event_id: str) -> list[Attempt]:
        await self._storage.ensure_created()
        with translate_errors():
            rows = self._attempts.query_entities("PartitionKey eq @pk", parameters={"pk": event_id})
            return [
                Attempt(
                    event_id=event_id,
                    number=int(row["RowKey"].rpartition("~")[2]),
                    submission=int(row["RowKey"].partition("~")[0]),
                    started_at=row["startedAt"],
                    finished_at=row["finishedAt"],
                    outcome=row["outcome"],
                    error=LastError.from_json(_unjson(row.get("error"))),
                    calls=_unjson(row.get("calls")) or [],
                )
                async for row in rows
            ]

    # --- mapping --------------------------------------------------------------------
    async def _to_entity(self, event: IntegrationEvent, shards: int) -> dict[str, Any]:
        pk, rk = event_keys(event.integration_id, event.id, shards)
        entity: dict[str, Any] = {
            "PartitionKey": pk,
            "RowKey": rk,
            "id": event.id,
            "integrationId": event.integration_id,
            "action": event.action,
            "entityId": event.entity_id,
            "status": event.status.value,
            "attempts": event.attempts,
            "maxAttempts": event.max_attempts,
            "nextRetryAt": event.next_retry_at,
            "deadLettered": event.dead_lettered,
            "lastError": _json(event.last_error.to_json() if event.last_error else None),
            "result": _json(event.result),
            "sessionId": event.session_id,
            "idempotencyKey": event.idempotency_key,
            "processingStartedAt": event.processing_started_at,
            "scheduleKey": event.schedule_key,
            "skippedReason": event.skipped_reason,
            "resubmissions": event.resubmissions,
            "enqueues": event.enqueues,
            "traceContext": _json(event.trace_context),
            "createdAt": event.created_at,
            "updatedAt": event.updated_at,
        }
        if event.payload is not None:
            text = _json(event.payload) or ""
            if len(text) <= INLINE_PAYLOAD_LIMIT:
                entity["payload"] = text
            else:
                blob = f"{event.integration_id}/{event.id}.json"
                with translate_errors():
                    await self._storage.payloads().upload_blob(blob, text, overwrite=True)
                entity["payloadBlob"] = blob
        return entity

    async def _from_entity(self, entity: Any, with_payload: bool = True) -> IntegrationEvent:
        payload = _unjson(entity.get("payload"))
        if with_payload and payload is None and entity.get("payloadBlob"):
            with translate_errors():
                stream = await self._storage.payloads().download_blob(entity["payloadBlob"])
                payload = json.loads(await stream.readall())
        return IntegrationEvent(
            id=entity["id"],
            integration_id=entity["integrationId"],
            action=entity["action"],
            entity_id=entity.get("entityId"),
            status=EventStatus(entity["status"]),
            attempts=int(entity.get("attempts") or 0),
            max_attempts=int(entity.get("maxAttempts") or 0),
            next_retry_at=entity.get("nextRetryAt"),
            dead_lettered=bool(entity.get("deadLettered")),
            last_error=LastError.from_json(_unjson(entity.get("lastError"))),
            result=_unjson(entity.get("result")),
            payload=payload,
            session_id=entity.get("sessionId") or entity["integrationId"],
            idempotency_key=entity.get("idempotencyKey"),
            processing_started_at=entity.get("processingStartedAt"),
            schedule_key=entity.get("scheduleKey"),
            skipped_reason=entity.get("skippedReason"),
            resubmissions=int(entity.get("resubmissions") or 0),
            enqueues=int(entity.get("enqueues") or 0),
            trace_context=_unjson(entity.get("traceContext")),
            created_at=entity["createdAt"],
            updated_at=entity["updatedAt"],
            etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
        )


def _encode_token(row_key: str) -> str:
    return base64.urlsafe_b64encode(row_key.encode()).decode().rstrip("=")


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        row_key = base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        row_key = ""
    if ROW_KEY_SHAPE.fullmatch(row_key):
        return row_key
    raise ValidationFailed(
        "The continuationToken is not one this API issued; start again without it."
    )
