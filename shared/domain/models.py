"""The records the product keeps: integrations, events, attempts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.domain.clock import iso


class EventStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        """Final statuses never change again by themselves (a person may resubmit)."""
        return self in (EventStatus.SUCCESS, EventStatus.SKIPPED)


class ErrorKind(StrEnum):
    """Whether a failure is worth retrying by itself, or needs the data fixed."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"


class AttemptOutcome(StrEnum):
    """What one attempt's platform calls came to (a skip makes no attempt)."""

    SUCCESS = "success"
    FAILED = "failed"


class OrderingScope(StrEnum):
    """What one Service Bus session orders: all of an integration's events, or per entity."""

    INTEGRATION = "integration"
    ENTITY = "entity"


class Role(StrEnum):
    READER = "reader"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = [Role.READER, Role.OPERATOR, Role.ADMIN]
        return order.index(self) >= order.index(needed)


@dataclass
class Integration:
    id: str
    name: str
    service: str
    enabled: bool
    key_hash: str
    key_hint: str
    created_at: datetime
    updated_at: datetime
    ordering_scope: OrderingScope = OrderingScope.INTEGRATION
    partition_shards: int = 8
    retry_max_attempts: int | None = None
    retry_base_delay_seconds: float | None = None
    # When the key last authenticated a request, to within the usage window
    # (`shared.services.key_usage`); None: not since it was issued.
    key_last_used_at: datetime | None = None
    # The key a regeneration replaced, still accepted until `previous_key_valid_until`
    # (its grace period); None when the regeneration kept none. Only one at a time.
    previous_key_hash: str | None = None
    previous_key_hint: str | None = None
    previous_key_valid_until: datetime | None = None
    previous_key_last_used_at: datetime | None = None
    etag: str | None = field(default=None, compare=False)

    def previous_key_valid(self, now: datetime) -> bool:
        """Whether the previous key is still within its grace period."""
        until = self.previous_key_valid_until
        return self.previous_key_hash is not None and until is not None and now < until

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "name": self.name,
            "enabled": self.enabled,
            "orderingScope": self.ordering_scope.value,
            "apiKeyHint": self.key_hint,
            "apiKeyLastUsedAt": iso(self.key_last_used_at),
            "previousKeyHint": self.previous_key_hint,
            "previousKeyValidUntil": iso(self.previous_key_valid_until),
            "previousKeyLastUsedAt": iso(self.previous_key_last_used_at),
            "retry": {
                "maxAttempts": self.retry_max_attempts,
                "baseDelaySeconds": self.retry_base_delay_seconds,
            },
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass
class LastError:
    """Why the latest attempt did not succeed, in words the data owner can act on."""

    kind: ErrorKind
    message: str
    http_status: int | None = None

    def __post_init__(self) -> None:
        self.kind = ErrorKind(self.kind)  # as stored and as sent: the same two words

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "httpStatus": self.http_status, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> LastError | None:
        if not data:
            return None
        return cls(
            kind=ErrorKind(data["kind"]),
            message=data["message"],
            http_status=data.get("httpStatus"),
        )


@dataclass
class IntegrationEvent:
    """One accepted inbound request and its delivery lifecycle; `id` is the messageId."""

    id: str
    integration_id: str
    action: str
    entity_id: str | None
    status: EventStatus
    created_at: datetime
    updated_at: datetime
    session_id: str
    max_attempts: int
    attempts: int = 0
    next_retry_at: datetime | None = None
    dead_lettered: bool = False
    last_error: LastError | None = None
    result: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    idempotency_key: str | None = None
    processing_started_at: datetime | None = None
    # When the timer next looks at the event (a retry, a lease, a lost send); None once
    # nothing is left to watch. The event store keeps the due-time index row in step
    # with it, in the same write; `schedule_key` names that stored row.
    check_at: datetime | None = None
    schedule_key: str | None = None
    skipped_reason: str | None = None
    resubmissions: int = 0
    enqueues: int = 0  # sends to the queue after the first; names each new message
    # the timer's sends while the event has been waiting queued; spaces its checks out
    recovery_sends: int = 0
    key_generation: int = 0  # platform Idempotency-Key generation (see lifecycle.requeue)
    trace_context: dict[str, str] | None = None  # W3C headers of the accepting request
    etag: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "integrationId": self.integration_id,
            "action": self.action,
            "entityId": self.entity_id,
            "status": self.status.value,
            "attempts": self.attempts,
            "maxAttempts": self.max_attempts,
            "nextRetryAt": iso(self.next_retry_at),
            "deadLettered": self.dead_lettered,
            "lastError": self.last_error.to_json() if self.last_error else None,
            "result": self.result,
            "skippedReason": self.skipped_reason,
            "resubmissions": self.resubmissions,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass
class PlatformExchange:
    """One HTTP call to the platform as it happened (the communication log's raw form)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: Any
    started_at: datetime
    duration_ms: float
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: Any = None
    error: str | None = None  # set when no response came back (timeout, connection)


@dataclass
class Attempt:
    """One processing attempt of an event with its (masked) communication log."""

    event_id: str
    number: int
    started_at: datetime
    finished_at: datetime
    outcome: AttemptOutcome
    error: LastError | None
    calls: list[dict[str, Any]]
    submission: int = 0  # 0 = the original push, n = the n-th resubmission by a person

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.number,
            "submission": self.submission,
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            "outcome": self.outcome,
            "error": self.error.to_json() if self.error else None,
            "calls": self.calls,
        }


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    session_id: str
    body: dict[str, Any]
    scheduled_at: datetime | None = None
    properties: dict[str, str] = field(default_factory=dict)
