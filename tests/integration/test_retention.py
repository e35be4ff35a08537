"""The purge on Table and Blob storage (Azurite): expired data of every kind goes with
its companions, what must stay stays, and a purge run's requests follow what expired:
ten times more live data costs the same requests.

Its own Azurite: the purge marker and the all-integrations flow counts are shared by
everything in one storage account."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from shared.adapters.azure_storage import RequestCounter, StorageClients
from shared.adapters.table_event_layout import ATTEMPT_PREFIX, DUE_PREFIX, partition_key
from shared.adapters.table_events import TableEventStore
from shared.adapters.table_flow import TableFlowCounterStore
from shared.adapters.table_integrations import TableIntegrationStore
from shared.adapters.table_retention import TableRetentionStore
from shared.adapters.table_schedule import TableIdempotencyStore
from shared.adapters.table_versions import TableEntityVersionStore
from shared.adapters.webhook import TableAlertLedger
from shared.config import Settings
from shared.domain.clock import epoch_ms, new_event_id
from shared.domain.flow import FlowKey, FlowRow, FlowStep, Granularity
from shared.domain.models import (
    Attempt,
    AttemptOutcome,
    ErrorKind,
    EventStatus,
    Integration,
    IntegrationEvent,
    LastError,
)
from shared.domain.retention import PurgeSchedule, RecordKind, window_name
from shared.services.auth import generate_api_key, hash_key, key_hint
from shared.services.ports import IdempotencyRecord
from shared.services.retention import RetentionReport, RetentionService

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
EVENT_HORIZON = NOW - 30 * DAY
SHARDS = 4
LIVE_STEP = timedelta(minutes=10)
INVERTED_MS_BASE = 10**13 - 1
BIG = {"action": "product.upsert", "data": {"text": "x" * 40_000}}
SMALL = {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 1}]}}


def settings(connection: str) -> Settings:
    return Settings.model_validate(
        {
            "AzureWebJobsStorage": connection,
            "RETENTION_EVENT_DAYS": 30,
            "RETENTION_AUDIT_DAYS": 365,
            "RETENTION_VERSION_DAYS": 90,
            "IDEMPOTENCY_WINDOW_HOURS": 24,
            "RETENTION_BATCH": 5000,
        }
    )


@pytest_asyncio.fixture
async def storage(private_azurite: str) -> AsyncIterator[tuple[StorageClients, RequestCounter]]:
    counter = RequestCounter()
    clients = StorageClients(settings(private_azurite), request_hook=counter)
    await clients.ensure_created()
    yield clients, counter
    await clients.close()


class OneIntegration(TableIntegrationStore):
    """The integration store, listing only the integration under test."""

    def __init__(self, storage: StorageClients, integration: Integration) -> None:
        super().__init__(storage)
        self._only = integration

    async def list(self) -> list[Integration]:
        return [self._only]


def new_integration() -> Integration:
    integration_id = "int_" + secrets.token_hex(8)
    key = generate_api_key(integration_id)
    return Integration(
        id=integration_id,
        name="Retention",
        service="custom",
        enabled=True,
        key_hash=hash_key(key),
        key_hint=key_hint(key),
        partition_shards=SHARDS,
        created_at=NOW - 400 * DAY,
        updated_at=NOW - 400 * DAY,
    )


@dataclass
class Expired:
    """The same expired data for every integration a test seeds: same ids and keys, so
    two integrations' purges do the same work."""

    success: str = field(default_factory=lambda: new_event_id(EVENT_HORIZON - 5 * DAY))
    big_skipped: str = field(default_factory=lambda: new_event_id(EVENT_HORIZON - 6 * DAY))
    just_expired: str = field(
        default_factory=lambda: new_event_id(EVENT_HORIZON - timedelta(milliseconds=1))
    )
    failed_for_person: str = field(default_factory=lambda: new_event_id(EVENT_HORIZON - 7 * DAY))
    queued: str = field(default_factory=lambda: new_event_id(EVENT_HORIZON - 8 * DAY))
    at_horizon: str = field(default_factory=lambda: new_event_id(EVENT_HORIZON))
    audit_rows: list[str] = field(
        default_factory=lambda: [
            f"{INVERTED_MS_BASE - epoch_ms(NOW - (400 + n) * DAY):013d}~{secrets.token_hex(4)}"
            for n in range(3)
        ]
    )
    finished_job: str = field(default_factory=lambda: "job_" + secrets.token_hex(8))
    running_job: str = field(default_factory=lambda: "job_" + secrets.token_hex(8))


