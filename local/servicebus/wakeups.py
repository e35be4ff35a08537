"""Idle consumers sleep on futures instead of polling the queue file.

A consumer registers *before* it looks for work and sleeps on the same future after finding
none, so an announcement that lands while it looks is not lost: the future is already resolved
and it looks again at once. Waiters are woken one at a time, oldest first; a consumer that found
work wakes the next one, so a burst of new sessions reaches every idle consumer without a herd
of them racing for each single message.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class WakeQueue:
    """Consumers waiting for the same kind of work (a free session, a dead letter)."""

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()

    def register(self) -> asyncio.Future[None]:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(woken)
        return woken

    def discard(self, woken: asyncio.Future[None]) -> None:
        if woken in self._waiting:
            self._waiting.remove(woken)

    def wake_one(self) -> None:
        while self._waiting:
            woken = self._waiting.popleft()
            if not woken.done():
                woken.set_result(None)
                return


def wake(woken: asyncio.Future[None] | None) -> None:
    if woken is not None and not woken.done():
        woken.set_result(None)


async def sleep_until(
    stopped: asyncio.Future[Any],
    woken: asyncio.Future[None] | None = None,
    at_most: float | None = None,
) -> None:
    """Return when `woken` or `stopped` completes, or after `at_most` seconds."""
    waits: set[asyncio.Future[Any]] = {stopped} if woken is None else {stopped, woken}
    await asyncio.wait(waits, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
