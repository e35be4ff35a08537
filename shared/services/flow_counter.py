"""Counting the events' flow without a storage round trip on the hot path.

The accept path and the worker call `tally`, which only adds to this process's totals
in memory. The totals go to the `FlowCounterStore` by `flush`, which the services call
at the end of an invocation once `FLOW_FLUSH_SECONDS` have passed since the last one
(`flush_if_due`), and the container calls on shutdown. A flush writes only the buckets
that changed, as this process's own rows holding absolute totals: no read, no etag,
and a flush repeated (or retried after a failure) does not count anything twice.

Flushing is awaited, never left to a background task: the Functions Python worker
waits for, or drops, tasks an invocation leaves behind, and an instance may be stopped
between invocations.

What is not exact, on purpose (the events themselves stay the record):
- a process that dies loses the counts of its last flush interval at most;
- a process that goes quiet writes its last counts with its next invocation (or on
  shutdown), so a quiet instance's last interval shows late;
- counts are kept per process start (the writer id), so a restarted process starts
  new rows rather than adding to its old ones.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.domain.flow import FlowRow, FlowStep, FlowTally, outcome_step
from shared.domain.models import IntegrationEvent
from shared.services.ports import FlowCounterStore

log = logging.getLogger("integrations.flow")

# Totals of an hour are kept this long after it ends, for steps counted late (an
# outcome saved after a slow write); then they are dropped.
KEEP_ENDED_HOUR = timedelta(minutes=5)


class FlowCounter:
    """This process's counts of the events' flow, e.g.
    `flow.tally(event.integration_id, FlowStep.RECEIVED, now)`."""

    def __init__(
        self,
        store: FlowCounterStore,
        flush_every: float,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        writer: str | None = None,
    ) -> None:
        self.writer = writer or secrets.token_hex(6)
        self._store = store
        self._flush_every = flush_every
        self._now = now
        self._monotonic = monotonic
        self._tally = FlowTally()
        self._last_flush = monotonic()
        self._flushing = asyncio.Lock()

    def tally(self, integration_id: str, step: FlowStep, at: datetime) -> None:
        """Count one step, in memory only."""
        if not self._tally.add(integration_id, step, at):
            log.warning("a %s step at %s came after its hour was written; not counted", step, at)

    def outcome(self, event: IntegrationEvent, at: datetime) -> None:
        """Count the step an event took by reaching its current status, if any."""
        step = outcome_step(event)
        if step is not None:
            self.tally(event.integration_id, step, at)

    async def flush_if_due(self) -> None:
        """Flush if `FLOW_FLUSH_SECONDS` have passed since the last flush and no other
        flush is under way; never raises."""
        if self._flushing.locked() or self._monotonic() - self._last_flush < self._flush_every:
            return
        await self.flush()

    async def flush(self) -> None:
        """Write the buckets that changed since the last flush; never raises: what
        could not be written goes out with the next flush."""
        async with self._flushing:
            self._last_flush = self._monotonic()
            changed = self._tally.take_changed()
            if changed:
                rows = [FlowRow(key, self.writer, counts) for key, counts in changed.items()]
                try:
                    await self._store.write(rows)
                except Exception as exc:
                    # Counting must never cost an event its handling.
                    self._tally.mark_changed(list(changed))
                    log.warning("flow counts not written, kept for the next flush: %s", exc)
                    return
            self._tally.forget_before(self._now() - KEEP_ENDED_HOUR)
