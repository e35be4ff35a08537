"""The audit trail of management actions: writing a row after each change, reading pages.

A row is written after its change is saved: a row for a change that then failed would
say something happened that did not. If storage refuses the row for a moment, the write
is tried again a few times; if it still fails, the change stands (it was made, and the
caller is told so) and the whole row is logged at ERROR, so an operator can find it in
the logs and it is never lost silently. Answering the change as failed instead would
invite the caller to make it a second time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from shared.domain.audit import AuditAction, AuditEntry, AuditPage
from shared.domain.errors import TransientError, ValidationFailed
from shared.services.auth import Caller
from shared.services.ports import JobStore

log = logging.getLogger("integrations.audit")

WRITE_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.2  # doubled after each failed try
DEFAULT_PAGE, MAX_PAGE = 50, 200


class AuditLog:
    def __init__(
        self,
        jobs: JobStore,
        now: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._jobs = jobs
        self._now = now
        self._sleep = sleep

    async def record(
        self,
        caller: Caller,
        integration_id: str,
        action: AuditAction,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        event_ids: list[str] | None = None,
        job_id: str | None = None,
    ) -> AuditEntry:
        """Records an action a person's request has just made."""
        entry = AuditEntry(
            integration_id=integration_id,
            at=self._now(),
            action=action,
            actor=caller.actor,
            role=caller.role,
            address=caller.address,
            before=before,
            after=after,
            event_ids=event_ids or [],
            job_id=job_id,
        )
        await self.write(entry)
        return entry

    async def write(self, entry: AuditEntry) -> None:
        """Stores the row, trying again while storage is briefly unavailable; never
        raises for that: the change it records has already been made."""
        delay = RETRY_DELAY_SECONDS
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await self._jobs.audit(entry)
                return
            except TransientError as exc:
                if attempt == WRITE_ATTEMPTS:
                    log.error(
                        "audit row not stored (%s); the action stands. Row: %s",
                        exc,
                        json.dumps(entry.to_json(), sort_keys=True),
                    )
                    return
                await self._sleep(delay)
                delay *= 2

    async def page(
        self, integration_id: str, limit: str | None, continuation_token: str | None
    ) -> AuditPage:
        """A page of the trail from the URL's `limit` and `continuationToken`."""
        return await self._jobs.audit_page(
            integration_id, page_size(limit), continuation_token or None
        )


def page_size(limit: str | None) -> int:
    if limit is None or limit == "":
        return DEFAULT_PAGE
    text = limit.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= MAX_PAGE):
        raise ValidationFailed(
            f"limit must be a whole number from 1 to {MAX_PAGE} (the default is "
            f"{DEFAULT_PAGE}); got {limit[:20]!r}."
        )
    return int(text)
