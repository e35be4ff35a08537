"""The flow of events: how many events took each step of the lifecycle, per minute or
per hour, as pure values.

Steps are transitions, not statuses: an event that failed twice and then succeeded
counts `received` once, `retryScheduled` twice and `succeeded` once. Every delivery
ends in exactly one outcome step, so over a long enough window

    received + resubmitted = succeeded + skipped + failed + deadLettered

(events still on their way make up the difference).

Buckets start on whole UTC minutes or hours. A window of up to six hours is shown per
minute, a longer one per hour, and no window is longer than 31 days:

    granularity_for(start, start + timedelta(hours=2))   # Granularity.MINUTE
    bucket_start(datetime(2026, 3, 1, 12, 7, 31, tzinfo=UTC), Granularity.HOUR)
    # 2026-03-01 12:00 UTC
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.domain.models import EventStatus, IntegrationEvent

# The partition holding every integration's counts together, so that "across all
# integrations" is one range query. Integration ids start with "int_".
ALL_INTEGRATIONS = "*"
MINUTE_WINDOW_LIMIT = timedelta(hours=6)
MAX_WINDOW = timedelta(days=31)


class FlowStep(StrEnum):
    RECEIVED = "received"  # accepted and recorded queued
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"  # nothing to apply: a newer event for the records won
    RETRY_SCHEDULED = "retryScheduled"  # failed, retried automatically later
    FAILED = "failed"  # rejected by the platform: waits for a person
    DEAD_LETTERED = "deadLettered"  # automatic delivery gave up: waits for a person
    RESUBMITTED = "resubmitted"  # a person sent a failed event again


class Granularity(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"

    @property
    def length(self) -> timedelta:
        return timedelta(minutes=1) if self is Granularity.MINUTE else timedelta(hours=1)


def outcome_step(event: IntegrationEvent) -> FlowStep | None:
    """The step an event just took by reaching its current status (None: no outcome)."""
    if event.status is EventStatus.SUCCESS:
        return FlowStep.SUCCEEDED
    if event.status is EventStatus.SKIPPED:
        return FlowStep.SKIPPED
    if event.status is not EventStatus.FAILED:
        return None
    if event.next_retry_at is not None:
        return FlowStep.RETRY_SCHEDULED
    return FlowStep.DEAD_LETTERED if event.dead_lettered else FlowStep.FAILED


def bucket_start(at: datetime, granularity: Granularity) -> datetime:
    """The start of the UTC minute or hour holding `at`."""
    at = at.astimezone(UTC)
    if granularity is Granularity.MINUTE:
        return at.replace(second=0, microsecond=0)
    return at.replace(minute=0, second=0, microsecond=0)


def granularity_for(start: datetime, end: datetime) -> Granularity:
    """Per minute up to `MINUTE_WINDOW_LIMIT`, per hour beyond."""
    return Granularity.MINUTE if end - start <= MINUTE_WINDOW_LIMIT else Granularity.HOUR


def bucket_starts(start: datetime, end: datetime, granularity: Granularity) -> list[datetime]:
    """Every bucket overlapping [start, end), oldest first."""
    first = bucket_start(start, granularity)
    count = -(-(end - first) // granularity.length)  # ceiling division
    return [first + i * granularity.length for i in range(max(count, 0))]


@dataclass(frozen=True)
class FlowKey:
    """One bucket of one partition: an integration, or `ALL_INTEGRATIONS`."""

    integration_id: str
    granularity: Granularity
    start: datetime


class FlowTally:
    """One process's running totals per bucket and step, and which changed since they
    were last taken. Totals are absolute, so writing them again is harmless.

    Totals of a bucket that ended are dropped once `forget_before` passes it; a step
    counted into a bucket already dropped is refused (False), never started from zero
    again, so a written total is never overwritten by a smaller one."""

    def __init__(self) -> None:
        self._totals: dict[FlowKey, Counter[FlowStep]] = {}
        self._changed: set[FlowKey] = set()
        self._horizon: datetime | None = None

    def add(self, integration_id: str, step: FlowStep, at: datetime, n: int = 1) -> bool:
        if self._horizon is not None and bucket_start(at, Granularity.HOUR) < self._horizon:
            return False
        for granularity in Granularity:
            start = bucket_start(at, granularity)
            for partition in (integration_id, ALL_INTEGRATIONS):
                key = FlowKey(partition, granularity, start)
                self._totals.setdefault(key, Counter())[step] += n
                self._changed.add(key)
        return True

    def take_changed(self) -> dict[FlowKey, dict[FlowStep, int]]:
        """The totals of every bucket that changed since the last take (a copy)."""
        taken = {key: dict(self._totals[key]) for key in self._changed}
        self._changed.clear()
        return taken

    def mark_changed(self, keys: set[FlowKey] | list[FlowKey]) -> None:
        """Taken totals that could not be written: they go out with the next take."""
        self._changed.update(key for key in keys if key in self._totals)

    def forget_before(self, moment: datetime) -> None:
        """Drop the totals of hours that started before `moment`'s hour (and their
        minutes), unless they still wait to be written."""
        horizon = bucket_start(moment, Granularity.HOUR)
        pending = [key.start for key in self._changed]
        if pending:
            horizon = min(horizon, bucket_start(min(pending), Granularity.HOUR))
        if self._horizon is not None and horizon <= self._horizon:
            return
        self._horizon = horizon
        for key in [key for key in self._totals if key.start < horizon]:
            del self._totals[key]

    def total(self, key: FlowKey) -> dict[FlowStep, int]:
        return dict(self._totals.get(key, {}))


@dataclass(frozen=True)
class FlowRow:
    """One writer's totals for one bucket, e.g. FlowRow(FlowKey("int_3f…",
    Granularity.MINUTE, 12:07), "a1b2c3", {FlowStep.RECEIVED: 40, …})."""

    key: FlowKey
    writer: str
    counts: dict[FlowStep, int]
