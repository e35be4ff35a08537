"""The core's ports: small interfaces its adapters implement (Azure, local, fakes).

Each adapter translates its SDK's errors into `shared.errors` types, so the core
branches on `TransientError`, `NotFound`, `StaleWrite`, never on an SDK exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from actions.base import PlatformCall
from shared.domain.audit import AuditEntry, AuditPage
from shared.domain.errors import (
    StaleWrite as StaleWrite,  # the adapters raise it; defined with its kin
)
from shared.domain.flow import FlowRow, Granularity
from shared.domain.jobs import BulkJob
from shared.domain.models import (
    Attempt,
    Integration,
    IntegrationEvent,
    PlatformExchange,
    QueueMessage,
)
from shared.domain.retention import Purged, PurgeSchedule, RecordKind
from shared.domain.tokens import ManagementToken


@dataclass(frozen=True)
class EventQuery:
    """A read-only filter over one integration's events, newest first."""

    integration_id: str
    shards: int
    status: str | None = None
    action: str | None = None
    entity_id: str | None = None
    entity_id_contains: str | None = None
    dead_lettered: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = 50
    continuation_token: str | None = None


@dataclass
class EventPage:
    events: list[IntegrationEvent]
    continuation_token: str | None


class IntegrationStore(ABC):
    """Integrations and the API-key hash index (a point read per inbound request)."""

    @abstractmethod
    async def add(self, integration: Integration) -> None: ...

    @abstractmethod
    async def get(self, integration_id: str) -> Integration | None: ...

    @abstractmethod
    async def save(self, integration: Integration) -> None: ...

    @abstractmethod
    async def list(self) -> list[Integration]: ...

    @abstractmethod
    async def integration_for_key(self, key_hash: str) -> str | None:
        """The integration id owning this API-key hash, by point read."""

    @abstractmethod
    async def replace_key(self, integration: Integration, retired: tuple[str | None, ...]) -> None:
        """Index `integration.key_hash`, save the integration over the copy read (its
        etag; StaleWrite if it changed since, the new index row then removed), then drop
        the index rows of the `retired` hashes the integration no longer holds (a
        previous key in its grace period keeps its row)."""

    @abstractmethod
    async def record_key_use(
        self, integration: Integration, at: datetime, *, previous: bool = False
    ) -> None:
        """Merge only the last-used time of the integration's key (`previous`: of the key
        in its grace period) into the copy read (its etag), leaving every other field as
        stored; StaleWrite if it changed since. Example:
        `await store.record_key_use(integration, now)`."""


class EventStore(ABC):
    """The IntegrationEvent lifecycle records, their due-time index rows and attempts.

    An event's index row (at `event.check_at`) and its attempts are written in the same
    atomic write as the event itself, so the index never disagrees with the event and a
    successful event costs one write after its platform call.
    """

    @abstractmethod
    async def add(self, event: IntegrationEvent, shards: int) -> None:
        """Record a new event with its check; StaleWrite if it exists already."""

    @abstractmethod
    async def get(self, integration_id: str, event_id: str, shards: int) -> IntegrationEvent | None:
        """A point read; the event id carries its creation time, hence its row key."""

    @abstractmethod
    async def save(
        self, event: IntegrationEvent, shards: int, attempt: Attempt | None = None
    ) -> None:
        """Write back an event read earlier, move its check to `event.check_at` (or drop
        it), and record `attempt`, all at once; raises StaleWrite if the event changed
        meanwhile (then nothing is written)."""

    @abstractmethod
    async def query(self, query: EventQuery) -> EventPage: ...

    @abstractmethod
    async def attempts(self, integration_id: str, event_id: str, shards: int) -> list[Attempt]: ...

    @abstractmethod
    async def has_pending(self, integration_id: str, shards: int) -> bool:
        """Whether any event of the integration is still on its way (queued, processing,
        or failed with a retry due): each such event has a check."""


@dataclass(frozen=True)
class ScheduledCheck:
    """A due-time index row: look at this event at `due` (retry, lease, lost send)."""

    key: str
    due: datetime
    integration_id: str
    event_id: str
    shards: int

    @property
    def cursor(self) -> str:
        """Position in due order (the row key), for reading on past this row."""
        return self.key.rpartition("|")[2]


