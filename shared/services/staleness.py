"""Stale retries never overwrite newer data.

For absolute-state actions (set stock, set price, upsert product or customer, and the
status/tracking fields `order.update` sets) each entity remembers the version of the
newest event applied to it: the event's creation time and id, which sort in
acceptance order. A retried event reaching the worker after a newer one for the same
entity succeeded applies only the items that are still current; the rest are skipped,
item by item. Relative actions (`inventory.adjust`) and creates are not versioned:
each applies exactly once.

Under per-record ordering two events naming one record can be in flight at once (a
bulk event travels on its first record's session). Checking versions before applying
is then not enough: the older call could land last. So there each event first claims
its records (a conditional write of the version row, in a fixed key order so two
bulk events never wait on each other), waits while another event's claim is live,
and the claim ends with the version's advance (or a release when the attempt did
not succeed). One session per integration never needs claims.

A record's version row is purged once its newest applied event is older than
`RETENTION_VERSION_DAYS` (see `shared.domain.retention`). An event older than that
finding no row can therefore not tell whether newer data was applied since: such a
record is not fresh for it (a person resubmitting a very old failure gets it skipped,
with `FORGOTTEN` as the reason, rather than stale data over newer data).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from actions.base import Action
from shared.domain.clock import epoch_ms
from shared.domain.models import IntegrationEvent
from shared.services.ports import EntityVersionStore, StaleWrite, StoredVersion

# How often a worker looks again at a record another event has claimed.
CLAIM_POLL_SECONDS = 0.1
FORGOTTEN = (
    "This event is older than the versions of its records are remembered "
    "(RETENTION_VERSION_DAYS): whether newer data was applied since is not known, so "
    "nothing was applied. Push the data again if it is still current."
)


@dataclass
class Freshness:
    """The entity keys of an event that nothing newer has overwritten, and what was
    read (or claimed) of each, to advance them later without reading again."""

    keys: set[str]
    seen: dict[str, StoredVersion | None] = field(default_factory=dict)
    claimed: bool = False
    # Why nothing is left to apply, when it is not a newer event (see FORGOTTEN).
    reason: str | None = None


def event_version(event: IntegrationEvent) -> str:
    return f"{epoch_ms(event.created_at):013d}~{event.id}"


class StalenessGuard:
    def __init__(
        self,
        store: EntityVersionStore,
        now: Callable[[], datetime],
        concurrency: int = 16,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        remembered: timedelta | None = None,
    ) -> None:
        self._store = store
        self._now = now
        self._remembered = remembered
        self._sleep = sleep
        self._limit = asyncio.Semaphore(concurrency)

    async def fresh_keys(
        self,
        event: IntegrationEvent,
        action: Action,
        data: Any,
        claim_for: timedelta | None = None,
    ) -> Freshness | None:
        """Entity keys of this event nothing newer has overwritten; None = not
        versioned. With `claim_for`, the fresh keys are claimed for that long first."""
        if not action.semantics.versioned:
            return None
        mine = event_version(event)
        keys = sorted(set(action.entity_keys(data, event.entity_id)))

        async def read(key: str) -> StoredVersion | None:
            async with self._limit:
                return await self._store.get(event.integration_id, key)

        stored = await asyncio.gather(*(read(key) for key in keys))
        seen = dict(zip(keys, stored, strict=True))
        forgotten = {key for key, found in seen.items() if found is None and self._too_old(event)}
        reason = FORGOTTEN if forgotten else None
        if claim_for is None:
            fresh = {key for key, found in seen.items() if found is None or found.version <= mine}
            return Freshness(fresh - forgotten, seen, reason=reason)
        result = Freshness(set(), seen, claimed=True, reason=reason)
        for key in keys:  # in key order: two bulk events never wait on each other
            if key in forgotten:
                continue
            claimed = await self._claim(event.integration_id, key, mine, claim_for, seen[key])
            if claimed is not None:
                result.keys.add(key)
                result.seen[key] = claimed
        return result

    def _too_old(self, event: IntegrationEvent) -> bool:
        """Older than the versions are remembered: a missing row proves nothing."""
        remembered = self._remembered
        return remembered is not None and event.created_at < self._now() - remembered

    async def _claim(
        self,
        integration_id: str,
        key: str,
        mine: str,
        claim_for: timedelta,
        found: StoredVersion | None,
    ) -> StoredVersion | None:
        """The claim, or None when a newer version is applied already."""
        while True:
            now = self._now()
            if found is not None and found.version > mine:
                return None
            if found is not None and found.claimed_by_other(mine, now):
                # Another event is applying this record right now: let it land first,
                # then compare versions again.
                await self._sleep(CLAIM_POLL_SECONDS)
                found = await self._store.get(integration_id, key)
                continue
            try:
                return await self._store.claim(integration_id, key, mine, now + claim_for, found)
            except StaleWrite:
                found = await self._store.get(integration_id, key)

    async def record_applied(self, event: IntegrationEvent, fresh: Freshness) -> None:
        """Remember this event as the newest applied for each of its fresh keys."""
        version = event_version(event)

        async def advance(key: str) -> None:
            seen = fresh.seen.get(key)
            if seen is not None and seen.version >= version and seen.claimed_by != version:
                return  # a redelivery after the version was advanced: nothing to write
            async with self._limit:
                await self._store.advance(event.integration_id, key, version, seen)

        await asyncio.gather(*(advance(key) for key in fresh.keys))

    async def release(self, event: IntegrationEvent, fresh: Freshness | None) -> None:
        """End this event's claims after an attempt that applied nothing for certain."""
        if fresh is None or not fresh.claimed:
            return
        claims = [(key, seen) for key, seen in fresh.seen.items() if key in fresh.keys and seen]
        await asyncio.gather(
            *(self._store.release(event.integration_id, key, seen) for key, seen in claims)
        )
