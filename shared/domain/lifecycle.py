"""The event lifecycle as pure transitions: queued → processing → success | failed | skipped.

A failed event either has `nextRetryAt` (the timer will re-enqueue it) or not (it
waits for a person; `deadLettered` says automatic delivery gave up on it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.domain.models import ErrorKind, EventStatus, IntegrationEvent, LastError, QueueMessage
from shared.domain.retry import RetryPolicy


def may_process(event: IntegrationEvent) -> bool:
    """Whether a delivered message should run: a redelivery of an event that already
    reached an outcome is completed without calling the platform again."""
    return event.status in (EventStatus.QUEUED, EventStatus.PROCESSING)


def ordered_per_record(event: IntegrationEvent) -> bool:
    """Whether the event travels on a per-record session shard (orderingScope entity)
    rather than its integration's single session."""
    return event.session_id != event.integration_id


def start_attempt(event: IntegrationEvent, now: datetime, lease: timedelta) -> None:
    """An attempt begins; if it is saved before its outcome, its check comes when the
    lease runs out (the worker died)."""
    event.status = EventStatus.PROCESSING
    event.attempts += 1
    event.recovery_sends = 0
    event.processing_started_at = now
    event.check_at = now + lease
    event.updated_at = now


def succeed(event: IntegrationEvent, result: dict[str, Any], now: datetime) -> None:
    event.status = EventStatus.SUCCESS
    event.result = result
    event.last_error = None
    event.next_retry_at = event.check_at = None
    event.processing_started_at = None
    event.updated_at = now


def skip(event: IntegrationEvent, reason: str, now: datetime) -> None:
    event.status = EventStatus.SKIPPED
    event.skipped_reason = reason
    event.last_error = None
    event.next_retry_at = event.check_at = None
    event.processing_started_at = None
    event.updated_at = now


def fail(
    event: IntegrationEvent,
    error: LastError,
    policy: RetryPolicy,
    now: datetime,
    retry_after: float | None = None,
) -> None:
    """Record a failed attempt; transient ones get a retry time until attempts run out."""
    event.status = EventStatus.FAILED
    event.last_error = error
    event.processing_started_at = None
    event.updated_at = now
    event.next_retry_at = event.check_at = None
    if error.kind is not ErrorKind.TRANSIENT:
        return
    delay = policy.next_delay(event.attempts, retry_after)
    if delay is None:
        event.dead_lettered = True
        event.last_error = LastError(
            error.kind,
            f"{error.message} Gave up after {event.attempts} attempts; resubmit it once "
            "the platform is healthy.",
            error.http_status,
        )
    else:
        event.next_retry_at = event.check_at = now + timedelta(seconds=delay)


def postpone(event: IntegrationEvent, until: datetime, error: LastError, now: datetime) -> None:
    """Put off an attempt that was never made (the platform is being spared): no
    attempt is counted."""
    event.status = EventStatus.FAILED
    event.last_error = error
    event.next_retry_at = event.check_at = until
    event.processing_started_at = None
    event.updated_at = now


def dead_letter(event: IntegrationEvent, reason: str, now: datetime) -> None:
    event.status = EventStatus.FAILED
    event.dead_lettered = True
    event.next_retry_at = event.check_at = None
    event.processing_started_at = None
    # Not a rejection of the data: the outcome of any platform call is unknown, so a
    # resubmission must keep the idempotency key (see `requeue`).
    event.last_error = LastError(ErrorKind.TRANSIENT, reason, None)
    event.updated_at = now


def requeue(event: IntegrationEvent, now: datetime, *, resubmission: bool = False) -> None:
    """Back to queued for another delivery, under a new message id; a person's
    resubmission also resets the attempt budget and the dead-letter mark."""
    event.enqueues += 1
    event.recovery_sends = 0
    event.status = EventStatus.QUEUED
    event.next_retry_at = None
    event.processing_started_at = None
    event.updated_at = now
    if resubmission:
        # Only a definite rejection (the platform answered 4xx: nothing was applied)
        # earns a fresh platform key, so the corrected data is asked again instead of
        # the old rejection being replayed. After a timeout or a crash the change may
        # have been applied: the same key makes the platform replay, not re-apply.
        error = event.last_error
        if (
            error is not None
            and error.kind is ErrorKind.PERMANENT
            and error.http_status is not None
        ):
            event.key_generation += 1
        event.resubmissions += 1
        event.dead_lettered = False
        event.attempts = 0
        event.skipped_reason = None


def message_id_for(event: IntegrationEvent) -> str:
    """The first send's message id is the event id; each re-enqueue gets its own, so
    Service Bus duplicate detection drops true duplicates (the same send repeated)
    and never a new delivery."""
    return event.id if event.enqueues == 0 else f"{event.id}~{event.enqueues}"


def platform_idempotency_key(event: IntegrationEvent) -> str:
    """Every delivery of an event shares one key, so an unknown outcome is never applied
    twice; only a resubmission after a definite rejection moves to a new one."""
    return event.id if event.key_generation == 0 else f"{event.id}~r{event.key_generation}"


def queue_message(event: IntegrationEvent, shards: int) -> QueueMessage:
    return QueueMessage(
        message_id=message_id_for(event),
        session_id=event.session_id,
        body={"eventId": event.id, "integrationId": event.integration_id, "shards": shards},
        # The accepting request's trace context rides along, so the worker continues
        # the same trace on every delivery, retries included.
        properties={"action": event.action, **(event.trace_context or {})},
    )
