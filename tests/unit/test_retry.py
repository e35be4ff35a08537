"""The retry policy: exponential ceiling, cap, full jitter, Retry-After floor, overrides."""

from __future__ import annotations

import random

import pytest

from shared.config import Settings
from shared.domain.retry import RetryPolicy, policy_for

POLICY = RetryPolicy(max_attempts=10, base_delay=30, max_delay=3600)


def test_ceiling_doubles_from_the_base_and_is_capped() -> None:
    ceilings = [POLICY.ceiling(attempt) for attempt in range(1, 10)]
    assert ceilings == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert POLICY.ceiling(0) == 30  # never below the base


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    assert POLICY.next_delay(3, random=lambda: 0.0) == 0.0
    assert POLICY.next_delay(3, random=lambda: 0.5) == 60.0
    assert POLICY.next_delay(3, random=lambda: 1.0) == 120.0
    assert POLICY.next_delay(9, random=lambda: 1.0) == 3600.0  # the cap holds


def test_jitter_spreads_delays_over_the_whole_range() -> None:
    draws = random.Random(7)
    delays = [POLICY.next_delay(4, random=draws.random) for _ in range(500)]
    assert all(d is not None and 0 <= d <= 240 for d in delays)
    spread = sorted(d for d in delays if d is not None)
    assert spread[0] < 24 and spread[-1] > 216  # both ends of [0, 240] are reached
    assert len(set(spread)) > 450  # not one synchronized wave


def test_uses_the_real_random_source_by_default() -> None:
    delays = {POLICY.next_delay(5) for _ in range(20)}
    assert len(delays) > 1
    assert all(d is not None and 0 <= d <= 480 for d in delays)


def test_exhausted_attempts_give_none() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=1, max_delay=10)
    assert policy.next_delay(2, random=lambda: 1.0) == 2.0
    assert policy.next_delay(3, random=lambda: 1.0) is None
    assert policy.next_delay(4, retry_after=1, random=lambda: 1.0) is None


def test_retry_after_is_a_floor_not_a_ceiling() -> None:
    assert POLICY.next_delay(1, retry_after=90, random=lambda: 0.1) == 90.0
    assert POLICY.next_delay(5, retry_after=90, random=lambda: 1.0) == 480.0
    # a platform asking for a day is held to the cap
    assert POLICY.next_delay(1, retry_after=86_400, random=lambda: 0.0) == 3600.0


def test_settings_give_the_default_policy() -> None:
    settings = Settings(
        RETRY_MAX_ATTEMPTS=5, RETRY_BASE_DELAY_SECONDS=2, RETRY_MAX_DELAY_SECONDS=60
    )
    assert policy_for(settings, "inventory.set") == RetryPolicy(5, 2.0, 60.0)


def test_per_action_overrides_from_settings() -> None:
    overrides = (
        '{"order.create": {"maxAttempts": 12, "baseDelaySeconds": 5, "maxDelaySeconds": 600}}'
    )
    settings = Settings(RETRY_MAX_ATTEMPTS=5, RETRY_OVERRIDES=overrides)
    assert settings.retry_overrides["order.create"]["maxAttempts"] == 12
    assert policy_for(settings, "order.create") == RetryPolicy(12, 5.0, 600.0)
    other = policy_for(settings, "inventory.set")
    assert other.max_attempts == 5
    assert other.base_delay == settings.retry_base_delay_seconds


def test_the_integrations_override_wins_over_the_actions() -> None:
    settings = Settings(RETRY_OVERRIDES='{"order.create": {"maxAttempts": 12}}')
    policy = policy_for(settings, "order.create", max_attempts=3, base_delay=1.5)
    assert (policy.max_attempts, policy.base_delay) == (3, 1.5)


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_overrides_setting_means_none(value: str) -> None:
    assert Settings(RETRY_OVERRIDES=value).retry_overrides == {}
