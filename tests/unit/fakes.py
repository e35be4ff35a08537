"""Small recording fakes of the core's ports, for unit tests.

Each fake keeps its state in plain dicts and lists that tests read directly, and
hands out copies (as a real store would), so a test never passes by sharing an
object with the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from actions.base import PlatformCall
from shared.bootstrap import Adapters, build
from shared.config import Settings
from shared.domain.audit import AuditEntry, AuditPage
from shared.domain.clock import epoch_ms, new_event_id, new_integration_id
from shared.domain.errors import TransientError, ValidationFailed
from shared.domain.flow import ALL_INTEGRATIONS, FlowKey, FlowRow, FlowStep, Granularity
from shared.domain.jobs import BulkJob
from shared.domain.models import (
    Attempt,
    EventStatus,
    Integration,
    IntegrationEvent,
    OrderingScope,
    PlatformExchange,
    QueueMessage,
    Role,
)
from shared.domain.retention import Purged, PurgeSchedule, RecordKind
from shared.domain.tokens import ManagementToken
from shared.services.auth import Caller, generate_api_key, hash_key, key_hint
from shared.services.inbound import InboundRequest
from shared.services.ports import (
    AlertLedger,
    EntityVersionStore,
    EventPage,
    EventQuery,
    EventStore,
    FlowCounterStore,
    IdempotencyRecord,
    IdempotencyStore,
    IntegrationStore,
    JobStore,
    MessageBus,
    PersonalDataStore,
    PlatformClient,
    RetentionStore,
    ScheduledCheck,
    ScheduleStore,
    SecretStore,
    StaleWrite,
    StorageAccount,
    StoredBlob,
    StoredRow,
    StoredVersion,
    TokenStore,
)

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """`now()` for the core; moves only when a test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current

    async def sleep(self, seconds: float) -> None:
        """A wait that passes at once and moves the clock, for waits inside the core."""
        self.advance(seconds)
        await asyncio.sleep(0)


class FakeMonotonic:
    """A `time.monotonic` stand-in; `step` is added after every reading."""

    def __init__(self, step: float = 0.0) -> None:
        self.value = 0.0
        self.step = step
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        reading = self.value
        self.value += self.step
        return reading


# --- integrations -------------------------------------------------------------------


class FakeIntegrationStore(IntegrationStore):
    def __init__(self) -> None:
        self.integrations: dict[str, Integration] = {}
        self.key_index: dict[str, str] = {}  # key hash -> integration id
        self.saves = 0
        self.uses = 0  # last-used times written (record_key_use)
        self.reads = 0  # point reads: integrations and key index rows
        self._versions = itertools.count(1)

    async def add(self, integration: Integration) -> None:
        self.key_index[integration.key_hash] = integration.id
        integration.etag = f"v{next(self._versions)}"
        self.integrations[integration.id] = copy.deepcopy(integration)

    async def get(self, integration_id: str) -> Integration | None:
        self.reads += 1
        found = self.integrations.get(integration_id)
        return copy.deepcopy(found) if found else None

    async def save(self, integration: Integration) -> None:
        stored = self.integrations.get(integration.id)
        if integration.etag is not None and stored is not None and stored.etag != integration.etag:
            raise StaleWrite(f"integration {integration.id} changed since it was read")
        self.saves += 1
        integration.etag = f"v{next(self._versions)}"
        self.integrations[integration.id] = copy.deepcopy(integration)

    async def list(self) -> list[Integration]:
        return [copy.deepcopy(item) for item in self.integrations.values()]

    async def integration_for_key(self, key_hash: str) -> str | None:
        self.reads += 1
        return self.key_index.get(key_hash)

    async def replace_key(self, integration: Integration, retired: tuple[str | None, ...]) -> None:
        self.key_index[integration.key_hash] = integration.id
        try:
            await self.save(integration)
        except StaleWrite:
            del self.key_index[integration.key_hash]
            raise
        for old_hash in retired:
            if old_hash and old_hash not in (integration.key_hash, integration.previous_key_hash):
                self.key_index.pop(old_hash, None)

    async def record_key_use(
        self, integration: Integration, at: datetime, *, previous: bool = False
    ) -> None:
        """Merges the one time over the copy read, like the adapter; `uses` counts writes."""
        stored = self.integrations.get(integration.id)
        if stored is None or stored.etag != integration.etag:
            raise StaleWrite(f"integration {integration.id} changed since it was read")
        self.uses += 1
        if previous:
            stored.previous_key_last_used_at = at
        else:
            stored.key_last_used_at = at
        stored.etag = integration.etag = f"v{next(self._versions)}"


