"""The timer's work and the dead-letter handler: nothing accepted stays unattended.

Each run reads only the due-time index rows that are due (never the events table):
- a `failed` event whose nextRetryAt has come is re-enqueued with its session id;
- a `queued` event still waiting after the grace period is sent again (its first
  send may never have happened: the accept path died between its writes);
- a `processing` event past its lease is re-enqueued (its worker died);
- an event with an outcome just loses its index row.
Re-enqueueing is paced per integration, and the run stops at its time budget; what
is left stays due for the next run.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared import telemetry
from shared.config import Settings
from shared.domain import lifecycle
from shared.domain.errors import TransientError
from shared.domain.models import EventStatus, IntegrationEvent
from shared.services.flow_counter import FlowCounter
from shared.services.ports import EventStore, MessageBus, ScheduledCheck, ScheduleStore, StaleWrite

log = logging.getLogger("integrations.recovery")

# A queued event's checks come after 1, 2, 4, ... grace periods, at most 32.
MAX_CHECK_DOUBLINGS = 5


@dataclass
class RecoveryReport:
    due: int = 0
    retried: int = 0
    resent: int = 0
    lease_expired: int = 0
    cleared: int = 0
    deferred: int = 0
    stopped_by_budget: bool = False
    per_integration: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, object]:
        return {
            "due": self.due,
            "retried": self.retried,
            "resent": self.resent,
            "leaseExpired": self.lease_expired,
            "cleared": self.cleared,
            "deferred": self.deferred,
            "stoppedByBudget": self.stopped_by_budget,
        }


class RecoveryService:
    def __init__(
        self,
        settings: Settings,
        events: EventStore,
        schedule: ScheduleStore,
        bus: MessageBus,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        flow: FlowCounter | None = None,
    ) -> None:
        self._flow = flow
        self._settings = settings
        self._events = events
        self._schedule = schedule
        self._bus = bus
        self._now = now
        self._monotonic = monotonic

    async def run_once(self, batch: int = 500) -> RecoveryReport:
        try:
            return await self._run_once(batch)
        finally:
            # The timer's instance writes its counts even when nothing else runs there.
            if self._flow is not None:
                await self._flow.flush_if_due()

    async def _run_once(self, batch: int) -> RecoveryReport:
        report = RecoveryReport()
        deadline = self._monotonic() + self._settings.timer_budget_seconds
        pace = self._settings.requeue_per_integration_per_run
        # Rows are handled in due order and the next read starts past the last one,
        # so rows deferred by pacing do not hide later rows of other integrations.
        cursor: str | None = None
        while True:
            checks = await self._schedule.due(self._now(), batch, after=cursor)
            if not checks:
                return report
            for check in checks:
                if self._monotonic() > deadline:
                    report.stopped_by_budget = True
                    return report
                cursor = check.cursor
                report.due += 1
                if report.per_integration[check.integration_id] >= pace:
                    report.deferred += 1  # paced: stays due for the next run
                    continue
                try:
                    await self._check(check, report)
                except (TransientError, StaleWrite) as exc:
                    log.warning("check of event %s postponed: %s", check.event_id, exc)

    async def _check(self, check: ScheduledCheck, report: RecoveryReport) -> None:
        event = await self._events.get(check.integration_id, check.event_id, check.shards)
        now = self._now()
        if event is None or event.schedule_key != check.key:
            # Rows are written with their events, atomically: a row its event does not
            # point at is left over, and goes.
            await self._schedule.remove(check.key)
            report.cleared += 1
            return
        if event.status is EventStatus.FAILED and event.next_retry_at is not None:
            report.retried += 1
            telemetry.RETRIED.add(1, {"integration.id": event.integration_id})
            lifecycle.requeue(event, now)
        elif event.status is EventStatus.QUEUED:
            report.resent += 1
            looks = event.recovery_sends
            # A queued event may be lost (the send failed, or its message was taken
            # and dropped while storage was down) or just waiting behind a backlog in
            # its session. The first look sends the same message again: duplicate
            # detection drops it if it did arrive. Later looks send a new one, in case
            # that message was taken. Each look comes twice as late as the one before
            # (see `send`), so a long backlog gets a few copies, not a flood.
            if looks >= 1:
                lifecycle.requeue(event, now)
            event.recovery_sends = looks + 1
        elif event.status is EventStatus.PROCESSING:
            lease = timedelta(seconds=self._settings.processing_lease_seconds)
            started = event.processing_started_at or event.updated_at
            if started + lease > now:
                await self._move_check(event, check.shards, started + lease)
                return
            report.lease_expired += 1
            lifecycle.requeue(event, now)
        else:
            event.check_at = None
            await self._events.save(event, check.shards)
            report.cleared += 1
            return
        report.per_integration[check.integration_id] += 1
        await self.send(event, check.shards, now)

    async def send(self, event: IntegrationEvent, shards: int, now: datetime) -> None:
        """Send the event's current message, keeping a check in case this send is lost."""
        grace = timedelta(seconds=self._settings.enqueue_grace_seconds)
        spacing = grace * 2 ** min(event.recovery_sends, MAX_CHECK_DOUBLINGS)
        await self._move_check(event, shards, now + spacing)
        try:
            await self._bus.send(lifecycle.queue_message(event, shards))
        except TransientError as exc:
            # The event is saved with its check: a later run sends it again. A send that
            # never happened must not space the checks out: the queue may be back soon.
            log.warning("send of event %s failed; it stays due: %s", event.id, exc)
            if spacing > grace:
                event.recovery_sends = 0
                try:
                    await self._move_check(event, shards, now + grace)
                except (TransientError, StaleWrite) as again:
                    log.warning("check of event %s stays later: %s", event.id, again)

    async def _move_check(self, event: IntegrationEvent, shards: int, due: datetime) -> None:
        """Save the event with its check at `due` (the store moves the row with it)."""
        event.check_at = due
        await self._events.save(event, shards)
