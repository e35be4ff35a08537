"""The dead-letter queue's reader: a message nobody could process marks its event.

Nothing disappears into a sub-queue nobody reads: the event becomes `failed` with
`deadLettered: true` and why, in words a person can act on, where operations see it
and can resubmit.

Why the queue gave up travels in the message's application properties
`DeadLetterReason` and `DeadLetterErrorDescription`, where Service Bus puts them; the
Functions extension 5.x passes no trigger metadata of their own, so the Python
library's `dead_letter_reason` field is empty on Azure (`read_cause` falls back to it).

A storage outage must not become a tight loop: a dead letter cannot be dead-lettered
again, so a function that raised would get its message back at once, again and again.
While storage is unavailable the message is completed and its event left to the timer:
an event still on its way (queued, processing, or failed with a retry due) keeps the
due-time check written with it, so the timer sends it again; if the worker still cannot
process it, it is dead-lettered again and marked then. An event that already waits for
a person needs nothing more.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import telemetry
from shared.domain import lifecycle
from shared.domain.errors import TransientError, UnreadableMessage
from shared.domain.flow import FlowStep, outcome_step
from shared.services.alerts import AlertService
from shared.services.flow_counter import FlowCounter
from shared.services.ports import EventStore
from shared.services.worker import EventRef

log = logging.getLogger("integrations.deadletters")

REASON_PROPERTY = "DeadLetterReason"
DESCRIPTION_PROPERTY = "DeadLetterErrorDescription"
MAX_DELIVERIES = "MaxDeliveryCountExceeded"
EXPIRED = "TTLExpiredException"
# The broker's description: "Message could not be consumed after 10 delivery attempts."
_DELIVERIES = re.compile(r"after (\d+) delivery attempts")


@dataclass(frozen=True)
class DeadLetterCause:
    """Why a message was dead-lettered: the queue's reason code and its description,
    e.g. DeadLetterCause("MaxDeliveryCountExceeded", "Message could not be consumed
    after 10 delivery attempts.")."""

    reason: str | None
    description: str | None

    def in_words(self) -> str:
        """What happened, for the person who reads the event's last error."""
        if self.reason == MAX_DELIVERIES:
            found = _DELIVERIES.search(self.description or "")
            times = f"{found.group(1)} times" if found else "as often as the queue allows"
            return f"the worker failed on it {times} ({self.reason})"
        if self.reason == EXPIRED:
            return f"it waited in the queue longer than its time to live ({self.reason})"
        said = self.reason or "the queue gave no reason"
        return f"{said}: {self.description}" if self.description else said


def read_cause(
    properties: Mapping[str, Any] | None,
    reason: str | None = None,
    description: str | None = None,
) -> DeadLetterCause:
    """The cause from the message's application properties, where Service Bus puts it;
    `reason` and `description` (the trigger's own fields, empty on Azure) fill a gap."""
    props = properties or {}
    return DeadLetterCause(
        _text(props.get(REASON_PROPERTY)) or _text(reason),
        _text(props.get(DESCRIPTION_PROPERTY)) or _text(description),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().rstrip(".")
    return text or None


class DeadLetterService:
    def __init__(
        self,
        events: EventStore,
        now: Callable[[], datetime],
        alerts: AlertService | None = None,
        flow: FlowCounter | None = None,
    ) -> None:
        self._alerts = alerts
        self._flow = flow
        self._events = events
        self._now = now

    async def handle(
        self,
        body: bytes,
        properties: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        *,
        reason: str | None = None,
        description: str | None = None,
    ) -> str:
        """Mark the event of one dead-lettered message; returns its status afterwards
        ("deferred" when storage was unavailable: the message may be completed).

        `properties` are the message's application properties; `reason` and
        `description` its dead-letter fields, read only when the properties lack them."""
        try:
            ref = EventRef.parse(body)
        except UnreadableMessage:
            log.error("dead-lettered message is not ours and is dropped: %r", body[:200])
            return "unreadable"
        cause = read_cause(properties, reason, description)
        try:
            return await self._mark(ref, cause, message_id)
        except TransientError as exc:
            log.warning(
                "dead letter of event %s left to the timer, storage unavailable (%s): %s",
                ref.event_id,
                cause.in_words(),
                exc,
            )
            return "deferred"
        finally:
            if self._flow is not None:
                await self._flow.flush_if_due()

    async def _mark(self, ref: EventRef, cause: DeadLetterCause, message_id: str | None) -> str:
        event = await self._events.get(ref.integration_id, ref.event_id, ref.shards)
        if event is None:
            log.error("dead-lettered message for unknown event %s", ref.event_id)
            return "missing"
        if event.status.is_final:
            return event.status.value  # a late duplicate of an event that succeeded
        if message_id is not None and message_id != lifecycle.message_id_for(event):
            # An older send of this event: it has been enqueued again since (a retry
            # or a person's resubmission) and that newer delivery decides.
            log.warning("stale dead letter %s for event %s ignored", message_id, event.id)
            return "stale"
        why = cause.in_words()
        # An event already waiting for a person had its outcome counted when it got it.
        had_outcome = outcome_step(event) in (FlowStep.FAILED, FlowStep.DEAD_LETTERED)
        lifecycle.dead_letter(
            event, f"Delivery gave up: {why}. Resubmit it once the cause is fixed.", self._now()
        )
        await self._events.save(event, ref.shards)
        if self._flow is not None and not had_outcome:
            self._flow.tally(event.integration_id, FlowStep.DEAD_LETTERED, self._now())
        telemetry.DEAD_LETTERED.add(1, {"integration.id": event.integration_id})
        if self._alerts is not None:
            await self._alerts.dead_lettered(event, why)
        telemetry.log_event(f"dead-lettered ({why})", event, logging.WARNING)
        return event.status.value