def make_integration(clock: FakeClock | None = None, **overrides: Any) -> tuple[Integration, str]:
    """A new integration and its API key (not stored anywhere yet)."""
    now = (clock or FakeClock())()
    integration_id = overrides.pop("id", None) or new_integration_id()
    key = generate_api_key(integration_id)
    values: dict[str, Any] = {
        "id": integration_id,
        "name": "Test ERP",
        "service": "custom",
        "enabled": True,
        "key_hash": hash_key(key),
        "key_hint": key_hint(key),
        "created_at": now,
        "updated_at": now,
        "ordering_scope": OrderingScope.INTEGRATION,
        "partition_shards": 4,
    }
    values.update(overrides)
    return Integration(**values), key


# --- events -------------------------------------------------------------------------


class FakeEventStore(EventStore):
    """Events with etag-like versions: saving a stale copy raises StaleWrite, like the
    Table adapter. Each write moves the event's check in `schedule` and records its
    attempt in the same step, as the adapter's transaction does. `saved` records
    (event id, status) for every write."""

    def __init__(self) -> None:
        self.schedule = FakeScheduleStore()
        self.rows: dict[str, IntegrationEvent] = {}
        self.versions: dict[str, int] = {}
        self.shards: dict[str, int] = {}
        self.saved: list[tuple[str, EventStatus]] = []
        self.attempt_log: list[Attempt] = []
        self.after_get: list[Any] = []  # each get() then runs the first of these
        # the next write (add or save) of an event in this status raises this, once
        self.write_failures: dict[EventStatus, Exception] = {}

    async def add(self, event: IntegrationEvent, shards: int) -> None:
        if event.id in self.rows:
            raise StaleWrite(f"event {event.id} exists already")
        self._write(event, shards)

    async def get(self, integration_id: str, event_id: str, shards: int) -> IntegrationEvent | None:
        row = self.rows.get(event_id)
        if row is None or row.integration_id != integration_id:
            return None
        found = copy.deepcopy(row)
        found.etag = str(self.versions[event_id])
        if self.after_get:
            self.after_get.pop(0)()
        return found

    async def save(
        self, event: IntegrationEvent, shards: int, attempt: Attempt | None = None
    ) -> None:
        if event.etag is not None and event.etag != str(self.versions.get(event.id)):
            raise StaleWrite(f"event {event.id} changed since it was read")
        self._write(event, shards)
        if attempt is not None:
            self.attempt_log.append(copy.deepcopy(attempt))

    async def has_pending(self, integration_id: str, shards: int) -> bool:
        return any(c.integration_id == integration_id for c in self.schedule.rows.values())

    def change(self, event_id: str, **fields: Any) -> None:
        """Someone else wrote the event (another delivery, the timer, a person)."""
        for name, value in fields.items():
            setattr(self.rows[event_id], name, value)
        self.versions[event_id] += 1

    def _write(self, event: IntegrationEvent, shards: int) -> None:
        if (failure := self.write_failures.pop(event.status, None)) is not None:
            raise failure
        self.versions[event.id] = self.versions.get(event.id, 0) + 1
        self.shards[event.id] = shards
        event.schedule_key = self.schedule.move(event, shards)
        stored = copy.deepcopy(event)
        stored.etag = None
        self.rows[event.id] = stored
        event.etag = str(self.versions[event.id])
        self.saved.append((event.id, event.status))

    async def query(self, query: EventQuery) -> EventPage:
        """Newest first; the token is a position (the last row's key), as in the Table
        adapter, so events changing status between pages neither repeat nor vanish."""

        def row_key(event: IntegrationEvent) -> str:
            return f"{10**13 - epoch_ms(event.created_at):013d}~{event.id}"

        matches = sorted(
            (
                event
                for event in self.rows.values()
                if event.integration_id == query.integration_id
                and (query.status is None or event.status.value == query.status)
                and (query.action is None or event.action == query.action)
                and (query.entity_id is None or event.entity_id == query.entity_id)
                and (
                    query.entity_id_contains is None
                    or query.entity_id_contains.lower() in (event.entity_id or "").lower()
                )
                and (query.dead_lettered is None or event.dead_lettered == query.dead_lettered)
                and (query.created_from is None or event.created_at >= query.created_from)
                and (query.created_to is None or event.created_at <= query.created_to)
                and (query.continuation_token is None or row_key(event) > query.continuation_token)
            ),
            key=row_key,
        )
        page = [copy.deepcopy(event) for event in matches[: query.limit]]
        more = len(matches) > query.limit
        return EventPage(page, row_key(page[-1]) if more else None)

    async def attempts(self, integration_id: str, event_id: str, shards: int) -> list[Attempt]:
        return [copy.deepcopy(a) for a in self.attempt_log if a.event_id == event_id]

    def stored(self, event_id: str) -> IntegrationEvent:
        return copy.deepcopy(self.rows[event_id])


