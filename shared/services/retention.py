"""Retention: the timer purges what expired, in bounded batches.

What expires when, and what is never purged however old, is in
`shared.domain.retention`. A purge run asks the store, integration by integration and
kind by kind, for what expired before the kind's horizon; the store finds it by key
order or by an expiry index row, never by reading live records, so a run's cost
follows what expired, not what is stored.

A run deletes at most `RETENTION_BATCH` records and stops at
`RETENTION_BUDGET_SECONDS`; one that stops early leaves the purge due, so the next
timer run goes on where this one stopped. A run that found everything done makes the
next purge due `RETENTION_INTERVAL_MINUTES` later, so most timer runs cost one read.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.config import Settings
from shared.domain.errors import TransientError
from shared.domain.retention import (
    ACROSS_INTEGRATIONS,
    ALL_INTEGRATIONS_SCOPE,
    PER_INTEGRATION,
    Purged,
    RecordKind,
    horizons,
)
from shared.services.ports import IntegrationStore, RetentionStore

log = logging.getLogger("integrations.retention")


@dataclass
class RetentionReport:
    ran: bool = False
    finished: bool = False
    deleted: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    companions: Counter[str] = field(default_factory=Counter)
    failed_scopes: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "ran": self.ran,
            "finished": self.finished,
            "deleted": dict(self.deleted),
            "kept": dict(self.kept),
            "companions": dict(self.companions),
            "failedScopes": self.failed_scopes,
        }


class RetentionService:
    def __init__(
        self,
        settings: Settings,
        integrations: IntegrationStore,
        store: RetentionStore,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._integrations = integrations
        self._store = store
        self._now = now
        self._monotonic = monotonic

    async def run_once(self) -> RetentionReport:
        """Purge what expired, if a purge is due; never raises for storage trouble."""
        report = RetentionReport()
        try:
            due = await self._store.next_run()
            now = self._now()
            if due is not None and due > now:
                return report
            report.ran = True
            await self._purge(now, report)
            if report.finished:
                interval = timedelta(minutes=self._settings.retention_interval_minutes)
                await self._store.set_next_run(now + interval)
        except TransientError as exc:
            log.warning("retention purge postponed: %s", exc)
            return report
        if report.ran:
            self._log(report)
        return report

    async def _purge(self, now: datetime, report: RetentionReport) -> None:
        settings = self._settings
        horizon = horizons(
            now,
            event_days=settings.retention_event_days,
            audit_days=settings.retention_audit_days,
            version_days=settings.retention_version_days,
        )
        scopes = [
            (kind, integration.id, integration.partition_shards)
            for integration in await self._integrations.list()
            for kind in PER_INTEGRATION
        ]
        scopes += [(kind, ALL_INTEGRATIONS_SCOPE, 1) for kind in ACROSS_INTEGRATIONS]
        deadline = self._monotonic() + settings.retention_budget_seconds
        room = settings.retention_batch
        for kind, scope, shards in scopes:
            if room <= 0 or self._monotonic() > deadline:
                return  # not finished: the next timer run goes on
            try:
                purged = await self._store.purge(kind, scope, shards, horizon[kind], room)
            except TransientError as exc:
                log.warning("purge of %s in %s postponed: %s", kind, scope, exc)
                report.failed_scopes += 1
                continue
            self._count(kind, purged, report)
            room -= purged.deleted
            if purged.more:
                return
        report.finished = report.failed_scopes == 0

    @staticmethod
    def _count(kind: RecordKind, purged: Purged, report: RetentionReport) -> None:
        report.deleted[kind] += purged.deleted
        report.kept[kind] += purged.kept
        report.companions.update(purged.companions)

    def _log(self, report: RetentionReport) -> None:
        log.info("retention purge: %s", report.to_json())
        waiting = report.kept[RecordKind.EVENTS]
        if waiting:
            # Kept on purpose (see shared.domain.retention): they wait for a person, or
            # are still on their way. Said out loud so they are not forgotten.
            log.warning(
                "%d event(s) older than %g days are kept: not final (failed, waiting for "
                "a person, or still on their way)",
                waiting,
                self._settings.retention_event_days,
            )
