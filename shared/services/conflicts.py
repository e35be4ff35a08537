"""Retry on a conflicting write, named once.

Records are written over the copy that was read (an etag condition); a write that
meets someone else's change raises `StaleWrite`. The answer is always the same: read
afresh, decide again, write again, a few times, then tell the caller it is busy.

    await on_fresh_copy(lambda: rename(integration_id), attempts=3, busy=lambda: Conflict(...))
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.services.ports import StaleWrite

T = TypeVar("T")


async def on_fresh_copy(
    attempt: Callable[[], Awaitable[T]], *, attempts: int, busy: Callable[[], Exception]
) -> T:
    """Run `attempt` (read, decide, write over the copy read) until a run meets no
    conflicting write, at most `attempts` times; then raise `busy()`."""
    for _ in range(attempts):
        try:
            return await attempt()
        except StaleWrite:
            continue
    raise busy()