def make_event(
    integration: Integration,
    clock: FakeClock,
    action: str = "inventory.set",
    data: dict[str, Any] | None = None,
    entity_id: str | None = None,
    **overrides: Any,
) -> IntegrationEvent:
    """A queued event as the inbound service would record it (not stored yet)."""
    now = clock()
    if data is None:
        data = {"items": [{"sku": "CHAIR-UNO-BLK", "quantity": 42, "warehouseId": "wh-01"}]}
    document: dict[str, Any] = {"action": action, "data": data}
    if entity_id:
        document["entityId"] = entity_id
    values: dict[str, Any] = {
        "id": new_event_id(now),
        "integration_id": integration.id,
        "action": action,
        "entity_id": entity_id,
        "status": EventStatus.QUEUED,
        "created_at": now,
        "updated_at": now,
        "session_id": integration.id,
        "max_attempts": 3,
        "payload": document,
    }
    values.update(overrides)
    return IntegrationEvent(**values)


# --- schedule and idempotency -------------------------------------------------------


class FakeScheduleStore(ScheduleStore):
    """The due-time index, its rows kept by `FakeEventStore` with each write."""

    def __init__(self) -> None:
        self.rows: dict[str, ScheduledCheck] = {}
        self.removed: list[str] = []
        self.due_calls: list[tuple[datetime, int]] = []

    def move(self, event: IntegrationEvent, shards: int) -> str | None:
        """The event's row follows its `check_at`; returns the row's key."""
        if event.schedule_key is not None:
            self.rows.pop(event.schedule_key, None)
        if event.check_at is None:
            return None
        return self.put(event.check_at, event.integration_id, event.id, shards)

    def put(self, due: datetime, integration_id: str, event_id: str, shards: int) -> str:
        """A row as the store writes it (tests also use it for a left-over row)."""
        key = f"{epoch_ms(due):013d}~{integration_id}~{event_id}"
        self.rows[key] = ScheduledCheck(key, due, integration_id, event_id, shards)
        return key

    async def remove(self, key: str) -> None:
        self.removed.append(key)
        self.rows.pop(key, None)

    async def due(
        self, now: datetime, limit: int, after: str | None = None
    ) -> list[ScheduledCheck]:
        self.due_calls.append((now, limit))
        ready = sorted(
            (c for c in self.rows.values() if c.due <= now and (after is None or c.key > after)),
            key=lambda c: c.key,
        )
        return ready[:limit]

    def for_event(self, event_id: str) -> list[ScheduledCheck]:
        return [check for check in self.rows.values() if check.event_id == event_id]


