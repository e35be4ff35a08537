"""Retention: the timer purges what expired, in bounded batches.

What expires when, and what is never purged however old, is in
`shared.domain.retention`. A purge run asks the store, integration by integration and
kind by kind, for what expired before the kind's horizon; the store finds it by key
order or by an expiry index row, never by reading live records, so a run's cost
follows what expired, not what is stored.

A run deletes at most `RETENTION_BATCH` records and stops at
`RETENTION_BUDGET_SECONDS`; one that stops early leaves the purge due, and remembers
the last scope (integration and kind) it finished, so the next timer run goes on
where this one stopped, however many integrations there are. A run that visited
everything makes the next purge due `RETENTION_INTERVAL_MINUTES` later, so most timer
runs cost one read.
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
    PurgeSchedule,
    RecordKind,
    horizons,
    scope_key,
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
            schedule = await self._store.schedule()
            now = self._now()
            if schedule.due is not None and schedule.due > now:
                return report
            report.ran = True
            stopped_after = await self._purge(now, schedule.resume_after, report)
            if stopped_after is None:
                # Every scope visited (one that failed is logged, and tried next time).
                interval = timedelta(minutes=self._settings.retention_interval_minutes)
                await self._store.set_schedule(PurgeSchedule(now + interval))
            else:
                # Stopped by the batch or the budget: due now, going on after the last
                # scope finished, so a long list of integrations is worked through.
                await self._store.set_schedule(PurgeSchedule(now, stopped_after))
        except TransientError as exc:
            log.warning("retention purge postponed: %s", exc)
            return report
        self._log(report)
        return report

    async def _purge(
        self, now: datetime, resume_after: str | None, report: RetentionReport
    ) -> str | None:
        """Purge scope by scope; None when every scope was visited, else the key of the
        last scope finished (or "" for none), where the next run goes on."""
        settings = self._settings
        horizon = horizons(
            now,
            event_days=settings.retention_event_days,
            audit_days=settings.retention_audit_days,
            version_days=settings.retention_version_days,
        )
        integrations = sorted(await self._integrations.list(), key=lambda i: i.id)
        scopes = [
            (kind, integration.id, integration.partition_shards)
            for integration in integrations
            for kind in PER_INTEGRATION
        ]
        scopes += [(kind, ALL_INTEGRATIONS_SCOPE, 1) for kind in ACROSS_INTEGRATIONS]
        keys = [scope_key(scope, kind) for kind, scope, _ in scopes]
        if resume_after in keys:
            start = keys.index(resume_after) + 1
            scopes, keys = scopes[start:], keys[start:]
        deadline = self._monotonic() + settings.retention_budget_seconds
        room = settings.retention_batch
        last_done = resume_after or ""
        for (kind, scope, shards), key in zip(scopes, keys, strict=True):
            if room <= 0 or self._monotonic() > deadline:
                return last_done
            try:
                purged = await self._store.purge(kind, scope, shards, horizon[kind], room)
            except TransientError as exc:
                log.warning("purge of %s in %s postponed: %s", kind, scope, exc)
                report.failed_scopes += 1
                last_done = key
                continue
            self._count(kind, purged, report)
            room -= purged.deleted
            if purged.more:
                return last_done  # this scope has more: the next run starts with it
            last_done = key
        report.finished = report.failed_scopes == 0
        return None

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
