"""Stale retries never overwrite newer data.

For absolute-state actions (set stock, set price, upsert product or customer, and the
status/tracking fields `order.update` sets) each
entity remembers the version of the newest event applied to it: the event's
creation time and id, which sort in acceptance order. A retried event reaching the
worker after a newer one for the same entity succeeded applies only the items
that are still current; the rest are skipped, item by item. Relative actions
(`inventory.adjust`) and creates are not versioned: each applies exactly once.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any

from actions.base import Action
from shared.clock import epoch_ms
from shared.models import IntegrationEvent


class EntityVersionStore(ABC):
    """The newest applied version per (integration, entity key)."""

    @abstractmethod
    async def get(self, integration_id: str, key: str) -> str | None: ...

    @abstractmethod
    async def advance(self, integration_id: str, key: str, version: str) -> None:
        """Set the version unless a newer one is stored already."""


def event_version(event: IntegrationEvent) -> str:
    return f"{epoch_ms(event.created_at):013d}~{event.id}"


class StalenessGuard:
    def __init__(self, store: EntityVersionStore, concurrency: int = 16) -> None:
        self._store = store
        self._limit = asyncio.Semaphore(concurrency)

    async def fresh_keys(
        self, event: IntegrationEvent, action: Action, data: Any
    ) -> set[str] | None:
        """Entity keys of this event nothing newer has overwritten; None = not versioned."""
        if not action.semantics.versioned:
            return None
        mine = event_version(event)
        keys = set(action.entity_keys(data, event.entity_id))

        async def newer(key: str) -> bool:
            async with self._limit:
                stored = await self._store.get(event.integration_id, key)
            return stored is not None and stored > mine

        flags = await asyncio.gather(*(newer(key) for key in keys))
        return {key for key, is_newer in zip(keys, flags, strict=True) if not is_newer}

    async def record_applied(self, event: IntegrationEvent, keys: set[str]) -> None:
        """Remember this event as the newest applied for each of `keys`."""
        version = event_version(event)

        async def advance(key: str) -> None:
            async with self._limit:
                await self._store.advance(event.integration_id, key, version)

        await asyncio.gather(*(advance(key) for key in keys))
