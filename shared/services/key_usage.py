"""When each API key was last used, without a storage write per request.

Authenticating reads the integration anyway (`shared.services.auth`), and the record
carries each key's last-used time. A use writes only when that time is older than the
window (`LAST_USED_EVERY`, 5 minutes, as for management tokens), so the time shown is at
most one window older than the true last use: "to within 5 minutes". The write merges
the one time into the copy read (its etag): if the integration changed meanwhile
(another process noted the use first, or the key was regenerated) the write is dropped,
never put onto another key. A process also remembers what it wrote, so requests arriving
together make one write, not one each; with N processes a window costs at most N writes
per key, most often one. A failed write costs the request nothing: the next use in the
window tries again (in another process) or the next window does.

    usage = KeyUsage(store)
    await usage.note(integration, previous=False, now=now)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.domain.errors import TransientError
from shared.domain.models import Integration
from shared.services.ports import IntegrationStore, StaleWrite

log = logging.getLogger("integrations.auth")

# How often a key's last use is written at most: the precision of the time shown.
LAST_USED_EVERY = timedelta(minutes=5)
# Keys a process remembers writing for before it forgets the stale ones: far more than
# the integrations one deployment has, small in memory.
REMEMBERED = 10_000


class KeyUsage:
    def __init__(self, store: IntegrationStore, window: timedelta = LAST_USED_EVERY) -> None:
        self._store = store
        self._window = window
        self._written: dict[tuple[str, str], datetime] = {}  # (integration, key hash) -> when

    async def note(self, integration: Integration, *, previous: bool, now: datetime) -> None:
        """Note that the integration's key (`previous`: the key in its grace period)
        authenticated a request at `now`; writes at most once per window."""
        stored = integration.previous_key_last_used_at if previous else integration.key_last_used_at
        if stored is not None and now - stored < self._window:
            return
        key_hash = (integration.previous_key_hash if previous else integration.key_hash) or ""
        written = self._written.get((integration.id, key_hash))
        if written is not None and now - written < self._window:
            return  # written (or being written) by this process a moment ago
        self._remember((integration.id, key_hash), now)
        try:
            await self._store.record_key_use(integration, now, previous=previous)
        except StaleWrite:
            pass  # changed since it was read: noted by another process, or regenerated
        except TransientError as exc:
            log.warning("last use of a key of %s not recorded: %s", integration.id, exc)

    def _remember(self, key: tuple[str, str], now: datetime) -> None:
        if len(self._written) >= REMEMBERED:
            self._written = {
                known: at for known, at in self._written.items() if now - at < self._window
            }
        self._written[key] = now
