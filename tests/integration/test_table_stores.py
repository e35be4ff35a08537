"""The Table Storage adapters against Azurite. Every test makes its own ids, so tests
share one Azurite (and one set of tables) without seeing each other's rows."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from shared.adapters.azure_storage import StorageClients
from shared.adapters.table_events import (
    INLINE_PAYLOAD_LIMIT,
    SCAN_CAP_PER_SHARD,
    TableEventStore,
    event_keys,
)
from shared.adapters.table_integrations import TableIntegrationStore
from shared.adapters.table_jobs import TableJobStore, audit_row_key
from shared.adapters.table_schedule import TableIdempotencyStore, TableScheduleStore
from shared.adapters.table_versions import TableEntityVersionStore
from shared.config import Settings
from shared.domain.audit import AuditAction, AuditEntry
from shared.domain.clock import new_event_id
from shared.domain.errors import ValidationFailed
from shared.domain.jobs import BulkJob, JobStatus
from shared.domain.models import (
    Attempt,
    AttemptOutcome,
    ErrorKind,
    EventStatus,
    Integration,
    IntegrationEvent,
    LastError,
    OrderingScope,
    Role,
)
from shared.services.auth import generate_api_key, hash_key, key_hint
from shared.services.ports import EventQuery, IdempotencyRecord, StaleWrite

pytestmark = pytest.mark.azurite

BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def storage(azurite: str) -> AsyncIterator[StorageClients]:
    clients = StorageClients(Settings.model_validate({"AzureWebJobsStorage": azurite}))
    yield clients
    await clients.close()


def new_id() -> str:
    return "int_" + secrets.token_hex(8)


def integration(**overrides: Any) -> tuple[Integration, str]:
    integration_id = overrides.pop("id", None) or new_id()
    key = generate_api_key(integration_id)
    values: dict[str, Any] = {
        "id": integration_id,
        "name": "Test ERP",
        "service": "custom",
        "enabled": True,
        "key_hash": hash_key(key),
        "key_hint": key_hint(key),
        "created_at": BASE,
        "updated_at": BASE,
    }
    values.update(overrides)
    return Integration(**values), key


def event(integration_id: str, at: datetime, **overrides: Any) -> IntegrationEvent:
    values: dict[str, Any] = {
        "id": new_event_id(at),
        "integration_id": integration_id,
        "action": "inventory.set",
        "entity_id": None,
        "status": EventStatus.QUEUED,
        "created_at": at,
        "updated_at": at,
        "session_id": integration_id,
        "max_attempts": 8,
        "payload": {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 1}]}},
    }
    values.update(overrides)
    return IntegrationEvent(**values)


# --- integrations and the key index ---------------------------------------------------


async def test_integrations_round_trip_and_keys_are_point_reads(storage: StorageClients) -> None:
    store = TableIntegrationStore(storage)
    created, key = integration(
        ordering_scope=OrderingScope.ENTITY,
        partition_shards=3,
        retry_max_attempts=4,
        retry_base_delay_seconds=2.5,
    )
    await store.add(created)
    assert await store.get(created.id) == created
    assert await store.integration_for_key(hash_key(key)) == created.id
    assert await store.integration_for_key(hash_key(key + "x")) is None
    assert await store.get(new_id()) is None
    assert created.id in {item.id for item in await store.list()}

    created.enabled, created.name = False, "Renamed"
    created.retry_max_attempts = None
    await store.save(created)
    assert await store.get(created.id) == created


async def test_replace_key_moves_the_index_to_the_new_hash(storage: StorageClients) -> None:
    store = TableIntegrationStore(storage)
    created, old_key = integration()
    await store.add(created)
    new_key = generate_api_key(created.id)
    changed = replace(created, key_hash=hash_key(new_key), key_hint=key_hint(new_key))
    await store.replace_key(changed, (None, created.key_hash))
    assert await store.integration_for_key(hash_key(old_key)) is None
    assert await store.integration_for_key(hash_key(new_key)) == created.id
    stored = await store.get(created.id)
    assert stored is not None and stored.key_hash == hash_key(new_key)


async def test_a_previous_key_in_its_grace_period_is_stored_and_keeps_its_index_row(
    storage: StorageClients,
) -> None:
    store = TableIntegrationStore(storage)
    created, old_key = integration()
    await store.add(created)
    new_key = generate_api_key(created.id)
    changed = replace(
        created,
        key_hash=hash_key(new_key),
        key_hint=key_hint(new_key),
        previous_key_hash=created.key_hash,
        previous_key_hint=created.key_hint,
        previous_key_valid_until=BASE + timedelta(hours=1),
        previous_key_last_used_at=BASE - timedelta(minutes=3),
    )
    await store.replace_key(changed, (None, created.key_hash))
    assert await store.get(created.id) == changed
    # a key without its id (issued long ago) is still found during its grace period
    assert await store.integration_for_key(hash_key(old_key)) == created.id
    # the next rotation without a grace retires both rows
    newest = generate_api_key(created.id)
    again = replace(
        changed,
        key_hash=hash_key(newest),
        key_hint=key_hint(newest),
        previous_key_hash=None,
        previous_key_hint=None,
        previous_key_valid_until=None,
        previous_key_last_used_at=None,
    )
    await store.replace_key(again, (changed.previous_key_hash, changed.key_hash))
    assert await store.integration_for_key(hash_key(old_key)) is None
    assert await store.integration_for_key(hash_key(new_key)) is None
    assert await store.get(created.id) == again


async def test_a_key_use_is_merged_into_the_copy_read_only(storage: StorageClients) -> None:
    store = TableIntegrationStore(storage)
    created, _ = integration()
    await store.add(created)
    read = await store.get(created.id)
    assert read is not None and read.key_last_used_at is None
    used = BASE + timedelta(minutes=7)
    await store.record_key_use(read, used)
    stored = await store.get(created.id)
    assert stored is not None and stored.key_last_used_at == used
    assert stored.etag == read.etag  # the caller's copy follows its own write
    assert replace(stored, key_last_used_at=None) == created  # nothing else changed
    await store.record_key_use(stored, used + timedelta(minutes=1), previous=True)
    again = await store.get(created.id)
    assert again is not None and again.previous_key_last_used_at == used + timedelta(minutes=1)
    # a copy read before another write is refused, not written over it
    with pytest.raises(StaleWrite):
        await store.record_key_use(read, used + timedelta(minutes=9))
    stored = await store.get(created.id)
    assert stored is not None and stored.key_last_used_at == used


async def test_an_integration_stored_before_keys_had_grace_periods_reads(
    storage: StorageClients,
) -> None:
    store = TableIntegrationStore(storage)
    created, _ = integration()
    await store.add(created)
    table = storage.table("integrations")
    row = dict(await table.get_entity(created.id, "integration"))
    for name in (
        "keyLastUsedAt",
        "previousKeyHash",
        "previousKeyHint",
        "previousKeyValidUntil",
        "previousKeyLastUsedAt",
    ):
        row.pop(name, None)
    await table.upsert_entity(row, mode="replace")
    stored = await store.get(created.id)
    assert stored is not None and stored.key_hash == created.key_hash
    assert stored.key_last_used_at is None and stored.previous_key_hash is None
    assert not stored.previous_key_valid(BASE)


async def test_a_key_rotation_over_a_stale_copy_changes_nothing(storage: StorageClients) -> None:
    store = TableIntegrationStore(storage)
    created, key = integration()
    await store.add(created)
    first, second = await store.get(created.id), await store.get(created.id)
    assert first is not None and second is not None
    first.name = "Renamed"
    await store.save(first)
    new_key = generate_api_key(created.id)
    second.key_hash, second.key_hint = hash_key(new_key), key_hint(new_key)
    with pytest.raises(StaleWrite):
        await store.replace_key(second, (None, created.key_hash))
    assert await store.integration_for_key(hash_key(new_key)) is None
    assert await store.integration_for_key(hash_key(key)) == created.id
    stored = await store.get(created.id)
    assert stored is not None and (stored.name, stored.key_hash) == ("Renamed", hash_key(key))


# --- events ---------------------------------------------------------------------------


async def test_events_add_get_and_save(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    integration_id = new_id()
    original = event(integration_id, BASE, entity_id="SKU-1", idempotency_key="k1")
    await store.add(original, shards=4)
    assert original.etag
    found = await store.get(integration_id, original.id, 4)
    assert found == original and found is not None and found.etag == original.etag

    found.status, found.attempts = EventStatus.FAILED, 2
    found.next_retry_at = BASE + timedelta(seconds=30)
    found.last_error = LastError(ErrorKind.TRANSIENT, "Could not set stock: 503.", 503)
    found.result = {"levels": [{"sku": "A"}]}
    found.check_at = found.next_retry_at
    found.resubmissions, found.dead_lettered = 1, True
    # to the microsecond: the worker recognises its own claim by this time
    found.processing_started_at = BASE + timedelta(microseconds=123457)
    await store.save(found, 4)
    again = await store.get(integration_id, original.id, 4)
    assert again == found
    assert again is not None and again.processing_started_at == found.processing_started_at
    assert again is not None and again.next_retry_at == BASE + timedelta(seconds=30)


async def test_unknown_and_foreign_event_ids_read_as_none(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    integration_id = new_id()
    mine = event(integration_id, BASE)
    await store.add(mine, 4)
    assert await store.get(new_id(), mine.id, 4) is None  # another integration's id
    assert await store.get(integration_id, new_event_id(BASE), 4) is None
    assert await store.get(integration_id, "not-a-uuid", 4) is None


async def test_saving_a_stale_copy_raises_stale_write(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    integration_id = new_id()
    original = event(integration_id, BASE)
    await store.add(original, 4)
    first = await store.get(integration_id, original.id, 4)
    second = await store.get(integration_id, original.id, 4)
    assert first is not None and second is not None
    first.status = EventStatus.PROCESSING
    await store.save(first, 4)
    second.status = EventStatus.FAILED
    with pytest.raises(StaleWrite):
        await store.save(second, 4)
    stored = await store.get(integration_id, original.id, 4)
    assert stored is not None and stored.status is EventStatus.PROCESSING
    # the copy that won keeps its new etag and may save again
    first.status = EventStatus.SUCCESS
    await store.save(first, 4)


async def test_a_large_payload_goes_to_a_blob_and_reads_back(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    integration_id = new_id()
    items = [{"sku": f"SKU-{n:05d}", "quantity": n} for n in range(1500)]
    payload = {"action": "inventory.set", "data": {"items": items}}
    large = event(integration_id, BASE, payload=payload)
    await store.add(large, 4)
    pk, rk = event_keys(integration_id, large.id, 4)
    row = await storage.table("events").get_entity(pk, rk)
    assert "payload" not in row and row["payloadBlob"] == f"{integration_id}/{large.id}.json"
    found = await store.get(integration_id, large.id, 4)
    assert found is not None and found.payload == payload
    # a payload just under the limit stays inline
    small_items = [{"sku": "S", "quantity": 1}]
    small = event(integration_id, BASE, payload={"data": {"items": small_items}})
    await store.add(small, 4)
    pk, rk = event_keys(integration_id, small.id, 4)
    assert "payloadBlob" not in await storage.table("events").get_entity(pk, rk)
    assert len(str(payload)) > INLINE_PAYLOAD_LIMIT


async def many_events(
    store: TableEventStore, integration_id: str, count: int, shards: int, **fields: Any
) -> list[IntegrationEvent]:
    created = []
    for n in range(count):
        item = event(integration_id, BASE + timedelta(seconds=n), **fields)
        await store.add(item, shards)
        created.append(item)
    return created


async def test_query_lists_newest_first_across_shards(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    integration_id = new_id()
    created = await many_events(store, integration_id, 12, shards=4)
    page = await store.query(EventQuery(integration_id, shards=4, limit=50))
    assert [e.id for e in page.events] == [e.id for e in reversed(created)]
    assert page.continuation_token is None
    # the query only reads this integration's partitions
    other = new_id()
    await many_events(store, other, 2, shards=4)
    again = await store.query(EventQuery(integration_id, shards=4, limit=50))
    assert len(again.events) == 12


async def test_continuation_tokens_page_through_everything_once(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    integration_id = new_id()
    created = await many_events(store, integration_id, 23, shards=5)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = await store.query(
            EventQuery(integration_id, shards=5, limit=4, continuation_token=token)
        )
        pages += 1
        assert len(page.events) <= 4
        seen.extend(e.id for e in page.events)
        token = page.continuation_token
        if token is None:
            break
    assert seen == [e.id for e in reversed(created)]
    assert pages in (6, 7)  # 23 / 4, plus perhaps one empty closing page


async def test_a_foreign_continuation_token_is_a_400(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    with pytest.raises(ValidationFailed, match="continuationToken"):
        await store.query(EventQuery(new_id(), shards=2, continuation_token="%%%"))


async def test_query_filters(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    integration_id = new_id()
    shards = 3
    rows = [
        ("inventory.set", "SKU-RED-1", EventStatus.SUCCESS, False),
        ("inventory.set", "SKU-BLUE-2", EventStatus.FAILED, False),
        ("order.update", "ord_red_3", EventStatus.FAILED, True),
        ("price.set", None, EventStatus.QUEUED, False),
        ("order.update", "ord_4", EventStatus.SKIPPED, False),
    ]
    created = []
    for n, (action, entity_id, status, dead) in enumerate(rows):
        item = event(
            integration_id,
            BASE + timedelta(minutes=n),
            action=action,
            entity_id=entity_id,
            status=status,
            dead_lettered=dead,
        )
        await store.add(item, shards)
        created.append(item)

    async def ids(**filters: Any) -> list[int]:
        page = await store.query(EventQuery(integration_id, shards=shards, **filters))
        return [next(i for i, c in enumerate(created) if c.id == e.id) for e in page.events]

    assert await ids(status="failed") == [2, 1]
    assert await ids(action="order.update") == [4, 2]
    assert await ids(entity_id="SKU-BLUE-2") == [1]
    assert await ids(entity_id_contains="red") == [2, 0]  # case-insensitive substring
    assert await ids(dead_lettered=True) == [2]
    assert await ids(dead_lettered=False) == [4, 3, 1, 0]
    assert await ids(created_from=BASE + timedelta(minutes=1)) == [4, 3, 2, 1]
    assert await ids(created_to=BASE + timedelta(minutes=1)) == [1, 0]
    window = {
        "created_from": BASE + timedelta(minutes=1),
        "created_to": BASE + timedelta(minutes=3),
    }
    assert await ids(**window) == [3, 2, 1]
    assert await ids(status="failed", action="inventory.set", **window) == [1]
    assert await ids(status="failed", entity_id_contains="red") == [2]


async def test_search_pages_through_matches_only(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    integration_id = new_id()
    created = []
    for n in range(12):
        entity = f"ORDER-{n}" if n % 3 == 0 else f"other-{n}"
        item = event(integration_id, BASE + timedelta(seconds=n), entity_id=entity)
        await store.add(item, 2)
        created.append(item)
    seen: list[str | None] = []
    token: str | None = None
    while True:
        page = await store.query(
            EventQuery(
                integration_id, 2, entity_id_contains="order", limit=2, continuation_token=token
            )
        )
        seen.extend(e.entity_id for e in page.events)
        token = page.continuation_token
        if not token:
            break
    assert seen == ["ORDER-9", "ORDER-6", "ORDER-3", "ORDER-0"]


async def test_attempts_round_trip(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    event_id = new_event_id(BASE)
    calls = [{"method": "PUT", "url": "https://p/v1/prices", "status": 503, "request": {}}]
    first = Attempt(
        event_id,
        1,
        BASE,
        BASE + timedelta(milliseconds=250),
        AttemptOutcome.FAILED,
        LastError(ErrorKind.TRANSIENT, "Could not set 1 price(s): 503.", 503),
        calls,
    )
    second = Attempt(
        event_id,
        2,
        BASE + timedelta(minutes=1),
        BASE + timedelta(minutes=1),
        AttemptOutcome.SUCCESS,
        None,
        [],
    )
    integration_id = new_id()
    recorded = event(integration_id, BASE, id=event_id)
    await store.add(recorded, 4)
    await store.save(recorded, 4, first)
    await store.save(recorded, 4, second)
    assert await store.attempts(integration_id, event_id, 4) == [first, second]
    assert await store.attempts(integration_id, new_event_id(BASE), 4) == []
    # the attempts live beside the event, and never show up as events
    page = await store.query(EventQuery(integration_id, 4))
    assert [found.id for found in page.events] == [event_id]


async def test_an_event_its_check_and_its_attempt_are_written_all_or_nothing(
    storage: StorageClients,
) -> None:
    store = TableEventStore(storage)
    schedule = TableScheduleStore(storage, TableIntegrationStore(storage))
    owner, _ = integration(partition_shards=2)
    await TableIntegrationStore(storage).add(owner)
    now = datetime(1973, 1, 1, tzinfo=UTC) + timedelta(seconds=secrets.randbelow(10**6))
    recorded = event(owner.id, BASE, check_at=now - timedelta(seconds=5))
    await store.add(recorded, 2)
    assert [c.event_id for c in await schedule.due(now, 100) if c.integration_id == owner.id] == [
        recorded.id
    ]
    assert await store.has_pending(owner.id, 2)
    stale = replace(recorded)
    # someone else moves the check; a write over the copy read before fails entirely
    recorded.check_at = now + timedelta(minutes=5)
    await store.save(recorded, 2)
    stale.status, stale.check_at = EventStatus.SUCCESS, None
    attempt = Attempt(recorded.id, 1, BASE, BASE, AttemptOutcome.SUCCESS, None, [])
    with pytest.raises(StaleWrite):
        await store.save(stale, 2, attempt)
    assert await store.attempts(owner.id, recorded.id, 2) == []
    assert [c.event_id for c in await schedule.due(now + timedelta(minutes=5), 100)
            if c.integration_id == owner.id] == [recorded.id]  # fmt: skip
    # the outcome written over the fresh copy drops the check and keeps the attempt
    fresh = await store.get(owner.id, recorded.id, 2)
    assert fresh is not None
    fresh.status, fresh.check_at = EventStatus.SUCCESS, None
    await store.save(fresh, 2, attempt)
    assert await store.attempts(owner.id, recorded.id, 2) == [attempt]
    assert not await store.has_pending(owner.id, 2)
    assert [c for c in await schedule.due(now + timedelta(hours=1), 100)
            if c.integration_id == owner.id] == []  # fmt: skip


# --- the due-time index ---------------------------------------------------------------


async def test_schedule_returns_only_due_rows_earliest_first(storage: StorageClients) -> None:
    integrations = TableIntegrationStore(storage)
    events, store = TableEventStore(storage), TableScheduleStore(storage, integrations)
    owner, _ = integration(partition_shards=3)
    await integrations.add(owner)
    # A moment no other test uses: every row due before it is this test's own.
    now = datetime(1971, 1, 1, tzinfo=UTC) + timedelta(seconds=secrets.randbelow(10**6))
    due = [event(owner.id, BASE, check_at=now - timedelta(seconds=60 - n)) for n in range(6)]
    later = event(owner.id, BASE, check_at=now + timedelta(milliseconds=1))
    at_now = event(owner.id, BASE, check_at=now)  # due at `now` exactly
    for each in [*due, later, at_now]:
        await events.add(each, 3)

    checks = [c for c in await store.due(now, 100) if c.integration_id == owner.id]
    assert [c.event_id for c in checks] == [e.id for e in [*due, at_now]]
    assert checks[0].due == now - timedelta(seconds=60)
    assert all(c.shards == 3 for c in checks)
    assert checks[0].key == due[0].schedule_key
    assert [c.event_id for c in await store.due(now, 2)] == [e.id for e in due[:2]]
    # reading on past a cursor
    rest = await store.due(now, 100, after=checks[1].cursor)
    assert next(c.event_id for c in rest if c.integration_id == owner.id) == due[2].id

    await store.remove(checks[0].key)
    await store.remove(checks[0].key)  # removing twice is fine
    remaining = [c.event_id for c in await store.due(now, 100)]
    assert due[0].id not in remaining and due[1].id in remaining
    assert later.id in [c.event_id for c in await store.due(now + timedelta(seconds=1), 100)]


# --- Idempotency-Key records ----------------------------------------------------------


async def test_idempotency_claim_replay_and_expiry(storage: StorageClients) -> None:
    store = TableIdempotencyStore(storage, window_hours=1)
    integration_id = new_id()
    first = IdempotencyRecord(new_event_id(BASE), "hash-1", BASE)
    assert await store.claim(integration_id, "order/42?#", first) is None
    within = IdempotencyRecord(new_event_id(BASE), "hash-2", BASE + timedelta(minutes=59))
    assert await store.claim(integration_id, "order/42?#", within) == first
    # the same key in another integration is another key
    assert await store.claim(new_id(), "order/42?#", within) is None
    # after the window the key is free again and holds the new record
    later = IdempotencyRecord(new_event_id(BASE), "hash-3", BASE + timedelta(hours=1, seconds=1))
    assert await store.claim(integration_id, "order/42?#", later) is None
    newer = IdempotencyRecord(new_event_id(BASE), "hash-4", BASE + timedelta(hours=1, minutes=2))
    assert await store.claim(integration_id, "order/42?#", newer) == later


# --- entity versions ------------------------------------------------------------------


async def test_entity_versions_only_move_forward(storage: StorageClients) -> None:
    store = TableEntityVersionStore(storage)
    integration_id = new_id()
    key = "customer:anna/o'brien#1@example.com"

    async def version() -> str | None:
        found = await store.get(integration_id, key)
        return None if found is None else found.version

    assert await store.get(integration_id, key) is None
    await store.advance(integration_id, key, "0000000000002~b", None)
    # an older one, advanced over what it read before: refused by the etag, re-read, kept
    await store.advance(integration_id, key, "0000000000001~a", None)
    assert await version() == "0000000000002~b"
    seen = await store.get(integration_id, key)
    await store.advance(integration_id, key, "0000000000003~c", seen)
    assert await version() == "0000000000003~c"
    # a stale read (another worker advanced meanwhile) is read again, never overwritten
    await store.advance(integration_id, key, "0000000000004~d", seen)
    assert await version() == "0000000000004~d"
    await store.advance(integration_id, key, "0000000000003~e", seen)
    assert await version() == "0000000000004~d"
    assert await store.get(new_id(), key) is None
    assert await store.get(integration_id, "customer:other") is None


# --- jobs and the audit trail -----------------------------------------------------------


async def test_jobs_round_trip_and_running_ones_are_listed(storage: StorageClients) -> None:
    store = TableJobStore(storage)
    integration_id = new_id()
    job = BulkJob(
        id="job_" + secrets.token_hex(4),
        integration_id=integration_id,
        filter={"integrationId": integration_id, "status": "failed"},
        requested_by="operator:ann",
        created_at=BASE,
        updated_at=BASE,
        matched=3,
        resubmitted=2,
        skipped=1,
        continuation_token="abc",
    )
    await store.save_job(job)
    assert await store.get_job(integration_id, job.id) == job
    assert job.id in {j.id for j in await store.running_jobs()}
    job.status, job.continuation_token = JobStatus.COMPLETED, None
    await store.save_job(job)
    assert await store.get_job(integration_id, job.id) == job
    assert job.id not in {j.id for j in await store.running_jobs()}
    assert await store.get_job(integration_id, "job_missing") is None


async def test_a_job_is_saved_only_over_the_copy_it_was_read_from(storage: StorageClients) -> None:
    store = TableJobStore(storage)
    integration_id = new_id()
    job = BulkJob("job_" + secrets.token_hex(4), integration_id, {}, "op", BASE, BASE)
    await store.save_job(job)
    with pytest.raises(StaleWrite):
        await store.save_job(BulkJob(job.id, integration_id, {}, "op", BASE, BASE))
    first = await store.get_job(integration_id, job.id)
    second = await store.get_job(integration_id, job.id)
    assert first is not None and second is not None
    first.lease_until = BASE + timedelta(minutes=5)
    await store.save_job(first)
    second.status = JobStatus.CANCELLED
    with pytest.raises(StaleWrite):
        await store.save_job(second)
    stored = await store.get_job(integration_id, job.id)
    assert stored is not None and stored.lease_until == first.lease_until
    assert stored.status == "running"


async def test_audit_trail_pages_newest_first(storage: StorageClients) -> None:
    store = TableJobStore(storage)
    integration_id = new_id()
    many = [new_event_id(BASE) for _ in range(600)]
    await store.audit(
        AuditEntry(
            integration_id,
            BASE,
            AuditAction.INTEGRATION_CREATED,
            "admin:ada",
            Role.ADMIN,
            "2001:db8::7",
            after={"name": "ERP", "enabled": True},
        )
    )
    for minute in range(1, 5):
        await store.audit(
            AuditEntry(
                integration_id,
                BASE + timedelta(minutes=minute),
                AuditAction.INTEGRATION_CHANGED,
                "admin",
                Role.ADMIN,
                "203.0.113.9",
                before={"name": f"ERP {minute - 1}"},
                after={"name": f"ERP {minute}"},
            )
        )
    await store.audit(
        AuditEntry(
            integration_id,
            BASE + timedelta(minutes=9),
            AuditAction.JOB_PROGRESSED,
            "operator:ann",
            event_ids=many,
            job_id="job_1",
        )
    )

    pages, token = [], None
    while True:
        page = await store.audit_page(integration_id, 2, token)
        pages.append(page.entries)
        token = page.continuation_token
        if token is None:
            break
    assert [len(entries) for entries in pages] == [2, 2, 2]
    trail = [entry for entries in pages for entry in entries]
    assert [entry.at for entry in trail] == sorted((e.at for e in trail), reverse=True)
    assert [entry.action for entry in trail] == ["job.progressed"] + ["integration.changed"] * 4 + [
        "integration.created"
    ]
    assert trail[0].job_id == "job_1" and len(trail[0].event_ids) == 500
    assert (trail[0].role, trail[0].address, trail[0].before) == (None, None, None)
    assert (trail[1].before, trail[1].after) == ({"name": "ERP 3"}, {"name": "ERP 4"})
    created = trail[-1]
    assert (created.actor, created.role, created.address) == ("admin:ada", "admin", "2001:db8::7")
    assert created.after == {"name": "ERP", "enabled": True} and created.before is None

    whole = await store.audit_page(integration_id, 200)
    assert whole.entries == trail and whole.continuation_token is None
    assert (await store.audit_page(new_id(), 50)).entries == []


async def test_audit_rows_from_before_read_with_the_new_fields_empty(
    storage: StorageClients,
) -> None:
    store = TableJobStore(storage)
    integration_id = new_id()
    event_id = new_event_id(BASE)
    # as rows were written before roles, addresses and before/after were kept
    await storage.ensure_created()
    await storage.table("audit").create_entity(
        {
            "PartitionKey": integration_id,
            "RowKey": audit_row_key(BASE),
            "actor": "operator:ann",
            "action": "resubmit",
            "jobId": None,
            "eventIds": json.dumps([event_id]),
            "eventCount": 1,
            "at": BASE,
        }
    )
    [old] = (await store.audit_page(integration_id, 50)).entries
    assert (old.action, old.actor, old.event_ids, old.at) == (
        "event.resubmitted",
        "operator:ann",
        [event_id],
        BASE,
    )
    assert (old.role, old.address, old.before, old.after, old.job_id) == (None,) * 5


async def test_an_audit_token_not_issued_for_the_trail_is_refused(
    storage: StorageClients,
) -> None:
    store = TableJobStore(storage)
    first, other = new_id(), new_id()
    for integration_id in (first, other):
        for minute in range(3):
            await store.audit(
                AuditEntry(
                    integration_id,
                    BASE + timedelta(minutes=minute),
                    AuditAction.KEY_REGENERATED,
                    "admin",
                )
            )
    token = (await store.audit_page(first, 1)).continuation_token
    assert token is not None
    assert len((await store.audit_page(first, 5, token)).entries) == 2
    for bad in (token[:-3], "not-a-token", "W10", token + "x"):
        with pytest.raises(ValidationFailed, match="not one this API issued"):
            await store.audit_page(first, 5, bad)
    with pytest.raises(ValidationFailed):
        await store.audit_page(other, 5, token)  # another integration's trail


async def test_search_never_silently_drops_older_matches(storage: StorageClients) -> None:
    store = TableEventStore(storage)
    integration_id = new_id()
    match = event(integration_id, BASE, entity_id="NEEDLE-1")
    await store.add(match, 1)
    # newer non-matching rows, more than one search scans, written in batches
    table = storage.table("events")
    rows = []
    for n in range(SCAN_CAP_PER_SHARD + 1):
        newer = event(integration_id, BASE + timedelta(seconds=1, milliseconds=n))
        pk, rk = event_keys(integration_id, newer.id, 1)
        rows.append({"PartitionKey": pk, "RowKey": rk, "entityId": f"hay-{n}"})
    for start in range(0, len(rows), 100):
        await table.submit_transaction([("create", row) for row in rows[start : start + 100]])
    found: list[str] = []
    token: str | None = None
    for _ in range(100):
        page = await store.query(
            EventQuery(integration_id, 1, entity_id_contains="needle", continuation_token=token)
        )
        found.extend(e.id for e in page.events)
        token = page.continuation_token
        if not token:
            break
    assert found == [match.id]


async def test_entity_claims_hold_off_others_until_advanced_or_released(
    storage: StorageClients,
) -> None:
    store = TableEntityVersionStore(storage)
    integration_id, key = new_id(), "inventory:CLAIM-1@wh-01"
    until = datetime.now(UTC) + timedelta(minutes=1)
    claim = await store.claim(integration_id, key, "0000000000005~e", until, None)
    found = await store.get(integration_id, key)
    assert found is not None and found.claimed_by == "0000000000005~e" and found.version == ""
    # a second claim over a stale copy is refused
    with pytest.raises(StaleWrite):
        await store.claim(integration_id, key, "0000000000006~f", until, None)
    await store.advance(integration_id, key, "0000000000005~e", claim)
    found = await store.get(integration_id, key)
    assert found is not None and (found.version, found.claimed_by) == ("0000000000005~e", None)
    # a claim that ends without an advance leaves the version as it was
    other = await store.claim(integration_id, key, "0000000000007~g", until, found)
    await store.release(integration_id, key, other)
    found = await store.get(integration_id, key)
    assert found is not None and (found.version, found.claimed_by) == ("0000000000005~e", None)