class FakeIdempotencyStore(IdempotencyStore):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], IdempotencyRecord] = {}
        self.claims: list[tuple[str, str]] = []

    async def claim(
        self, integration_id: str, key: str, record: IdempotencyRecord
    ) -> IdempotencyRecord | None:
        self.claims.append((integration_id, key))
        existing = self.records.get((integration_id, key))
        if existing is not None:
            return existing
        self.records[(integration_id, key)] = record
        return None


# --- queue, secrets, platform ---------------------------------------------------------


class FakeMessageBus(MessageBus):
    """Records every message sent; `failures` are raised by the next sends, in order."""

    def __init__(self) -> None:
        self.sent: list[QueueMessage] = []
        self.failures: deque[Exception] = deque()

    async def send(self, message: QueueMessage) -> None:
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(message)

    def fail_next(self, count: int = 1) -> None:
        for _ in range(count):
            self.failures.append(TransientError("Service Bus send failed: ServiceBusError"))


class FakeSecretStore(SecretStore):
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}

    async def set_secret(self, name: str, value: str) -> None:
        self.secrets[name] = value

    async def get_secret(self, name: str) -> str | None:
        return self.secrets.get(name)


@dataclass(frozen=True)
class NoResponse:
    """A scripted platform call that got no answer (timeout, refused connection)."""

    error: str = "The platform did not answer in time (timeout)."


@dataclass
class RecordedCall:
    call: PlatformCall
    idempotency_key: str


