"""The dead-letter queue's reader: a message nobody could process marks its event.

Nothing disappears into a sub-queue nobody reads: the event becomes `failed` with
`deadLettered: true` and the reason, where operations see it and can resubmit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from shared import lifecycle, telemetry
from shared.alerts import AlertService
from shared.ports import EventStore
from shared.worker import EventRef, UnreadableMessage

log = logging.getLogger("integrations.deadletters")


class DeadLetterService:
    def __init__(
        self,
        events: EventStore,
        now: Callable[[], datetime],
        alerts: AlertService | None = None,
    ) -> None:
        self._alerts = alerts
        self._events = events
        self._now = now

    async def handle(
        self,
        body: bytes,
        reason: str | None,
        description: str | None,
        message_id: str | None = None,
    ) -> str:
        try:
            ref = EventRef.parse(body)
        except UnreadableMessage:
            log.error("dead-lettered message is not ours and is dropped: %r", body[:200])
            return "unreadable"
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
        why = (reason or "dead-lettered") + (f": {description}" if description else "")
        lifecycle.dead_letter(
            event,
            f"Delivery gave up after repeated crashes of the worker ({why}). "
            "Resubmit it once the cause is fixed.",
            self._now(),
        )
        await self._events.save(event, ref.shards)
        telemetry.DEAD_LETTERED.add(1, {"integration.id": event.integration_id})
        if self._alerts is not None:
            await self._alerts.dead_lettered(event, why)
        telemetry.log_event(f"dead-lettered ({why})", event, logging.WARNING)
        return event.status.value
