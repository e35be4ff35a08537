"""The plain-words advice for a failed event, by what happened to it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.domain.advice import advice_for
from shared.domain.models import ErrorKind, EventStatus, IntegrationEvent, LastError
from tests.unit.fakes import FakeClock, make_event, make_integration

DOWN = LastError(ErrorKind.TRANSIENT, "Could not set stock: the platform answered 503.", 503)


def event(**fields: Any) -> IntegrationEvent:
    clock = FakeClock()
    integration, _ = make_integration(clock)
    return make_event(integration, clock, **fields)


def test_no_failure_no_advice() -> None:
    assert advice_for(event(status=EventStatus.SUCCESS)) is None


def test_a_transient_failure_with_a_retry_due_needs_nothing_yet() -> None:
    found = event(status=EventStatus.FAILED, last_error=DOWN, attempts=2, max_attempts=8)
    found.next_retry_at = found.created_at + timedelta(minutes=1)
    advice = advice_for(found)
    assert advice is not None and advice.kind == "transient"
    assert "Attempt 2 of 8" in advice.todo and advice.http == "HTTP 503 · platform unavailable"


def test_retries_used_up_and_a_dead_letter_each_say_nothing_was_lost() -> None:
    used_up = advice_for(event(status=EventStatus.FAILED, last_error=DOWN))
    assert used_up is not None and "used up" in used_up.headline
    crashed = LastError(ErrorKind.PERMANENT, "Delivery gave up.", None)
    dead = advice_for(event(status=EventStatus.FAILED, last_error=crashed, dead_lettered=True))
    assert dead is not None and "dead-lettered" in dead.headline and dead.http is None
    assert "Nothing was lost" in used_up.todo and "Nothing was lost" in dead.todo


def test_an_earlier_failure_of_an_event_that_went_on_is_history() -> None:
    advice = advice_for(event(status=EventStatus.SUCCESS, last_error=DOWN))
    assert advice is not None and advice.kind == "past"
    assert advice.todo == "It succeeded afterwards."
