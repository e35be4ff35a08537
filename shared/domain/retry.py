"""Retry policy: exponential backoff with full jitter, as a pure value.

Full jitter (a delay drawn uniformly from [0, base * 2^(attempt-1)], capped) spreads
retries of many events that failed together, so a recovering platform is not hit by
one synchronized wave. Randomness is injected, so schedules are testable without
sleeping:

    policy = RetryPolicy(max_attempts=5, base_delay=30, max_delay=3600)
    policy.next_delay(attempt=3, random=lambda: 1.0)   # 120.0
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass

from shared.config import Settings


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay: float
    max_delay: float

    def ceiling(self, attempt: int) -> float:
        """The largest delay after the given (1-based) failed attempt."""
        return float(min(self.max_delay, self.base_delay * 2 ** max(attempt - 1, 0)))

    def next_delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        random: Callable[[], float] = _random.random,
    ) -> float | None:
        """Seconds until the next try, or None when attempts are exhausted.

        A platform's Retry-After is a floor: never come back sooner than it asked.
        """
        if attempt >= self.max_attempts:
            return None
        delay = random() * self.ceiling(attempt)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay


def policy_for(
    settings: Settings,
    action: str,
    max_attempts: int | None = None,
    base_delay: float | None = None,
) -> RetryPolicy:
    """Settings, then the per-action override, then the integration's own override."""
    override = settings.retry_overrides.get(action, {})
    return RetryPolicy(
        max_attempts=int(max_attempts or override.get("maxAttempts", settings.retry_max_attempts)),
        base_delay=float(
            base_delay or override.get("baseDelaySeconds", settings.retry_base_delay_seconds)
        ),
        max_delay=float(override.get("maxDelaySeconds", settings.retry_max_delay_seconds)),
    )
