"""The circuit breaker over the platform."""

from __future__ import annotations

from datetime import timedelta

from shared.domain.circuit import CircuitBreaker
from tests.unit.fakes import FakeClock


def failing(breaker: CircuitBreaker, clock: FakeClock, times: int) -> None:
    for _ in range(times):
        breaker.record(True, clock())


def test_opens_after_the_threshold_of_failures_in_a_row() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown=timedelta(seconds=10))
    failing(breaker, clock, 2)
    assert breaker.paused_until(clock()) is None and not breaker.is_open
    failing(breaker, clock, 1)
    assert breaker.is_open
    assert breaker.paused_until(clock()) == clock() + timedelta(seconds=10)
    assert breaker.paused_until(clock.advance(9.9)) is not None
    assert breaker.paused_until(clock.advance(0.1)) is None  # the probe may go through


def test_a_success_in_between_resets_the_count() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3)
    failing(breaker, clock, 2)
    breaker.record(False, clock())
    failing(breaker, clock, 2)
    assert not breaker.is_open


def test_the_pause_doubles_while_probes_fail_up_to_the_maximum() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        threshold=2, cooldown=timedelta(seconds=10), max_cooldown=timedelta(seconds=35)
    )
    failing(breaker, clock, 2)
    pauses = []
    for _ in range(4):
        until = breaker.paused_until(clock())
        assert until is not None
        pauses.append((until - clock()).total_seconds())
        clock.current = until  # the pause is over: one probe, and it fails
        breaker.record(True, clock())
    assert pauses == [10, 20, 35, 35]


def test_a_successful_probe_closes_the_circuit_and_resets_the_pause() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=timedelta(seconds=10))
    failing(breaker, clock, 3)  # opened, then a failed probe: 20 s
    clock.advance(20)
    breaker.record(False, clock())
    assert not breaker.is_open and breaker.paused_until(clock()) is None
    failing(breaker, clock, 2)
    until = breaker.paused_until(clock())
    assert until is not None and until - clock() == timedelta(seconds=10)
