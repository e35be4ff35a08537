"""The queue worker: apply one event to the platform and record what happened.

An idempotent consumer: a redelivered message for an event that already has an
outcome completes without calling the platform; retries of one submission share an
Idempotency-Key, so a call whose outcome was unknown (timeout) is never applied twice.
A storage outage completes the message and leaves the event to the timer (its
due-time check brings it back). Anything else that goes wrong
propagates: the message is abandoned and redelivered, and after max deliveries lands
in the dead-letter queue, whose function marks the event for a person.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.trace import SpanKind

from actions import ACTIONS
from actions.base import Action, PlatformCall
from shared import telemetry
from shared.config import Settings
from shared.domain import lifecycle
from shared.domain.circuit import CircuitBreaker
from shared.domain.comm_log import attempt_record
from shared.domain.erasure import was_erased
from shared.domain.errors import TransientError, UnreadableMessage
from shared.domain.models import Attempt, ErrorKind, IntegrationEvent, LastError, PlatformExchange
from shared.domain.outcomes import (
    Outcome,
    awaiting_earlier_record,
    classify,
    names_a_missing_record,
)
from shared.domain.retry import RetryPolicy, policy_for
from shared.services.alerts import AlertService
from shared.services.conflicts import on_fresh_copy
from shared.services.flow_counter import FlowCounter
from shared.services.ports import EventStore, IntegrationStore, PlatformClient, StaleWrite
from shared.services.staleness import StalenessGuard

log = logging.getLogger("integrations.worker")
# The timer touching an event during its attempt is rare; a few fresh copies settle it.
REBASE_ATTEMPTS = 3
FRESH_COPY_ATTEMPTS = 5
SUPERSEDED = "A newer event for the same records already succeeded; nothing to apply."
DATA_ERASED = (
    "This event's personal data was erased on request; it cannot be sent to the platform "
    "any more. Push the data again if it is still wanted."
)


@dataclass(frozen=True)
class EventRef:
    event_id: str
    integration_id: str
    shards: int

    @classmethod
    def parse(cls, body: bytes) -> EventRef:
        try:
            data = json.loads(body)
            return cls(str(data["eventId"]), str(data["integrationId"]), int(data["shards"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise UnreadableMessage(f"Unreadable queue message: {body[:200]!r}") from exc


class Worker:
    def __init__(
        self,
        settings: Settings,
        integrations: IntegrationStore,
        events: EventStore,
        platform: PlatformClient,
        staleness: StalenessGuard,
        breaker: CircuitBreaker,
        now: Callable[[], datetime],
        alerts: AlertService | None = None,
        flow: FlowCounter | None = None,
    ) -> None:
        self._alerts = alerts
        self._flow = flow
        self._settings = settings
        self._integrations = integrations
        self._events = events
        self._platform = platform
        self._staleness = staleness
        self._breaker = breaker
        self._now = now
        self._lease = timedelta(seconds=settings.processing_lease_seconds)
        # A claim outlives the attempt's platform calls (a product with prices makes two).
        self._claim_lease = timedelta(seconds=2 * settings.platform_timeout_seconds + 30)

    async def handle(self, body: bytes, properties: Mapping[str, Any] | None = None) -> str:
        """Process one queue message; returns the event's status afterwards.

        `properties` are the message's application properties; their `traceparent`
        continues the accepting request's trace."""
        ref = EventRef.parse(body)
        try:
            return await self._handle(ref, properties)
        except TransientError as exc:
            # Storage is briefly unavailable. Completing the message is safe: the event
            # keeps its due-time row (or its processing lease), so the timer delivers
            # it again; abandoning would burn the message's delivery count in seconds
            # and dead-letter it during a short brownout.
            log.warning("event %s deferred, storage unavailable: %s", ref.event_id, exc)
            return "deferred"
        finally:
            if self._flow is not None:
                await self._flow.flush_if_due()

    async def _handle(self, ref: EventRef, properties: Mapping[str, Any] | None) -> str:
        async def run_on_fresh_copy() -> str:
            # The timer or a person may touch the event between our read and our write:
            # then it is read again and decided afresh, so no message is dropped unrun.
            event = await self._events.get(ref.integration_id, ref.event_id, ref.shards)
            if event is None:
                log.warning("event %s not found; message dropped", ref.event_id)
                return "missing"
            if not lifecycle.may_process(event):
                log.info("event %s already %s; delivery completed", event.id, event.status)
                return event.status.value
            parent = properties if properties and "traceparent" in properties else None
            with telemetry.span("process event", event, parent or event.trace_context):
                return await self._run_attempt(event, ref.shards)

        return await on_fresh_copy(
            run_on_fresh_copy,
            attempts=FRESH_COPY_ATTEMPTS,
            busy=lambda: StaleWrite(
                f"event {ref.event_id} kept changing; the message will be redelivered"
            ),
        )

    async def _run_attempt(self, event: IntegrationEvent, shards: int) -> str:
        """Attempt the event and save its outcome in one write. Nothing is written
        before the platform call: the event's check (made when it was queued) brings it
        back if this worker dies, and the delivery's message lock keeps other copies of
        it waiting in its session. A slow attempt is marked `processing` meanwhile."""
        pause = self._breaker.paused_until(self._now())
        if pause is not None:
            await self._postpone(event, shards, pause)
        else:
            started = self._now()
            queued = copy.copy(event)
            lifecycle.start_attempt(event, started, self._lease)
            mark = asyncio.create_task(self._mark_processing_later(event, shards))
            try:
                await self._attempt(event, shards, started, queued, mark)
            finally:
                await _stop(mark)
        # Counted once the outcome is saved: a write that failed is decided afresh.
        if self._flow is not None:
            self._flow.outcome(event, self._now())
        return event.status.value

    async def _mark_processing_later(self, event: IntegrationEvent, shards: int) -> None:
        """After `PROCESSING_MARK_SECONDS`, show the attempt as `processing`, with a check
        at the end of its lease. Fast attempts (most) never pay this write."""
        await asyncio.sleep(self._settings.processing_mark_seconds)
        marked = copy.copy(event)
        await self._events.save(marked, shards)
        event.etag, event.schedule_key = marked.etag, marked.schedule_key

    async def _attempt(
        self,
        event: IntegrationEvent,
        shards: int,
        started: datetime,
        queued: IntegrationEvent,
        mark: asyncio.Task[None],
    ) -> None:
        if was_erased(event.payload):
            # Its personal data was erased on request: what is left must not reach the
            # platform, now or on a resubmission.
            await _stop(mark)
            error = LastError(ErrorKind.PERMANENT, DATA_ERASED, None)
            lifecycle.fail(event, error, await self._policy(event), self._now())
            await self._settle(event, shards, queued)
            return
        action = ACTIONS[event.action]
        data = action.parse((event.payload or {}).get("data", {}))
        # Under per-record ordering another session may apply one of these records at
        # the same moment: claim them first (see shared.staleness).
        claim_for = self._claim_lease if lifecycle.ordered_per_record(event) else None
        fresh = await self._staleness.fresh_keys(event, action, data, claim_for)
        current = None if fresh is None else fresh.keys
        calls = [] if current == set() else action.platform_calls(data, event.entity_id, current)
        if not calls:
            await _stop(mark)
            await self._staleness.release(event, fresh)
            reason = fresh.reason if fresh is not None else None
            lifecycle.skip(event, reason or SUPERSEDED, self._now())
            await self._settle(event, shards, queued)
            return
        what = action.describe(data, event.entity_id)
        exchanges, outcome = await self._call_platform(event, action, calls, what)
        await _stop(mark)
        now = self._now()
        if outcome.succeeded:
            result = action.results([exchange.response_body for exchange in exchanges])
            if fresh is not None:
                applied = action.item_count(action.only_items(data, fresh.keys))
                if applied < action.item_count(data):
                    result["skippedItems"] = action.item_count(data) - applied
                # Before the outcome: a crash in between replays the call (same key),
                # never lets an older event overwrite this one.
                await self._staleness.record_applied(event, fresh)
            lifecycle.succeed(event, result, now)
        else:
            assert outcome.error is not None
            await self._staleness.release(event, fresh)
            policy = await self._policy(event)
            lifecycle.fail(event, outcome.error, policy, now, outcome.retry_after_seconds)
        attempt = attempt_record(
            event, started, now, outcome, exchanges, self._settings.masked_fields
        )
        await self._settle(event, shards, queued, attempt)
        telemetry.record_outcome(event, (now - event.created_at).total_seconds() * 1000)
        if self._alerts is not None:
            await self._alerts.observe(event)
        level = logging.INFO if outcome.succeeded else logging.WARNING
        telemetry.log_event("attempt finished", event, level)

    async def _call_platform(
        self, event: IntegrationEvent, action: Action, calls: list[PlatformCall], what: str
    ) -> tuple[list[PlatformExchange], Outcome]:
        """Make the calls in order, stopping at the first that does not succeed. Each
        call has its own platform key, stable across retries, so a retry replays the
        calls that were applied and makes the rest."""
        base = lifecycle.platform_idempotency_key(event)
        exchanges: list[PlatformExchange] = []
        outcome = Outcome(True)
        for call in calls:
            key = action.call_key(base, call)
            with telemetry.span(f"platform {call.operation_id}", event, kind=SpanKind.CLIENT):
                exchanges.append(await self._platform.call(call, key))
            outcome = classify(exchanges[-1], what)
            self._breaker.record(outcome.transient, self._now())
            if names_a_missing_record(exchanges[-1]) and (until := self._dependency_wait(event)):
                outcome = awaiting_earlier_record(outcome, until)
            if not outcome.succeeded:
                break
        return exchanges, outcome

    def _dependency_wait(self, event: IntegrationEvent) -> datetime | None:
        """Until when a record this event names may still be on its way: only under
        per-record ordering, where the event creating it can travel on another session."""
        if not lifecycle.ordered_per_record(event):
            return None
        until = event.created_at + timedelta(seconds=self._settings.entity_dependency_wait_seconds)
        return until if self._now() < until else None

    async def _settle(
        self,
        event: IntegrationEvent,
        shards: int,
        as_read: IntegrationEvent,
        attempt: Attempt | None = None,
    ) -> None:
        """Save the outcome, its check and its attempt in one write."""
        for _ in range(REBASE_ATTEMPTS):
            try:
                await self._events.save(event, shards, attempt)
                return
            except StaleWrite:
                if not await self._rebase(event, shards, as_read):
                    raise
        await self._events.save(event, shards, attempt)

    async def _rebase(
        self, event: IntegrationEvent, shards: int, as_read: IntegrationEvent
    ) -> bool:
        """While an attempt runs, the timer may look at its event (send it again, move
        its check), and the attempt's own `processing` mark changes it too. The outcome
        then goes onto the fresh copy: throwing it away would ask the platform a second
        time. Any other change (another delivery recorded an attempt, a person acted)
        means deciding afresh."""
        fresh = await self._events.get(event.integration_id, event.id, shards)
        if (
            fresh is None
            or not lifecycle.may_process(fresh)
            # erased meanwhile: this attempt's copy must not write the data back
            or was_erased(fresh.payload)
            or fresh.attempts not in (as_read.attempts, event.attempts)
            or fresh.resubmissions != as_read.resubmissions
            or fresh.key_generation != as_read.key_generation
            or (
                fresh.attempts == event.attempts
                and fresh.processing_started_at != event.processing_started_at
            )
        ):
            return False
        event.etag, event.schedule_key = fresh.etag, fresh.schedule_key
        # Keep the timer's count of sends, so the next message still gets a new id.
        event.enqueues = fresh.enqueues
        return True

    async def _postpone(self, event: IntegrationEvent, shards: int, until: datetime) -> None:
        error = LastError(
            ErrorKind.TRANSIENT,
            "The platform is failing repeatedly; delivery paused to let it recover. "
            "It will be retried automatically.",
            None,
        )
        lifecycle.postpone(event, until + timedelta(seconds=1), error, self._now())
        await self._events.save(event, shards)

    async def _policy(self, event: IntegrationEvent) -> RetryPolicy:
        integration = await self._integrations.get(event.integration_id)
        base_delay = integration.retry_base_delay_seconds if integration else None
        return policy_for(
            self._settings, event.action, max_attempts=event.max_attempts, base_delay=base_delay
        )


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel the processing mark if it has not run; a mark cut short mid-write is
    caught by the outcome's conditional write (see `Worker._rebase`)."""
    if not task.done():
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except (StaleWrite, TransientError) as exc:
        # Only the display of a slow attempt is lost; its outcome is written regardless.
        log.warning("could not mark an event processing: %s", exc)