class ScheduleStore(ABC):
    """The due-time index the timer reads instead of scanning events. Its rows are
    written by the event store together with their events (see `EventStore.save`)."""

    @abstractmethod
    async def remove(self, key: str) -> None:
        """Drop a row no event points at any more."""

    @abstractmethod
    async def due(
        self, now: datetime, limit: int, after: str | None = None
    ) -> list[ScheduledCheck]:
        """Rows due at or before `now`, earliest first, past the cursor `after`;
        reads only those rows."""


@dataclass(frozen=True)
class IdempotencyRecord:
    event_id: str
    body_hash: str
    created_at: datetime


class IdempotencyStore(ABC):
    @abstractmethod
    async def claim(
        self, integration_id: str, key: str, record: IdempotencyRecord
    ) -> IdempotencyRecord | None:
        """Store the record unless the key exists; returns the existing record if it does."""


class MessageBus(ABC):
    """The session-enabled inbound queue."""

    @abstractmethod
    async def send(self, message: QueueMessage) -> None: ...

    async def close(self) -> None:
        return None


class StorageAccount(ABC):
    """The storage account as a whole: one cheap read for the health probe, and the
    connections to close on shutdown."""

    @abstractmethod
    async def ping(self) -> None:
        """Returns if the account answers; raises otherwise."""

    async def close(self) -> None:
        return None


class SecretStore(ABC):
    """Where API keys live (Key Vault in Azure)."""

    @abstractmethod
    async def set_secret(self, name: str, value: str) -> None: ...

    @abstractmethod
    async def get_secret(self, name: str) -> str | None: ...


class PlatformClient(ABC):
    """The commerce platform API."""

    @abstractmethod
    async def call(self, call: PlatformCall, idempotency_key: str) -> PlatformExchange:
        """Make the call; returns what happened, including failures with no response."""

    async def close(self) -> None:
        return None


class JobStore(ABC):
    """Bulk jobs and the audit trail."""

    @abstractmethod
    async def save_job(self, job: BulkJob) -> None:
        """Creates a job without an etag; saves one read or saved before only if nobody
        changed it since. Raises StaleWrite otherwise, and sets the new etag on `job`."""

    @abstractmethod
    async def get_job(self, integration_id: str, job_id: str) -> BulkJob | None: ...

    @abstractmethod
    async def running_jobs(self) -> list[BulkJob]: ...

    @abstractmethod
    async def audit(self, entry: AuditEntry) -> None:
        """Adds one row to the integration's audit trail."""

    @abstractmethod
    async def audit_page(
        self, integration_id: str, limit: int, continuation_token: str | None = None
    ) -> AuditPage:
        """At most `limit` of an integration's management actions, newest first, from
        where `continuation_token` (one a page before answered) left off. A token this
        store did not issue for this integration raises ValidationFailed."""


class EntityVersionStore(ABC):
    """The newest applied version per (integration, entity key), and claims on it."""

    @abstractmethod
    async def get(self, integration_id: str, key: str) -> StoredVersion | None: ...

    @abstractmethod
    async def advance(
        self, integration_id: str, key: str, version: str, seen: StoredVersion | None
    ) -> None:
        """Set the version unless a newer one is stored already, ending this version's
        claim. `seen` is what an earlier `get` (or `claim`) returned: when nothing
        changed since, this is one write."""

    @abstractmethod
    async def claim(
        self,
        integration_id: str,
        key: str,
        version: str,
        until: datetime,
        seen: StoredVersion | None,
    ) -> StoredVersion:
        """Claim the entity for `version` until `until`, over the copy `seen`;
        StaleWrite if it changed since."""

    @abstractmethod
    async def release(self, integration_id: str, key: str, claim: StoredVersion) -> None:
        """End a claim that will not advance the version (the attempt failed)."""


@dataclass(frozen=True)
class StoredVersion:
    """One entity's version row as read: the newest applied version, the read's etag
    (so the next write is one conditional write), and a live claim if any."""

    version: str
    etag: str | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None

    def claimed_by_other(self, mine: str, now: datetime) -> bool:
        return (
            self.claimed_by not in (None, mine)
            and self.claimed_until is not None
            and self.claimed_until > now
        )


class AlertSink(ABC):
    """Where notifications go (a chat webhook)."""

    @abstractmethod
    async def post(self, message: dict[str, Any]) -> None: ...


class AlertLedger(ABC):
    """Remembers which (integration, kind, window) already alerted."""

    @abstractmethod
    async def claim(self, integration_id: str, kind: str, window: str) -> bool:
        """True for the first claim of this window, False afterwards."""


