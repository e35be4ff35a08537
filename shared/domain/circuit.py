"""A circuit breaker over the platform, per worker instance.

After `threshold` transient failures in a row the worker stops calling the platform
for `cooldown` (doubling while failures continue, up to `max_cooldown`); events that
arrive meanwhile are postponed without counting an attempt. After the pause one call
goes through as a probe: success closes the circuit. This is what keeps a backlog
from hammering a platform that is just coming back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class CircuitBreaker:
    threshold: int = 5
    cooldown: timedelta = timedelta(seconds=15)
    max_cooldown: timedelta = timedelta(minutes=5)
    _failures: int = field(default=0, init=False)
    _open_until: datetime | None = field(default=None, init=False)
    _current_cooldown: timedelta | None = field(default=None, init=False)

    def paused_until(self, now: datetime) -> datetime | None:
        """When calls may resume, or None if a call may go through now."""
        if self._open_until is not None and now < self._open_until:
            return self._open_until
        return None

    def record(self, transient_failure: bool, now: datetime) -> None:
        if not transient_failure:
            self._failures, self._open_until, self._current_cooldown = 0, None, None
            return
        self._failures += 1
        if self._failures >= self.threshold:
            previous = self._current_cooldown
            self._current_cooldown = (
                min(previous * 2, self.max_cooldown) if previous else self.cooldown
            )
            self._open_until = now + self._current_cooldown

    @property
    def is_open(self) -> bool:
        return self._open_until is not None