def event(integration: Integration, event_id: str, at: datetime, payload: Any) -> IntegrationEvent:
    return IntegrationEvent(
        id=event_id,
        integration_id=integration.id,
        action=payload["action"],
        entity_id=None,
        status=EventStatus.QUEUED,
        created_at=at,
        updated_at=at,
        session_id=integration.id,
        max_attempts=8,
        payload=payload,
    )


def attempt(event_id: str, number: int, at: datetime, ok: bool) -> Attempt:
    error = None if ok else LastError(ErrorKind.PERMANENT, "rejected", 422)
    outcome = AttemptOutcome.SUCCESS if ok else AttemptOutcome.FAILED
    return Attempt(event_id, number, at, at, outcome, error, [{"request": "masked"}])


async def put_event(
    store: TableEventStore,
    integration: Integration,
    event_id: str,
    status: EventStatus,
    attempts: int = 1,
    payload: Any = SMALL,
    key: str | None = None,
) -> None:
    at = datetime.fromtimestamp(int(event_id[:13].replace("-", ""), 16) / 1000, UTC)
    item = event(integration, event_id, at, payload)
    item.idempotency_key = key
    item.check_at = at + timedelta(minutes=2)  # queued: a check, as accepting writes
    await store.add(item, SHARDS)
    if status is EventStatus.QUEUED:
        return
    for number in range(1, attempts + 1):
        last = number == attempts
        item.status = status if last else EventStatus.FAILED
        item.attempts = number
        item.check_at = None
        if status is EventStatus.FAILED and last:
            item.last_error = LastError(ErrorKind.PERMANENT, "SKU 'X' does not exist", 422)
        ok = status is EventStatus.SUCCESS and last
        await store.save(item, SHARDS, attempt(event_id, number, at, ok))