class FlowCounterStore(ABC):
    """Counts of the events' flow per bucket (see `shared.domain.flow`), one row per
    writer: each process writes only rows of its own, holding its absolute totals, so
    a write needs no read and no etag, and writing the same totals again changes
    nothing. A bucket's count is the sum of its writers' rows."""

    @abstractmethod
    async def write(self, rows: list[FlowRow]) -> None:
        """Store each row over the same writer's earlier row of that bucket."""

    @abstractmethod
    async def read(
        self, integration_id: str | None, granularity: Granularity, start: datetime, end: datetime
    ) -> list[FlowRow]:
        """Every writer's rows of the buckets starting in [start, end), of one
        integration or (None) of all together; the cost grows with buckets times
        writers, never with the number of events."""


class RetentionStore(ABC):
    """Finds and deletes expired records (see `shared.domain.retention`). Each kind is
    found by the order of its keys or by an expiry index row written with the record,
    so a purge reads what expired and never the live records beside it."""

    @abstractmethod
    async def purge(
        self, kind: RecordKind, scope: str, shards: int, before: datetime, limit: int
    ) -> Purged:
        """Delete at most `limit` records of `kind` in `scope` (an integration with its
        `shards` event partitions, or every integration's counts together) that expired
        before `before`, with their companions; keep what must stay."""

    @abstractmethod
    async def schedule(self) -> PurgeSchedule:
        """When the next purge is due (None: never run) and where it goes on."""

    @abstractmethod
    async def set_schedule(self, schedule: PurgeSchedule) -> None: ...


class TokenStore(ABC):
    """Named management tokens by id (a token's secret names its id: one point read)."""

    @abstractmethod
    async def add(self, token: ManagementToken) -> None: ...

    @abstractmethod
    async def get(self, token_id: str) -> ManagementToken | None: ...

    @abstractmethod
    async def list(self) -> list[ManagementToken]: ...

    @abstractmethod
    async def save(self, token: ManagementToken) -> None:
        """Over the copy read (its etag); StaleWrite if it changed since."""


@dataclass
class StoredRow:
    """One row of a table as stored, for an erasure: its table, keys, properties
    (strings, numbers, times) and the read's etag."""

    table: str
    partition_key: str
    row_key: str
    properties: dict[str, Any]
    etag: str | None = None


@dataclass
class StoredBlob:
    """One blob as stored, for an erasure: its container, name, text and etag."""

    container: str
    name: str
    text: str
    etag: str | None = None


class PersonalDataStore(ABC):
    """Everything stored, as an erasure reads and rewrites it (`shared.services.privacy`):
    an integration's events and attempts page by page, then every row of every other
    table and every blob. Each page is read, rewritten and let go before the next, so
    memory holds one page whatever the size of the store."""

    @abstractmethod
    def event_pages(
        self, integration_id: str, shards: int
    ) -> AsyncIterator[list[IntegrationEvent]]:
        """Every event of the integration with its payload (blobs read), a page at a time."""

    @abstractmethod
    def attempt_pages(self, integration_id: str, shards: int) -> AsyncIterator[list[Attempt]]:
        """Every attempt of the integration's events, a page at a time."""

    @abstractmethod
    async def rewrite_event(self, event: IntegrationEvent, shards: int) -> bool:
        """Write the event's payload, entity id, Idempotency-Key, result and last error
        over the copy read (its etag), leaving every other field as stored; StaleWrite if
        it changed since. A payload kept as a blob is rewritten in place; returns whether
        it was."""

    @abstractmethod
    async def rewrite_attempt(self, integration_id: str, shards: int, attempt: Attempt) -> None:
        """Write the attempt over the stored one (attempts are written once, then never)."""

    @abstractmethod
    def other_rows(self) -> AsyncIterator[list[StoredRow]]:
        """Every row of every table but the events', a page at a time."""

    @abstractmethod
    async def rewrite_row(self, row: StoredRow, *, delete: bool = False) -> None:
        """Write the row's properties over the copy read (merged: properties not named
        stay), or delete it; StaleWrite if it changed since."""

    @abstractmethod
    def blobs(self) -> AsyncIterator[StoredBlob]:
        """Every blob of every container, one at a time."""

    @abstractmethod
    async def rewrite_blob(self, blob: StoredBlob) -> None:
        """Write the blob's text over the copy read; StaleWrite if it changed since."""
