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
from dataclasses import dataclass, field
from typing import Any

from actions.base import Action
from shared.clock import epoch_ms
from shared.models import IntegrationEvent


@dataclass(frozen=True)
class StoredVersion:
    """The newest applied version of one entity as read, with the read's etag, so
    advancing it is one conditional write."""

    version: str
    etag: str | None = None


class EntityVersionStore(ABC):
    """The newest applied version per (integration, entity key)."""

    @abstractmethod
    async def get(self, integration_id: str, key: str) -> StoredVersion | None: ...

    @abstractmethod
    async def advance(
        self, integration_id: str, key: str, version: str, seen: StoredVersion | None
    ) -> None:
        """Set the version unless a newer one is stored already. `seen` is what an
        earlier `get` returned: when nothing changed since, this is one write."""


@dataclass
class Freshness:
    """The entity keys of an event that nothing newer has overwritten, and what was
    read of each (to advance them later without reading again)."""

    keys: set[str]
    seen: dict[str, StoredVersion | None] = field(default_factory=dict)


def event_version(event: IntegrationEvent) -> str:
    return f"{epoch_ms(event.created_at):013d}~{event.id}"


class StalenessGuard:
    def __init__(self, store: EntityVersionStore, concurrency: int = 16) -> None:
        self._store = store
        self._limit = asyncio.Semaphore(concurrency)

    async def fresh_keys(
        self, event: IntegrationEvent, action: Action, data: Any
    ) -> Freshness | None:
        """Entity keys of this event nothing newer has overwritten; None = not versioned."""
        if not action.semantics.versioned:
            return None
        mine = event_version(event)
        keys = sorted(set(action.entity_keys(data, event.entity_id)))

        async def read(key: str) -> StoredVersion | None:
            async with self._limit:
                return await self._store.get(event.integration_id, key)

        stored = await asyncio.gather(*(read(key) for key in keys))
        seen = dict(zip(keys, stored, strict=True))
        fresh = {key for key, found in seen.items() if found is None or found.version <= mine}
        return Freshness(fresh, seen)

    async def record_applied(self, event: IntegrationEvent, fresh: Freshness) -> None:
        """Remember this event as the newest applied for each of its fresh keys."""
        version = event_version(event)

        async def advance(key: str) -> None:
            seen = fresh.seen.get(key)
            if seen is not None and seen.version >= version:
                return  # a redelivery after the version was advanced: nothing to write
            async with self._limit:
                await self._store.advance(event.integration_id, key, version, seen)

        await asyncio.gather(*(advance(key) for key in fresh.keys))
