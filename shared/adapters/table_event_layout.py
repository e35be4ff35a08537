"""How IntegrationEvents and their attempts are laid out as Table Storage entities.

Layout, chosen for Azure's limits (2,000 entities/s per partition):
- PartitionKey = "<integrationId>~<shard>", the shard a hash of the event id over the
  integration's `partitionShards`, so one busy integration writes to several
  partitions and never reads another integration's rows;
- RowKey = "<inverted creation ms>~<eventId>", so each partition lists newest first and
  a time range is a RowKey range. The event id (a UUIDv7) carries its creation time,
  so (integration, event id) is a point read.
Each event's companions share its partition, with RowKeys after every event row
(they start with "~", which sorts after the digits), so an event, its due-time check
and its attempt are written in one entity-group transaction:
- its check: "~due~<due epoch ms>~<eventId>" (the timer reads RowKey ranges of these);
- its attempts: "~att~<eventId>~<submission>~<attempt>".
Payloads too big for a table property (64 KiB) go to the `payloads` blob container;
`TableEventStore` (in `shared.adapters.table_events`) moves them, this module only maps fields.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from shared.domain.clock import event_id_time_ms
from shared.domain.errors import ValidationFailed
from shared.domain.models import Attempt, AttemptOutcome, EventStatus, IntegrationEvent, LastError

INVERTED_MS_BASE = 10**13 - 1
INLINE_PAYLOAD_LIMIT = 30_000  # characters; a string property holds 32K UTF-16 units
ROW_KEY_SHAPE = re.compile(r"\d{13}~[0-9a-f-]{36}")  # bounds client-side text search per page


COMPANION_ROWS = "~"  # every event row's RowKey sorts before this
DUE_PREFIX = "~due~"
DUE_END = "~due~~"  # sorts after every check row
ATTEMPT_PREFIX = "~att~"


def due_row_key(due_ms: int, event_id: str) -> str:
    return f"{DUE_PREFIX}{due_ms:013d}~{event_id}"


def attempt_row_key(event_id: str, submission: int, number: int) -> str:
    # A resubmission starts counting attempts again; its rows must not overwrite the
    # attempts that failed before it.
    return f"{ATTEMPT_PREFIX}{event_id}~{submission:03d}~{number:04d}"


def shard_of(event_id: str, shards: int) -> int:
    return int(hashlib.sha256(event_id.encode()).hexdigest()[:8], 16) % max(shards, 1)


def partition_key(integration_id: str, shard: int) -> str:
    return f"{integration_id}~{shard:02d}"


def row_key_for_ms(ms: int, event_id: str = "") -> str:
    return f"{INVERTED_MS_BASE - ms:013d}~{event_id}"


def event_keys(integration_id: str, event_id: str, shards: int) -> tuple[str, str]:
    ms = event_id_time_ms(event_id)
    return partition_key(integration_id, shard_of(event_id, shards)), row_key_for_ms(ms, event_id)


# --- continuation tokens: an opaque wrapper around the last RowKey a page returned ---


def encode_token(row_key: str) -> str:
    return base64.urlsafe_b64encode(row_key.encode()).decode().rstrip("=")


def decode_token(token: str | None) -> str | None:
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


# --- entity <-> model mapping ---


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def from_json(value: Any) -> Any:
    return None if value in (None, "") else json.loads(value)


def event_entity(event: IntegrationEvent, shards: int) -> dict[str, Any]:
    """The event's entity without its payload, which the caller stores inline or as a blob."""
    pk, rk = event_keys(event.integration_id, event.id, shards)
    return {
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
        "lastError": to_json(event.last_error.to_json() if event.last_error else None),
        "result": to_json(event.result),
        "sessionId": event.session_id,
        "idempotencyKey": event.idempotency_key,
        "processingStartedAt": event.processing_started_at,
        "checkAt": event.check_at,
        "scheduleKey": event.schedule_key,
        "skippedReason": event.skipped_reason,
        "resubmissions": event.resubmissions,
        "enqueues": event.enqueues,
        "recoverySends": event.recovery_sends,
        "keyGeneration": event.key_generation,
        "traceContext": to_json(event.trace_context),
        "createdAt": event.created_at,
        "updatedAt": event.updated_at,
    }


def event_from_entity(entity: Any, payload: Any) -> IntegrationEvent:
    """The event an entity holds, with the payload the caller read (inline or from its blob)."""
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
        last_error=LastError.from_json(from_json(entity.get("lastError"))),
        result=from_json(entity.get("result")),
        payload=payload,
        session_id=entity.get("sessionId") or entity["integrationId"],
        idempotency_key=entity.get("idempotencyKey"),
        processing_started_at=entity.get("processingStartedAt"),
        check_at=entity.get("checkAt"),
        schedule_key=entity.get("scheduleKey"),
        skipped_reason=entity.get("skippedReason"),
        resubmissions=int(entity.get("resubmissions") or 0),
        enqueues=int(entity.get("enqueues") or 0),
        recovery_sends=int(entity.get("recoverySends") or 0),
        key_generation=int(entity.get("keyGeneration") or 0),
        trace_context=from_json(entity.get("traceContext")),
        created_at=entity["createdAt"],
        updated_at=entity["updatedAt"],
        etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
    )


def attempt_entity(partition: str, attempt: Attempt) -> dict[str, Any]:
    return {
        "PartitionKey": partition,
        "RowKey": attempt_row_key(attempt.event_id, attempt.submission, attempt.number),
        "startedAt": attempt.started_at,
        "finishedAt": attempt.finished_at,
        "outcome": attempt.outcome,
        "error": to_json(attempt.error.to_json() if attempt.error else None),
        "calls": to_json(attempt.calls),
    }


def attempt_from_entity(event_id: str, row: Any) -> Attempt:
    _, submission, number = row["RowKey"].rsplit("~", 2)
    return Attempt(
        event_id=event_id,
        number=int(number),
        submission=int(submission),
        started_at=row["startedAt"],
        finished_at=row["finishedAt"],
        outcome=AttemptOutcome(row["outcome"]),
        error=LastError.from_json(from_json(row.get("error"))),
        calls=from_json(row.get("calls")) or [],
    )
