"""Retention: what is kept how long, and what is never purged however old.

The kinds of stored record, each with its own horizon (a record older than its
horizon is expired)::

    horizons(now, event_days=30, audit_days=365, version_days=365)
    # {RecordKind.EVENTS: now - 30 days, RecordKind.AUDIT: now - 365 days, ...}

- events, with their payload blobs, attempts (the communication logs), due-time
  checks and Idempotency-Key records (long past their `IDEMPOTENCY_WINDOW_HOURS`):
  `RETENTION_EVENT_DAYS` after creation, but only once they are final (`success`,
  `skipped`). A `queued`, `processing` or `failed` event is never purged
  for its age: it is still on its way, or it waits for a person, and deleting it would
  make a failure disappear unseen. It is kept, and counted in the purge's report;
- entity versions (the newest event applied to each record): once that event is older
  than `RETENTION_VERSION_DAYS` and nobody claims the record;
- the audit trail, and with it the bulk jobs its entries started, once finished:
  `RETENTION_AUDIT_DAYS`;
- alert ledger rows: `RETENTION_EVENT_DAYS`;
- flow counts: per-minute rows after `FLOW_MINUTES_KEPT` (the chart reads six hours of
  them), per-hour rows after `RETENTION_EVENT_DAYS`, never sooner than the chart's
  31-day reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.domain.flow import ALL_INTEGRATIONS, MAX_WINDOW
from shared.domain.models import EventStatus

FINAL_STATUSES = tuple(status for status in EventStatus if status.is_final)
FLOW_MINUTES_KEPT = timedelta(days=2)

# Every integration's counts summed: the flow counts' partition of all integrations.
ALL_INTEGRATIONS_SCOPE = ALL_INTEGRATIONS


class RecordKind(StrEnum):
    EVENTS = "events"
    VERSIONS = "versions"
    AUDIT = "audit"
    ALERTS = "alerts"
    FLOW_MINUTES = "flowMinutes"
    FLOW_HOURS = "flowHours"


# What one integration holds, in the order a purge run visits it.
PER_INTEGRATION = (
    RecordKind.EVENTS,
    RecordKind.VERSIONS,
    RecordKind.AUDIT,
    RecordKind.ALERTS,
    RecordKind.FLOW_MINUTES,
    RecordKind.FLOW_HOURS,
)
# What the all-integrations scope holds.
ACROSS_INTEGRATIONS = (RecordKind.FLOW_MINUTES, RecordKind.FLOW_HOURS)


def horizons(
    now: datetime,
    *,
    event_days: float,
    audit_days: float,
    version_days: float,
) -> dict[RecordKind, datetime]:
    """Per kind, the moment before which a record is expired."""
    events = timedelta(days=event_days)
    return {
        RecordKind.EVENTS: now - events,
        RecordKind.VERSIONS: now - timedelta(days=version_days),
        RecordKind.AUDIT: now - timedelta(days=audit_days),
        RecordKind.ALERTS: now - events,
        RecordKind.FLOW_MINUTES: now - FLOW_MINUTES_KEPT,
        RecordKind.FLOW_HOURS: now - max(events, MAX_WINDOW),
    }


def window_name(start: datetime) -> str:
    """The name of an alert window: its start, so the ledger's rows sort by time and
    the expired ones are one key range."""
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def is_final(status: EventStatus | str) -> bool:
    """An event that can go once it is old: nothing will change it any more."""
    return EventStatus(status).is_final


@dataclass(frozen=True)
class PurgeSchedule:
    """When the next purge is due, and where an unfinished one goes on: after the scope
    (see `scope_key`) it finished last."""

    due: datetime | None = None
    resume_after: str | None = None


def scope_key(scope: str, kind: RecordKind) -> str:
    return f"{scope}|{kind.value}"


@dataclass
class Purged:
    """What one purge call did: records deleted, expired records kept (not final, or
    still in use), whether it stopped at its limit with more possibly left, and the
    companions that went with the records (attempts, payload blobs, jobs...)."""

    deleted: int = 0
    kept: int = 0
    more: bool = False
    companions: dict[str, int] = field(default_factory=dict)

    def add(self, other: Purged) -> None:
        self.deleted += other.deleted
        self.kept += other.kept
        self.more = self.more or other.more
        for name, count in other.companions.items():
            self.companions[name] = self.companions.get(name, 0) + count

    def count(self, name: str, n: int = 1) -> None:
        self.companions[name] = self.companions.get(name, 0) + n
