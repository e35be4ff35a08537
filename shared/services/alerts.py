"""Alerts to a person: an event dead-lettered, or an integration failing too often.

A notification goes to the ALERT_WEBHOOK_URL (Teams- and Slack-compatible JSON: a
`text` field both accept) at most once per integration and kind per window, with the
reason and a link to the dashboard. The failure rate is measured per worker instance
over a sliding window (a sample of the integration's traffic); the once-per-window
promise holds across instances because the first sender claims the window in a
ledger. Sending never gets in the way of processing: a failed post is only logged.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.config import Settings
from shared.domain.errors import TransientError
from shared.domain.models import IntegrationEvent
from shared.domain.retention import window_name
from shared.services.ports import AlertLedger, AlertSink

log = logging.getLogger("integrations.alerts")


class AlertKind(StrEnum):
    DEAD_LETTERED = "dead-lettered"
    FAILURE_RATE = "failure-rate"

    @property
    def headline(self) -> str:
        return {
            AlertKind.DEAD_LETTERED: "Integration event needs a person",
            AlertKind.FAILURE_RATE: "Integration failing often",
        }[self]


@dataclass(frozen=True)
class Alert:
    integration_id: str
    kind: AlertKind
    reason: str
    event_id: str | None = None

    def message(self, dashboard_url: str | None) -> dict[str, Any]:
        title = self.kind.headline
        link = ""
        if dashboard_url:
            link = f"{dashboard_url.rstrip('/')}/dashboard#integration={self.integration_id}"
            if self.event_id:
                link += f"&event={self.event_id}"
        lines = [f"**{title}**: integration {self.integration_id}", self.reason]
        if link:
            lines.append(f"Open the dashboard: {link}")
        return {
            "text": "\n\n".join(lines),
            "summary": title,
            "integrationId": self.integration_id,
            "kind": self.kind,
            "eventId": self.event_id,
            "dashboardUrl": link or None,
        }


class AlertService:
    def __init__(
        self,
        settings: Settings,
        sink: AlertSink | None,
        ledger: AlertLedger,
        now: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._ledger = ledger
        self._now = now
        self._window = timedelta(minutes=settings.alert_window_minutes)
        self._outcomes: dict[str, deque[tuple[datetime, bool]]] = defaultdict(deque)

    async def observe(self, event: IntegrationEvent) -> None:
        """Called after every attempt: counts it, and alerts on dead letters and on a
        failure rate above the threshold."""
        if event.dead_lettered:
            reason = event.last_error.message if event.last_error else "Delivery gave up."
            await self.dead_lettered(event, reason)
        outcomes = self._outcomes[event.integration_id]
        now = self._now()
        outcomes.append((now, event.status.value == "failed"))
        while outcomes and outcomes[0][0] < now - self._window:
            outcomes.popleft()
        failed = sum(1 for _, was_failed in outcomes if was_failed)
        if len(outcomes) < self._settings.alert_min_attempts:
            return
        rate = failed / len(outcomes)
        if rate >= self._settings.alert_failure_rate:
            minutes = self._settings.alert_window_minutes
            reason = (
                f"{failed} of the last {len(outcomes)} attempts failed ({rate:.0%}) within "
                f"{minutes:g} minutes. Latest: "
                + (event.last_error.message if event.last_error else "see the dashboard.")
            )
            await self._send(Alert(event.integration_id, AlertKind.FAILURE_RATE, reason))

    async def dead_lettered(self, event: IntegrationEvent, reason: str) -> None:
        text = f"Event {event.id} ({event.action}, {event.entity_id or 'no entity id'}): {reason}"
        await self._send(Alert(event.integration_id, AlertKind.DEAD_LETTERED, text, event.id))

    async def _send(self, alert: Alert) -> None:
        if self._sink is None:
            return
        window_seconds = int(self._window.total_seconds()) or 1
        start = int(self._now().timestamp()) // window_seconds * window_seconds
        window = window_name(datetime.fromtimestamp(start, UTC))
        try:
            if not await self._ledger.claim(alert.integration_id, alert.kind, window):
                return
            await self._sink.post(alert.message(self._settings.dashboard_url))
            log.warning("alert sent: %s for %s", alert.kind, alert.integration_id)
        except TransientError as exc:
            log.error("alert %s for %s not sent: %s", alert.kind, alert.integration_id, exc)
