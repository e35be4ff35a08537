"""Injected faults, request statistics and a per-key log, kept in memory (a restart
clears them).

Faults let tests play the bad days of a real platform: down, flaky, slow, or rate
limited. A faulted request is answered before anything is applied and is never stored
under its Idempotency-Key, so the client's retry is processed for real. The per-key log
lets a test show that a fault took effect on the client: which keys were refused with
429 and asked again, which were applied but answered late, which came back for a replay.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from local.sandbox.models import FaultsUpdate
from local.sandbox.rules import Rejection


@dataclass
class TokenBucket:
    """`rate` requests per second on average, bursts of up to `max(1, rate)`."""

    rate: float
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    @property
    def capacity(self) -> float:
        return max(1.0, self.rate)

    def take(self) -> int:
        """0 if the request may pass, else the whole seconds to wait (>= 1)."""
        clock = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (clock - self.updated) * self.rate)
        self.updated = clock
        if self.tokens >= 1:
            self.tokens -= 1
            return 0
        return max(1, math.ceil((1 - self.tokens) / self.rate))


@dataclass
class Stats:
    requests: int = 0
    applied: int = 0
    rejected: int = 0
    replayed: int = 0
    faultsInjected: int = 0
    rateLimited: int = 0
    peakAppliedPerSecond: int = 0
    # Every request that reached the platform, throttled or not, in its busiest second:
    # how hard a client pushed, which the rate-limit tests compare with the limit.
    peakRequestsPerSecond: int = 0
    # The wall-clock second being counted and what happened in it.
    _second: int = 0
    _applied_this_second: int = 0
    _requests_this_second: int = 0

    def _tick(self) -> None:
        second = int(time.time())
        if second != self._second:
            self._second, self._applied_this_second, self._requests_this_second = second, 0, 0

    def count_request(self) -> None:
        self.requests += 1
        self._tick()
        self._requests_this_second += 1
        self.peakRequestsPerSecond = max(self.peakRequestsPerSecond, self._requests_this_second)

    def count_applied(self) -> None:
        self.applied += 1
        self._tick()
        self._applied_this_second += 1
        self.peakAppliedPerSecond = max(self.peakAppliedPerSecond, self._applied_this_second)

    def view(self) -> dict[str, int]:
        return {name: value for name, value in vars(self).items() if not name.startswith("_")}


@dataclass
class KeyLog:
    """What each Idempotency-Key met: requests that carried it, 429 answers, replays of
    its stored response (and those answering a request for another operation than the
    key was first used with: one key reused for two different calls), and whether it was
    applied while answers were delayed (so a client with a shorter timeout never saw
    the answer).

    Cleared with the state (`POST /_sandbox/reset`), not with the statistics, so a test
    can measure phases with `DELETE /_sandbox/stats` and still read the whole run here."""

    requests: Counter[str] = field(default_factory=Counter)
    rateLimited: Counter[str] = field(default_factory=Counter)
    replayed: Counter[str] = field(default_factory=Counter)
    replayedForOtherOperation: Counter[str] = field(default_factory=Counter)
    appliedThenDelayed: set[str] = field(default_factory=set)

    def refused(self, key: str | None, status: int) -> None:
        if key and status == 429:
            self.rateLimited[key] += 1

    def answered(
        self, key: str | None, replayed: bool, other_operation: bool, delayed: bool
    ) -> None:
        if not key:
            return
        if replayed:
            self.replayed[key] += 1
            if other_operation:
                self.replayedForOtherOperation[key] += 1
        elif delayed:
            self.appliedThenDelayed.add(key)

    def view(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "rateLimited": dict(self.rateLimited),
            "replayed": dict(self.replayed),
            "replayedForOtherOperation": dict(self.replayedForOtherOperation),
            "appliedThenDelayed": sorted(self.appliedThenDelayed),
        }


class Faults:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.settings = FaultsUpdate()
        self._bucket: TokenBucket | None = None
        self._rng = rng or random.Random()

    def update(self, change: FaultsUpdate) -> None:
        """Apply only the fields that were sent (partial update)."""
        values = self.settings.model_dump() | change.model_dump(exclude_unset=True)
        self.settings = FaultsUpdate.model_validate(values)
        if "rateLimitPerSecond" in change.model_fields_set:
            rate = self.settings.rateLimitPerSecond
            self._bucket = None if rate is None else TokenBucket(rate)

    def reset(self) -> None:
        self.settings = FaultsUpdate()
        self._bucket = None

    def view(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def gate(self, stats: Stats) -> tuple[Rejection, dict[str, str]] | None:
        """The fault to answer with instead of processing the request, if any.

        Order matters: a platform that is down does not rate limit, and a request over
        the limit is refused before it could fail at random.
        """
        settings = self.settings
        if settings.down:
            stats.faultsInjected += 1
            return Rejection(503, "unavailable", "The platform is down (sandbox fault)"), {}
        if self._bucket is not None and (wait := self._bucket.take()):
            stats.rateLimited += 1
            message = f"Rate limit of {settings.rateLimitPerSecond:g}/s exceeded; retry later"
            return Rejection(429, "rate_limited", message), {"Retry-After": str(wait)}
        if settings.errorRate and self._rng.random() < settings.errorRate:
            stats.faultsInjected += 1
            message = "The platform failed to answer (sandbox fault)"
            return Rejection(503, "unavailable", message), {}
        return None

    @property
    def latency_seconds(self) -> float:
        return self.settings.latencyMs / 1000
