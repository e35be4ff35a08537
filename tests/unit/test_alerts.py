"""Alerts: dead letters and failure rates reach the webhook at most once per window."""

from __future__ import annotations

from typing import Any

import httpx

from shared.adapters.webhook import WebhookAlertSink
from shared.config import Settings
from shared.domain.errors import TransientError
from shared.domain.models import ErrorKind, EventStatus, LastError
from shared.services.alerts import AlertService
from shared.services.ports import AlertLedger, AlertSink
from tests.unit.fakes import FakeClock, make_event, make_integration


class RecordingSink(AlertSink):
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def post(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


class MemoryLedger(AlertLedger):
    def __init__(self) -> None:
        self.claimed: set[tuple[str, str, str]] = set()

    async def claim(self, integration_id: str, kind: str, window: str) -> bool:
        key = (integration_id, kind, window)
        if key in self.claimed:
            return False
        self.claimed.add(key)
        return True


def service(clock: FakeClock, **settings: Any) -> tuple[AlertService, RecordingSink]:
    values = {"DASHBOARD_URL": "https://ops.example/", "ALERT_MIN_ATTEMPTS": 4} | settings
    sink = RecordingSink()
    return AlertService(Settings.model_validate(values), sink, MemoryLedger(), clock), sink


def an_event(clock: FakeClock, integration_id: str, status: EventStatus) -> Any:
    integration, _ = make_integration(clock, id=integration_id)
    return make_event(integration, clock, status=status)


def failed(clock: FakeClock, integration_id: str = "int_a", dead: bool = False) -> Any:
    event = an_event(clock, integration_id, EventStatus.FAILED)
    event.last_error = LastError(
        ErrorKind.PERMANENT, "Cannot create order X: SKU 'Y' does not exist", 422
    )
    event.dead_lettered = dead
    return event


async def test_a_dead_lettered_event_alerts_once_per_window_with_reason_and_link() -> None:
    clock = FakeClock()
    alerts, sink = service(clock)
    first = failed(clock, dead=True)
    await alerts.observe(first)
    await alerts.observe(failed(clock, dead=True))  # same integration, same window
    assert len(sink.messages) == 1
    message = sink.messages[0]
    assert "SKU 'Y' does not exist" in message["text"]
    assert message["dashboardUrl"] == (
        f"https://ops.example/dashboard#integration=int_a&event={first.id}"
    )
    assert message["kind"] == "dead-lettered" and message["integrationId"] == "int_a"
    clock.advance(3601)  # the next window may alert again
    await alerts.observe(failed(clock, dead=True))
    assert len(sink.messages) == 2


async def test_failure_rate_alerts_only_above_the_threshold_and_minimum() -> None:
    clock = FakeClock()
    alerts, sink = service(clock, ALERT_FAILURE_RATE=0.5)
    for _ in range(3):
        await alerts.observe(failed(clock, integration_id="int_few"))
    assert sink.messages == []  # 3 attempts: under the minimum of 4
    ok = an_event(clock, "int_a", EventStatus.SUCCESS)
    for _ in range(5):
        await alerts.observe(ok)
    for _ in range(3):
        await alerts.observe(failed(clock))
    assert sink.messages == []  # 3 of 8 failed: under 50 %
    for _ in range(2):
        await alerts.observe(failed(clock))
    assert len(sink.messages) == 1  # 5 of 10 failed
    assert "5 of the last 10 attempts failed (50%)" in sink.messages[0]["text"]
    await alerts.observe(failed(clock))
    assert len(sink.messages) == 1  # once per window


async def test_old_attempts_leave_the_window_and_integrations_are_separate() -> None:
    clock = FakeClock()
    alerts, sink = service(clock, ALERT_FAILURE_RATE=0.5, ALERT_WINDOW_MINUTES=10)
    for _ in range(3):
        await alerts.observe(failed(clock))
    clock.advance(601)
    await alerts.observe(failed(clock))  # the three earlier ones no longer count
    await alerts.observe(failed(clock, integration_id="int_b"))
    assert sink.messages == []


async def test_no_webhook_configured_sends_nothing() -> None:
    clock = FakeClock()
    ledger = MemoryLedger()
    alerts = AlertService(Settings(), None, ledger, clock)
    await alerts.observe(failed(clock, dead=True))
    assert ledger.claimed == set()


async def test_the_webhook_gets_slack_and_teams_compatible_json() -> None:
    posted: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(200 if len(posted) == 1 else 500)

    sink = WebhookAlertSink("https://hooks.example/x", transport=httpx.MockTransport(handler))
    await sink.post({"text": "hello"})
    assert posted[0].headers["content-type"] == "application/json"
    assert posted[0].read() == b'{"text":"hello"}'
    try:
        await sink.post({"text": "again"})
    except TransientError as error:
        assert "500" in error.message
    else:
        raise AssertionError("a failing webhook must raise TransientError")
    await sink.close()
