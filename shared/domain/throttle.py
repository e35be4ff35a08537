"""Pacing calls to the platform: an async token bucket, one per worker instance.

A backlog that drains after an outage would otherwise go out as fast as the worker
can send; paced, it stays under the platform's published rate limit instead of
collecting 429s. The clock and sleep are injected so tests need not wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Throttle:
    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._rate = per_second
        self._capacity = max(1.0, per_second / 10)  # small bursts only
        self._tokens = self._capacity
        self._clock, self._sleep = clock, sleep
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def wait(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        async with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            delay = (1 - self._tokens) / self._rate
            await self._sleep(delay)
            self._tokens = 0.0
            self._updated = self._clock()
            return delay


class RateLimiter:
    """Token buckets by key (an integration), answering at once instead of waiting:
    how the inbound route keeps one client from starving the others."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_second
        self._capacity = max(1.0, per_second)  # a second's worth of burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)

    def retry_after(self, key: str) -> float:
        """0 if a request may pass now (and take a token), else seconds to wait."""
        now = self._clock()
        tokens, updated = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - updated) * self._rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self._rate