async def seed(
    storage: StorageClients, integration: Integration, expired: Expired, live: int
) -> None:
    events = TableEventStore(storage)
    await TableIntegrationStore(storage).add(integration)
    # Expired: final ones go (with attempts, blob), the others stay.
    await put_event(events, integration, expired.success, EventStatus.SUCCESS, 2, key="k0")
    await put_event(
        events, integration, expired.big_skipped, EventStatus.SKIPPED, payload=BIG, key="k1"
    )
    await put_event(events, integration, expired.just_expired, EventStatus.SUCCESS, key="reused")
    await put_event(events, integration, expired.failed_for_person, EventStatus.FAILED, 3, key="k2")
    await put_event(events, integration, expired.queued, EventStatus.QUEUED)
    await put_event(events, integration, expired.at_horizon, EventStatus.SUCCESS)

    idempotency = TableIdempotencyStore(storage, 24)
    versions = TableEntityVersionStore(storage)
    ledger = TableAlertLedger(storage)
    flow = TableFlowCounterStore(storage)
    old_version = f"{epoch_ms(NOW - 100 * DAY):013d}~{new_event_id(NOW - 100 * DAY)}"
    new_version = f"{epoch_ms(NOW - DAY):013d}~{new_event_id(NOW - DAY)}"
    # Idempotency-Key records of expired events; "reused" was claimed again since.
    for key, event_id in (
        ("k0", expired.success),
        ("k1", expired.big_skipped),
        ("k2", expired.failed_for_person),
        ("reused", new_event_id(NOW)),
    ):
        record = IdempotencyRecord(event_id, "h", datetime.fromtimestamp(0, UTC))
        await idempotency.claim(integration.id, key, record)
    for n in range(3):  # expired versions, the same for every integration
        await versions.advance(integration.id, f"SKU-OLD-{n}", old_version, None)
    # Written long ago, changed lately: its index row is old, the row stays.
    await versions.advance(integration.id, "SKU-CHANGED", old_version, None)
    changed = await versions.get(integration.id, "SKU-CHANGED")
    await versions.advance(integration.id, "SKU-CHANGED", new_version, changed)
    await ledger.claim(integration.id, "dead-lettered", window_name(NOW - 40 * DAY))
    await flow.write([flow_row(integration, Granularity.MINUTE, NOW - 3 * DAY)])
    await flow.write([flow_row(integration, Granularity.HOUR, NOW - 40 * DAY)])
    audit, jobs = storage.table("audit"), storage.table("jobs")
    for row_key, job in zip(
        expired.audit_rows, [expired.finished_job, expired.running_job, None], strict=True
    ):
        await audit.create_entity({"PartitionKey": integration.id, "RowKey": row_key, "jobId": job})
    await jobs.create_entity(
        {"PartitionKey": integration.id, "RowKey": expired.finished_job, "status": "completed"}
    )
    await jobs.create_entity(
        {"PartitionKey": integration.id, "RowKey": expired.running_job, "status": "running"}
    )

    # Live: nothing of it expired.
    for n in range(live):
        at = NOW - n * LIVE_STEP  # all within the shortest horizon (24 hours)
        status = EventStatus.SUCCESS if n % 2 else EventStatus.FAILED
        event_id, key = new_event_id(at), f"live-key-{n}"
        await put_event(events, integration, event_id, status, attempts=2, key=key)
        await idempotency.claim(integration.id, key, IdempotencyRecord(event_id, "h", at))
        version = f"{epoch_ms(at):013d}~{new_event_id(at)}"
        await versions.advance(integration.id, f"SKU-LIVE-{n}", version, None)
        await ledger.claim(integration.id, "failure-rate", window_name(at))
        row_key = f"{INVERTED_MS_BASE - epoch_ms(at):013d}~{secrets.token_hex(4)}"
        await audit.create_entity({"PartitionKey": integration.id, "RowKey": row_key})
        minute, hour = (at.replace(second=0, microsecond=0), at.replace(minute=0, second=0))
        await flow.write([flow_row(integration, Granularity.MINUTE, minute)])
        await flow.write([flow_row(integration, Granularity.HOUR, hour)])


def flow_row(integration: Integration, granularity: Granularity, start: datetime) -> FlowRow:
    return FlowRow(FlowKey(integration.id, granularity, start), "w", {FlowStep.RECEIVED: 1})


async def purge(
    storage: StorageClients, counter: RequestCounter, integration: Integration, connection: str
) -> tuple[RetentionReport, int]:
    store = TableRetentionStore(storage)
    await store.set_schedule(PurgeSchedule(NOW - timedelta(minutes=1)))  # due now
    service = RetentionService(
        settings(connection), OneIntegration(storage, integration), store, lambda: NOW
    )
    counter.reset()
    report = await service.run_once()
    return report, counter.count


async def rows(storage: StorageClients, table: str, partition: str) -> list[str]:
    found = storage.table(table).query_entities(
        "PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"]
    )
    return [row["RowKey"] async for row in found]


async def event_rows(storage: StorageClients, integration: Integration) -> list[str]:
    keys: list[str] = []
    for shard in range(SHARDS):
        keys += await rows(storage, "events", partition_key(integration.id, shard))
    return keys


async def blobs(storage: StorageClients, integration: Integration) -> list[str]:
    container = storage.payloads()
    return [blob.name async for blob in container.list_blobs(name_starts_with=integration.id)]


def with_id(keys: list[str], event_id: str) -> list[str]:
    return [key for key in keys if event_id in key]