@dataclass
class FakePlatformClient(PlatformClient):
    """Answers calls from a script of (status, body, headers) or NoResponse, in order."""

    script: deque[tuple[int, Any, dict[str, str]] | NoResponse] = field(default_factory=deque)
    calls: list[RecordedCall] = field(default_factory=list)

    def answer(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> FakePlatformClient:
        self.script.append((status, body if body is not None else {}, headers or {}))
        return self

    def no_response(self, error: str = NoResponse.error) -> FakePlatformClient:
        self.script.append(NoResponse(error))
        return self

    @property
    def idempotency_keys(self) -> list[str]:
        return [recorded.idempotency_key for recorded in self.calls]

    async def call(self, call: PlatformCall, idempotency_key: str) -> PlatformExchange:
        self.calls.append(RecordedCall(call, idempotency_key))
        if not self.script:
            raise AssertionError(f"unexpected platform call {call.operation_id}")
        step = self.script.popleft()
        exchange = PlatformExchange(
            method="PUT",
            url=f"https://platform.test/{call.operation_id}",
            request_headers={
                "Authorization": "Bearer platform-secret",
                "Idempotency-Key": idempotency_key,
            },
            request_body=call.body,
            started_at=START,
            duration_ms=1.0,
        )
        if isinstance(step, NoResponse):
            exchange.error = step.error
        else:
            exchange.status, exchange.response_body, exchange.response_headers = step
        return exchange


class FakeEntityVersionStore(EntityVersionStore):
    """Version rows with etags and claims, refusing writes over stale copies like the
    Table adapter. `versions` maps (integration, key) to the applied version."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredVersion] = {}
        self.advances: list[tuple[str, str, str]] = []
        self.claims: list[tuple[str, str, str]] = []
        self._etags = itertools.count(1)

    @property
    def versions(self) -> dict[tuple[str, str], str]:
        return {where: row.version for where, row in self.rows.items() if row.version}

    async def get(self, integration_id: str, key: str) -> StoredVersion | None:
        return self.rows.get((integration_id, key))

    def _write(
        self, where: tuple[str, str], row: StoredVersion, over: StoredVersion | None
    ) -> StoredVersion:
        current = self.rows.get(where)
        if (current.etag if current else None) != (over.etag if over else None):
            raise StaleWrite(f"version of {where[1]} changed since it was read")
        written = replace(row, etag=f"e{next(self._etags)}")
        self.rows[where] = written
        return written

    async def advance(
        self, integration_id: str, key: str, version: str, seen: StoredVersion | None
    ) -> None:
        self.advances.append((integration_id, key, version))
        where, current = (integration_id, key), seen
        for attempt in range(5):
            if attempt:
                current = self.rows.get(where)
            if current is not None and current.version >= version:
                return
            other = current is not None and current.claimed_by not in (None, version)
            claim = (
                (current.claimed_by, current.claimed_until) if other and current else (None, None)
            )
            try:
                self._write(where, StoredVersion(version, None, *claim), current)
                return
            except StaleWrite:
                continue
        raise StaleWrite(f"version of {key} kept changing")

    async def claim(
        self,
        integration_id: str,
        key: str,
        version: str,
        until: datetime,
        seen: StoredVersion | None,
    ) -> StoredVersion:
        self.claims.append((integration_id, key, version))
        row = StoredVersion(seen.version if seen else "", None, version, until)
        return self._write((integration_id, key), row, seen)

    async def release(self, integration_id: str, key: str, claim: StoredVersion) -> None:
        with contextlib.suppress(StaleWrite):
            self._write((integration_id, key), StoredVersion(claim.version), claim)


def json_body(document: Any) -> bytes:
    return json.dumps(document).encode()


def all_strings(value: Any) -> Iterable[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from all_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from all_strings(item)


# --- the core wired to the fakes ------------------------------------------------------


def unit_settings(**values: Any) -> Settings:
    """Settings for unit tests: short, round numbers; `values` by setting name."""
    defaults: dict[str, Any] = {
        "RETRY_MAX_ATTEMPTS": 3,
        "RETRY_BASE_DELAY_SECONDS": 10,
        "RETRY_MAX_DELAY_SECONDS": 100,
        "RETRY_OVERRIDES": "{}",
        "ENQUEUE_GRACE_SECONDS": 60,
        "PROCESSING_LEASE_SECONDS": 300,
        "TIMER_BUDGET_SECONDS": 45,
        "REQUEUE_PER_INTEGRATION_PER_RUN": 200,
        "MAX_ITEMS_PER_EVENT": 100,
        "MASKED_FIELDS": "",
        "EVENT_PARTITION_SHARDS": 4,
        "CIRCUIT_FAILURE_THRESHOLD": 3,
    }
    defaults.update(values)
    return Settings(**defaults)


class FakeFlowCounterStore(FlowCounterStore):
    """Rows by (bucket, writer), each write replacing the writer's row, like the table;
    `writes` records every write and `reads` every read."""

    def __init__(self) -> None:
        self.rows: dict[tuple[FlowKey, str], dict[FlowStep, int]] = {}
        self.writes: list[list[FlowRow]] = []
        self.reads: list[tuple[str | None, Granularity, datetime, datetime]] = []
        self.down = False

    async def write(self, rows: list[FlowRow]) -> None:
        if self.down:
            raise TransientError("Storage is unavailable: ServiceRequestError")
        self.writes.append(list(rows))
        for row in rows:
            self.rows[(row.key, row.writer)] = dict(row.counts)

    async def read(
        self, integration_id: str | None, granularity: Granularity, start: datetime, end: datetime
    ) -> list[FlowRow]:
        self.reads.append((integration_id, granularity, start, end))
        partition = integration_id or ALL_INTEGRATIONS
        return [
            FlowRow(key, writer, dict(counts))
            for (key, writer), counts in sorted(self.rows.items(), key=lambda r: r[0][0].start)
            if key.integration_id == partition
            and key.granularity is granularity
            and start <= key.start < end
        ]

    def sums(self, integration_id: str, granularity: Granularity) -> dict[FlowStep, int]:
        """Every writer's counts of one partition, summed over its buckets."""
        total: dict[FlowStep, int] = {}
        for (key, _), counts in self.rows.items():
            if key.integration_id == integration_id and key.granularity is granularity:
                for step, n in counts.items():
                    total[step] = total.get(step, 0) + n
        return {step: n for step, n in total.items() if n}


class FakeStorageAccount(StorageAccount):
    def __init__(self) -> None:
        self.down = False

    async def ping(self) -> None:
        if self.down:
            raise TransientError("Storage is unavailable: ServiceRequestError")


class FakeRetentionStore(RetentionStore):
    """Expired records per (kind, scope), as counts: a purge takes up to its limit of
    them and keeps `kept` ones; every call is recorded."""

    def __init__(self) -> None:
        self.expired: dict[tuple[str, str], int] = {}
        self.kept: dict[tuple[str, str], int] = {}
        self.calls: list[tuple[RecordKind, str, int, datetime, int]] = []
        self.due: datetime | None = None
        self.resume_after: str | None = None
        self.down: set[str] = set()  # kinds whose purge fails as storage would

    async def purge(
        self, kind: RecordKind, scope: str, shards: int, before: datetime, limit: int
    ) -> Purged:
        self.calls.append((kind, scope, shards, before, limit))
        if kind in self.down:
            raise TransientError("Storage is unavailable: ServiceRequestError")
        left = self.expired.get((kind, scope), 0)
        taken = min(left, limit)
        self.expired[(kind, scope)] = left - taken
        return Purged(taken, self.kept.get((kind, scope), 0), more=left > limit)

    async def schedule(self) -> PurgeSchedule:
        return PurgeSchedule(self.due, self.resume_after)

    async def set_schedule(self, schedule: PurgeSchedule) -> None:
        self.due, self.resume_after = schedule.due, schedule.resume_after


class FakePersonalDataStore(PersonalDataStore):
    """The fake event store's events and attempts, and `tables` and `blob_store` a test
    fills: {table: {(partition, row): properties}}, {(container, name): text}. Rewrites
    refuse a stale copy like the adapter; `page_size` makes pages small."""

    BLOB_LIMIT = 30_000  # the adapter keeps larger payloads in blobs

    def __init__(self, events: FakeEventStore, page_size: int = 2) -> None:
        self.events = events
        self.page_size = page_size
        self.tables: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.row_versions: dict[tuple[str, str, str], int] = {}
        self.blob_store: dict[tuple[str, str], str] = {}
        self.pages_read = 0

    def _paged(self, items: list[Any]) -> list[list[Any]]:
        return [items[i : i + self.page_size] for i in range(0, len(items), self.page_size)]

    async def event_pages(self, integration_id: str, shards: int) -> Any:
        ids = [e.id for e in self.events.rows.values() if e.integration_id == integration_id]
        for page in self._paged(ids):
            self.pages_read += 1
            yield [await self.events.get(integration_id, event_id, shards) for event_id in page]

    async def attempt_pages(self, integration_id: str, shards: int) -> Any:
        mine = [
            copy.deepcopy(a)
            for a in self.events.attempt_log
            if self.events.rows[a.event_id].integration_id == integration_id
        ]
        for page in self._paged(mine):
            self.pages_read += 1
            yield page

    async def rewrite_event(self, event: IntegrationEvent, shards: int) -> bool:
        if event.etag != str(self.events.versions.get(event.id)):
            raise StaleWrite(f"event {event.id} changed since it was read")
        self.events.change(
            event.id,
            payload=copy.deepcopy(event.payload),
            entity_id=event.entity_id,
            idempotency_key=event.idempotency_key,
            result=copy.deepcopy(event.result),
            last_error=copy.deepcopy(event.last_error),
        )
        return len(json.dumps(event.payload)) > self.BLOB_LIMIT

    async def rewrite_attempt(self, integration_id: str, shards: int, attempt: Attempt) -> None:
        log = self.events.attempt_log
        for i, stored in enumerate(log):
            if (stored.event_id, stored.submission, stored.number) == (
                attempt.event_id,
                attempt.submission,
                attempt.number,
            ):
                log[i] = copy.deepcopy(attempt)

    async def other_rows(self) -> Any:
        for table, rows in sorted(self.tables.items()):
            stored = [
                StoredRow(
                    table, pk, rk, dict(props), str(self.row_versions.get((table, pk, rk), 0))
                )
                for (pk, rk), props in rows.items()
            ]
            for page in self._paged(stored):
                self.pages_read += 1
                yield page

    async def rewrite_row(self, row: StoredRow, *, delete: bool = False) -> None:
        where = (row.table, row.partition_key, row.row_key)
        if row.etag != str(self.row_versions.get(where, 0)):
            raise StaleWrite(f"row {where} changed since it was read")
        self.row_versions[where] = self.row_versions.get(where, 0) + 1
        rows = self.tables[row.table]
        if delete:
            del rows[(row.partition_key, row.row_key)]
        else:
            rows[(row.partition_key, row.row_key)].update(row.properties)

    async def blobs(self) -> Any:
        for (container, name), text in sorted(self.blob_store.items()):
            yield StoredBlob(container, name, text, "1")

    async def rewrite_blob(self, blob: StoredBlob) -> None:
        self.blob_store[(blob.container, blob.name)] = blob.text


class FakeAlertLedger(AlertLedger):
    """Claims once per (integration, kind, window), like the Table ledger."""

    def __init__(self) -> None:
        self.claimed: set[tuple[str, str, str]] = set()

    async def claim(self, integration_id: str, kind: str, window: str) -> bool:
        if (integration_id, kind, window) in self.claimed:
            return False
        self.claimed.add((integration_id, kind, window))
        return True


@dataclass
class World:
    """Every service of the core on fakes, sharing one clock, wired by the same
    `bootstrap.build` as production."""

    settings: Settings = field(default_factory=unit_settings)
    clock: FakeClock = field(default_factory=FakeClock)
    integrations: FakeIntegrationStore = field(default_factory=FakeIntegrationStore)
    events: FakeEventStore = field(default_factory=FakeEventStore)
    idempotency: FakeIdempotencyStore = field(default_factory=FakeIdempotencyStore)
    bus: FakeMessageBus = field(default_factory=FakeMessageBus)
    platform: FakePlatformClient = field(default_factory=FakePlatformClient)
    versions: FakeEntityVersionStore = field(default_factory=FakeEntityVersionStore)
    secrets: FakeSecretStore = field(default_factory=FakeSecretStore)
    monotonic: FakeMonotonic = field(default_factory=FakeMonotonic)
    jobs: FakeJobStore = field(default_factory=lambda: FakeJobStore())
    flow_counts: FakeFlowCounterStore = field(default_factory=FakeFlowCounterStore)
    retention: FakeRetentionStore = field(default_factory=FakeRetentionStore)
    tokens: FakeTokenStore = field(default_factory=lambda: FakeTokenStore())

    def __post_init__(self) -> None:
        self.schedule = self.events.schedule
        self.personal_data = FakePersonalDataStore(self.events)
        self.services = build(
            self.settings,
            Adapters(
                storage=FakeStorageAccount(),
                integrations=self.integrations,
                events=self.events,
                schedule=self.schedule,
                idempotency=self.idempotency,
                versions=self.versions,
                jobs=self.jobs,
                alert_ledger=FakeAlertLedger(),
                alert_sink=None,
                flow_counts=self.flow_counts,
                retention=self.retention,
                personal_data=self.personal_data,
                tokens=self.tokens,
                secrets=self.secrets,
                bus=self.bus,
                platform=self.platform,
            ),
            now=self.clock,
            monotonic=self.monotonic,
            sleep=self.clock.sleep,
        )
        self.breaker = self.services.breaker
        self.inbound = self.services.inbound
        self.worker = self.services.worker
        self.recovery = self.services.recovery
        self.dead_letters = self.services.dead_letters
        self.management = self.services.management
        self.resubmission = self.services.resubmission
        self.queries = self.services.queries
        self.flow_counter = self.services.flow_counter
        self.flow = self.services.flow
        self.purge = self.services.retention
        self.privacy = self.services.privacy

    async def integration(self, **overrides: Any) -> tuple[Integration, str]:
        integration, key = make_integration(self.clock, **overrides)
        await self.integrations.add(integration)
        return integration, key

    async def push(self, key: str, document: Any, idempotency_key: str | None = None) -> str:
        """Accept a request as the inbound route would; returns the event id."""
        accepted = await self.inbound.accept(
            InboundRequest(
                f"Bearer {key}", "application/json", json_body(document), idempotency_key
            )
        )
        return accepted.message_id

    async def deliver(self, message: QueueMessage | None = None) -> str:
        """Hand a sent message (the latest by default) to the worker."""
        message = message or self.bus.sent[-1]
        return await self.worker.handle(json.dumps(message.body).encode())

    def event(self, event_id: str) -> IntegrationEvent:
        return self.events.stored(event_id)

    async def attempts(self, event_id: str) -> list[Attempt]:
        stored = self.events.stored(event_id)
        return await self.events.attempts(stored.integration_id, event_id, 4)

    def messages_for(self, event_id: str) -> list[QueueMessage]:
        return [m for m in self.bus.sent if m.body["eventId"] == event_id]


# Callers of management actions, as the route table authenticates them.
ADMIN = Caller(Role.ADMIN, "admin:ada", "203.0.113.7")
OPERATOR = Caller(Role.OPERATOR, "operator:ann", "198.51.100.24")


class FakeJobStore(JobStore):
    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], BulkJob] = {}
        self.entries: list[AuditEntry] = []
        self.audit_outages = 0  # the next this many audit writes fail as storage would
        self._versions = itertools.count(1)

    async def save_job(self, job: BulkJob) -> None:
        stored = self.jobs.get((job.integration_id, job.id))
        if (stored.etag if stored else None) != job.etag:
            raise StaleWrite(f"job {job.id} changed since it was read")
        job.etag = f"v{next(self._versions)}"
        self.jobs[(job.integration_id, job.id)] = copy.deepcopy(job)

    async def get_job(self, integration_id: str, job_id: str) -> BulkJob | None:
        found = self.jobs.get((integration_id, job_id))
        return copy.deepcopy(found) if found else None

    async def running_jobs(self) -> list[BulkJob]:
        return [copy.deepcopy(job) for job in self.jobs.values() if job.status == "running"]

    async def audit(self, entry: AuditEntry) -> None:
        if self.audit_outages:
            self.audit_outages -= 1
            raise TransientError("audit table unavailable")
        self.entries.append(entry)

    async def audit_page(
        self, integration_id: str, limit: int, continuation_token: str | None = None
    ) -> AuditPage:
        mine = [entry for entry in self.entries if entry.integration_id == integration_id]
        newest_first = list(reversed(mine))
        try:
            start = int(continuation_token or 0)
        except ValueError:
            raise ValidationFailed("The continuationToken is not one this API issued.") from None
        rest = newest_first[start + limit :]
        return AuditPage(newest_first[start : start + limit], str(start + limit) if rest else None)

    def trail(self, integration_id: str | None = None) -> list[AuditEntry]:
        """Rows written, oldest first (of one integration, if named)."""
        return [e for e in self.entries if integration_id in (None, e.integration_id)]


class FakeTokenStore(TokenStore):
    """Named tokens by id, with etags like the table's."""

    def __init__(self) -> None:
        self.tokens: dict[str, ManagementToken] = {}
        self.saves = 0
        self._versions = itertools.count(1)

    async def add(self, token: ManagementToken) -> None:
        if token.id in self.tokens:
            raise StaleWrite(f"token {token.id} exists")
        token.etag = str(next(self._versions))
        self.tokens[token.id] = copy.deepcopy(token)

    async def get(self, token_id: str) -> ManagementToken | None:
        found = self.tokens.get(token_id)
        return copy.deepcopy(found) if found else None

    async def list(self) -> list[ManagementToken]:
        return [copy.deepcopy(token) for token in self.tokens.values()]

    async def save(self, token: ManagementToken) -> None:
        stored = self.tokens.get(token.id)
        if stored is None or stored.etag != token.etag:
            raise StaleWrite(f"token {token.id} changed")
        self.saves += 1
        token.etag = str(next(self._versions))
        self.tokens[token.id] = copy.deepcopy(token)