async def test_expired_data_of_every_kind_goes_and_what_must_stay_stays(
    storage: tuple[StorageClients, RequestCounter], private_azurite: str
) -> None:
    clients, counter = storage
    integration, expired = new_integration(), Expired()
    await seed(clients, integration, expired, live=5)
    assert len(await blobs(clients, integration)) == 1

    report, _ = await purge(clients, counter, integration, private_azurite)

    assert report.finished
    keys = await event_rows(clients, integration)
    # Final and expired: the event, its attempts and its payload blob are gone.
    for gone in (expired.success, expired.big_skipped, expired.just_expired):
        assert with_id(keys, gone) == [], gone
    assert await blobs(clients, integration) == []
    # Not final: kept however old, with their attempts and check; counted as kept.
    failed = with_id(keys, expired.failed_for_person)
    assert len([k for k in failed if k.startswith(ATTEMPT_PREFIX)]) == 3
    assert len(failed) == 4
    queued = with_id(keys, expired.queued)
    assert len([k for k in queued if k.startswith(DUE_PREFIX)]) == 1
    # Created exactly at the horizon: not expired.
    assert len(with_id(keys, expired.at_horizon)) == 2
    assert report.deleted[RecordKind.EVENTS] == 3
    assert report.kept[RecordKind.EVENTS] == 2
    assert report.companions["attempts"] == 4 and report.companions["payloadBlobs"] == 1
    # The live events are all there, with their attempts.
    live = [
        k for k in keys if not any(i in k for i in vars(expired).values() if isinstance(i, str))
    ]
    assert len(live) == 5 * 3

    # Idempotency-Key records go with their events, unless claimed again since.
    idempotency = await rows(clients, "idempotency", integration.id)
    assert len(idempotency) == 5 + 2  # the live ones, k2 (its event stays), reused
    assert report.companions["idempotencyKeys"] == 2
    # Versions unchanged for 90 days go; one written long ago but changed lately stays.
    versions = TableEntityVersionStore(clients)
    for n in range(3):
        assert await versions.get(integration.id, f"SKU-OLD-{n}") is None
    assert await versions.get(integration.id, "SKU-CHANGED") is not None
    assert await versions.get(integration.id, "SKU-LIVE-0") is not None
    assert report.deleted[RecordKind.VERSIONS] == 3
    # Audit: old entries go with the finished job they started; a running job's stays.
    audit = await rows(clients, "audit", integration.id)
    assert expired.audit_rows[1] in audit and len(audit) == 5 + 1
    jobs = await rows(clients, "jobs", integration.id)
    assert jobs == [expired.running_job]
    assert report.companions["jobs"] == 1
    # Alert ledger rows and flow counts past their horizons.
    alerts = await rows(clients, "alerts", integration.id)
    assert len(alerts) == 5
    assert all(not key.startswith(window_name(NOW - 40 * DAY)) for key in alerts)
    assert len(await rows(clients, "flowcounts", f"{integration.id}~minute")) == 5
    hours = {(NOW - n * LIVE_STEP).replace(minute=0, second=0) for n in range(5)}
    assert len(await rows(clients, "flowcounts", f"{integration.id}~hour")) == len(hours)

    # A second run finds nothing more to delete, and reads no more than the first.
    again, _ = await purge(clients, counter, integration, private_azurite)
    assert sum(again.deleted.values()) == 0
    assert again.kept[RecordKind.EVENTS] == 2


async def test_a_purge_costs_the_same_requests_with_ten_times_more_live_data(
    storage: tuple[StorageClients, RequestCounter], private_azurite: str
) -> None:
    clients, counter = storage
    expired = Expired()  # the same expired data in both integrations
    small, large = new_integration(), new_integration()
    await seed(clients, small, expired, live=10)
    await seed(clients, large, expired, live=100)

    small_report, small_requests = await purge(clients, counter, small, private_azurite)
    large_report, large_requests = await purge(clients, counter, large, private_azurite)

    assert small_report.deleted == large_report.deleted
    assert sum(small_report.deleted.values()) == 3 + 3 + 2 + 1 + 2
    assert small_report.companions == large_report.companions
    assert small_requests == large_requests, (small_requests, large_requests)
    print(f"purge requests: {small_requests} with 10 live, {large_requests} with 100 live")
