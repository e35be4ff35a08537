"""Capacity on paper (docs/capacity.md), checked against the product's own scheme.

A stated load is spread exactly as the code spreads it: each event over its
integration's events partitions by the hash of its id (`shard_of`, `partition_key`;
the shares measured on a sample of event ids), each versioned record over the
integration's 16 version partitions (`version_partition`), each record's ordering key
over the session shards (`entity_session`, with the key the action names), every SKU
as busy as the next. The storage work of one event is one small table here, held to
the round trips `benchmarks/round_trips.py` measures, to the transactions the event
and version stores write, and to the figures docs/capacity.md quotes. At each load
every partition stays under Table Storage's target of 2,000 entities/s, the hashes
spread the load evenly, and the sessions carry what the document says they carry.
Pure: no Azurite, no network, nothing printed.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import pytest

from actions import ACTIONS
from benchmarks.round_trips import DOCUMENTS, RESULTS, TARGETS
from shared.adapters.azure_storage import StorageClients
from shared.adapters.table_event_layout import event_keys, partition_key, shard_of
from shared.adapters.table_events import TableEventStore
from shared.adapters.table_integrations import to_entity as integration_row
from shared.adapters.table_versions import TableEntityVersionStore, version_partition
from shared.config import Settings
from shared.domain import lifecycle
from shared.domain.models import Attempt, AttemptOutcome, EventStatus, Integration, IntegrationEvent
from shared.services.inbound import entity_session

ROOT = Path(__file__).resolve().parents[2]
CAPACITY_DOC = ROOT / "docs" / "capacity.md"

# Table Storage's scalability targets (1 KiB entities): per partition and per account.
PARTITION_TARGET = 2_000  # entities per second
ACCOUNT_TARGET = 20_000  # transactions per second; counted here as entities (conservative)
EVEN = 1.5  # the busiest partition or session carries at most this multiple of the mean

SET, ADJUST = "inventory.set", "inventory.adjust"
EVENT_SHARDS = Settings.model_fields["event_partition_shards"].default  # 8
SESSION_SHARDS = Settings.model_fields["entity_ordering_shards"].default  # 16
SESSION_SLOTS = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"][
    "maxConcurrentSessions"
]  # sessions one worker instance holds at once


# --- The storage work of one event: the one table docs/capacity.md quotes -------------
@dataclass(frozen=True)
class Request:
    """One storage round trip: the table it goes to and the entities it touches (an
    entity-group transaction is one request and counts each of its entities)."""

    table: str
    entities: int


# A successful single-line event, end to end. The round trips are the ones
# benchmarks/round_trips.py measures on Azurite (its TARGETS, and the requests it
# records in benchmarks/results/round-trips.json); the entities are what Table
# Storage's per-partition target counts.
ACCEPT = (
    Request("integrations", 1),  # authenticate: the integration's row
    Request("events", 2),  # the event and its due-time check, one transaction
)
IDEMPOTENCY_KEY = Request("idempotency", 1)  # only when the request sends Idempotency-Key
# only on a key's first use in 5 minutes (per process): its last use, merged into the row
KEY_USE = Request("integrations", 1)
READ_EVENT = Request("events", 1)  # the worker reads the event
PER_VERSIONED_RECORD = (
    Request("entityversions", 1),  # the record's newest applied version
    Request("entityversions", 1),  # advanced to this event
)
PER_CLAIMED_RECORD = (  # under per-record ordering (orderingScope "entity")
    Request("entityversions", 1),  # the record's version row
    Request("entityversions", 1),  # claimed before the platform call
    Request("entityversions", 1),  # advanced (the claim ends)
)
OUTCOME = Request("events", 3)  # the outcome, its attempt, its check removed: one transaction


def event_work(
    action: str,
    records: int = 1,
    *,
    idempotency_key: bool = False,
    per_record: bool = False,
    key_use: bool = False,
) -> tuple[list[Request], list[Request]]:
    """The requests of accepting and of processing one successful event."""
    accept = [
        *ACCEPT[:1],
        *([KEY_USE] if key_use else []),
        *ACCEPT[1:],
        *([IDEMPOTENCY_KEY] if idempotency_key else []),
    ]
    per_key = PER_CLAIMED_RECORD if per_record else PER_VERSIONED_RECORD
    versions = list(per_key) * records if ACTIONS[action].semantics.versioned else []
    return accept, [READ_EVENT, *versions, OUTCOME]


def entities(requests: Iterable[Request], table: str | None = None) -> int:
    return sum(r.entities for r in requests if table is None or r.table == table)


# --- The table agrees with the code and with the document ----------------------------
def test_every_round_trip_target_is_met_on_paper() -> None:
    for action, target in TARGETS.items():
        accept, process = event_work(action)
        assert len(accept) + len(process) <= target, action
    accept, process = event_work(SET)
    assert len(accept) + len(process) == TARGETS[SET]


def table_of(request: str) -> str:
    """The table a recorded request went to. A `$batch` (a transaction) names its table
    after the path; one recorded without it is an events transaction."""
    method_path_table = request.split()
    resource = method_path_table[1].split("/")[2]
    if resource == "$batch":
        return method_path_table[2] if len(method_path_table) > 2 else "events"
    return resource.split("(")[0]


def test_the_table_is_what_the_round_trip_benchmark_measured() -> None:
    measured = json.loads(RESULTS.read_text())["actions"]
    assert set(TARGETS) <= set(measured)
    for name, figures in measured.items():
        base, _, variant = name.partition(" (")
        document = DOCUMENTS.get(name) or DOCUMENTS[base]
        action = ACTIONS[document["action"]]
        keys = set(action.entity_keys(action.parse(document["data"]), document.get("entityId")))
        accept, process = event_work(
            action.name,
            len(keys),
            per_record=variant.startswith("entity ordering"),
            key_use=variant.startswith("a key's first use"),
        )
        for mine, recorded in ((accept, "accept"), (process, "process")):
            tables = [table_of(request) for request in figures["requests"][recorded]]
            assert [request.table for request in mine] == tables, (name, recorded)


class RecordingTable:
    """Stands in for a table client: counts reads and writes, sizes transactions."""

    def __init__(self) -> None:
        self.transactions: list[int] = []
        self.reads = 0
        self.writes = 0

    async def submit_transaction(self, operations: Iterable[Any]) -> list[dict[str, str]]:
        done = list(operations)
        self.transactions.append(len(done))
        return [{"etag": f'W/"{len(self.transactions)}"'} for _ in done]

    async def get_entity(self, partition: str, row: str) -> dict[str, Any]:
        self.reads += 1
        return VersionRow(version="0000000000000~0")

    async def create_entity(self, entity: dict[str, Any]) -> dict[str, str]:
        self.writes += 1
        return {"etag": 'W/"2"'}

    async def update_entity(self, entity: dict[str, Any], **_: Any) -> dict[str, str]:
        return await self.create_entity(entity)


class VersionRow(dict[str, Any]):
    """A stored version row as the SDK returns it: its properties and metadata."""

    metadata: ClassVar[dict[str, str]] = {"etag": 'W/"1"'}


@dataclass
class RecordingStorage:
    recorded: RecordingTable = field(default_factory=RecordingTable)

    def table(self, name: str) -> RecordingTable:
        return self.recorded

    async def ensure_created(self) -> None:
        return None


async def test_the_entities_are_what_the_stores_write() -> None:
    storage = RecordingStorage()
    events = TableEventStore(cast(StorageClients, storage))
    now = datetime(2026, 11, 30, tzinfo=UTC)
    event = IntegrationEvent(
        id=event_id(int(now.timestamp() * 1000), random.Random(7)),
        integration_id="int_0123456789abcdef",
        action=SET,
        entity_id=None,
        status=EventStatus.QUEUED,
        created_at=now,
        updated_at=now,
        session_id="int_0123456789abcdef",
        max_attempts=8,
        payload=DOCUMENTS[SET],
        check_at=now + timedelta(seconds=120),
    )
    await events.add(event, EVENT_SHARDS)
    lifecycle.start_attempt(event, now, timedelta(minutes=10))
    lifecycle.succeed(event, {}, now)
    await events.save(
        event, EVENT_SHARDS, Attempt(event.id, 1, now, now, AttemptOutcome.SUCCESS, None, [])
    )
    assert storage.recorded.transactions == [ACCEPT[1].entities, OUTCOME.entities]

    # A record with a stored version: one read before the platform call, one
    # conditional write after it.
    versions = RecordingStorage()
    store = TableEntityVersionStore(cast(StorageClients, versions))
    seen = await store.get(event.integration_id, "inventory:CHAIR-UNO-BLK@wh-01")
    await store.advance(event.integration_id, "inventory:CHAIR-UNO-BLK@wh-01", "1~x", seen)
    assert (versions.recorded.reads, versions.recorded.writes) == (1, 1)
    assert [r.entities for r in PER_VERSIONED_RECORD] == [1, 1]


# The rows of docs/capacity.md's per-event table: accept (requests, entities), process
# (requests, entities), total (requests, entities).
DOCUMENTED_ROWS = {
    "`inventory.set`": event_work(SET),
    "`inventory.set`, per-record ordering": event_work(SET, per_record=True),
    "`inventory.adjust`": event_work(ADJUST),
}


def test_the_document_quotes_the_table() -> None:
    lines = CAPACITY_DOC.read_text().splitlines()
    for label, (accept, process) in DOCUMENTED_ROWS.items():
        row = next(line for line in lines if line.startswith(f"| {label} |"))
        figures = [int(cell) for cell in row.strip(" |").split("|")[1:7]]
        assert figures == [
            len(accept),
            entities(accept),
            len(process),
            entities(process),
            len(accept) + len(process),
            entities(accept + process),
        ], row


# --- A stated load, spread as the code spreads it -------------------------------------
def event_id(ms: int, rng: random.Random) -> str:
    """A UUIDv7 as `shared.domain.clock.new_event_id` makes it, from a seeded generator."""
    value = (ms << 80) | rng.getrandbits(76)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0b11 << 62)) | (0b10 << 62)
    return str(uuid.UUID(int=value))


@cache
def shard_shares(shards: int, sample: int = 4_000) -> tuple[float, ...]:
    """The share of events each shard of an integration receives: `shard_of` over a
    sample of event ids, one per millisecond as a busy integration makes them."""
    rng = random.Random(20261130)
    counts = Counter(shard_of(event_id(1_796_000_000_000 + n, rng), shards) for n in range(sample))
    return tuple(counts[shard] / sample for shard in range(shards))


def test_event_ids_spread_evenly_over_their_shards() -> None:
    shares = shard_shares(EVENT_SHARDS)
    assert len(shares) == EVENT_SHARDS
    assert max(shares) <= EVEN / EVENT_SHARDS
    rng = random.Random(1)
    for n in range(20):  # the partition an event is written to is the one counted here
        event = event_id(1_796_000_000_000 + n, rng)
        expected = partition_key("int_0123456789abcdef", shard_of(event, EVENT_SHARDS))
        assert event_keys("int_0123456789abcdef", event, EVENT_SHARDS)[0] == expected


@dataclass(frozen=True)
class Load:
    events_per_second: int
    integrations: int  # sharing the load equally, each with orderingScope "entity"
    skus: int  # per integration, each as likely as the next
    set_share: float  # single-line inventory.set; the rest single-line inventory.adjust
    idempotency_share: float  # requests that send an Idempotency-Key
    session_shards: tuple[int, ...] = (SESSION_SHARDS,)

    @property
    def per_integration(self) -> float:
        return self.events_per_second / self.integrations


@dataclass
class Spread:
    """Entities per second per (table, partition); messages per second per session."""

    partitions: dict[tuple[str, str], float]
    sessions: dict[int, dict[str, float]]  # by shard count

    def rates(self, table: str) -> list[float]:
        return [rate for (name, _), rate in self.partitions.items() if name == table]


def spread(load: Load) -> Spread:
    """The load's rate on every partition and session it touches."""
    partitions: defaultdict[tuple[str, str], float] = defaultdict(float)
    sessions = {shards: defaultdict[str, float](float) for shards in load.session_shards}
    for n in range(load.integrations):
        integration = an_integration(n)
        where = {
            "integrations": integration_row(integration)["PartitionKey"],
            "idempotency": integration.id,  # TableIdempotencyStore: PartitionKey = integration
        }
        # Requests not tied to a record: by action and header, at their share of the rate.
        for name, share in ((SET, load.set_share), (ADJUST, 1 - load.set_share)):
            for header, header_share in (
                (True, load.idempotency_share),
                (False, 1 - load.idempotency_share),
            ):
                rate = load.per_integration * share * header_share
                accept, process = event_work(name, idempotency_key=header, per_record=True)
                for request in accept + process:
                    if request.table in where:
                        partitions[request.table, where[request.table]] += rate * request.entities
                shares = shard_shares(integration.partition_shards)
                for shard, fraction in enumerate(shares):
                    events = ("events", partition_key(integration.id, shard))
                    partitions[events] += rate * fraction * entities(accept + process, "events")
        # Requests tied to a record: each SKU takes its share of the rate.
        per_sku = load.per_integration / load.skus
        versioned = entities(event_work(SET, per_record=True)[1], "entityversions")
        for sku in range(load.skus):
            data = SimpleNamespace(items=[SimpleNamespace(sku=f"SKU-{sku:05d}", warehouseId=None)])
            for key in ACTIONS[SET].entity_keys(data, None):
                partition = version_partition(integration.id, key)
                partitions["entityversions", partition] += per_sku * load.set_share * versioned
            ordering = ACTIONS[SET].ordering_key(data, None)  # inventory.adjust's too
            for shards, counts in sessions.items():
                counts[entity_session(integration.id, ordering, shards)] += per_sku
    return Spread(dict(partitions), {shards: dict(rates) for shards, rates in sessions.items()})


def an_integration(n: int) -> Integration:
    return Integration(
        id=f"int_{n:016x}",
        name=f"ERP {n}",
        service="custom",
        enabled=True,
        key_hash="",
        key_hint="",
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
        updated_at=datetime(2026, 11, 30, tzinfo=UTC),
        partition_shards=EVENT_SHARDS,
    )


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


# One event after another on one session: docs/capacity.md's latency budget (planning
# assumptions, not documented targets): the platform answers in 50 ms, a storage round
# trip takes 10 ms, settling the message and receiving the next takes 10 ms.
PLATFORM_SECONDS, STORAGE_SECONDS, SETTLE_SECONDS = 0.050, 0.010, 0.010
SESSION_RATE = 1 / (
    PLATFORM_SECONDS + len(event_work(SET, per_record=True)[1]) * STORAGE_SECONDS + SETTLE_SECONDS
)  # ~9 events/s
RECOMMENDED_SHARDS = 256  # docs/capacity.md: ENTITY_ORDERING_SHARDS for 1,000 events/s

ONE_INTEGRATION = Load(
    events_per_second=1_000,
    integrations=1,
    skus=10_000,
    set_share=0.5,
    idempotency_share=1.0,
    session_shards=(SESSION_SHARDS, RECOMMENDED_SHARDS),
)
TWENTY_INTEGRATIONS = Load(
    events_per_second=10_000,
    integrations=20,
    skus=1_000,
    set_share=0.5,
    idempotency_share=1.0,
)
LOADS = {"one integration": ONE_INTEGRATION, "twenty integrations": TWENTY_INTEGRATIONS}


@cache
def spread_of(case: str) -> Spread:
    return spread(LOADS[case])


@pytest.mark.parametrize("case", LOADS)
def test_every_partition_stays_under_its_target(case: str) -> None:
    load, result = LOADS[case], spread_of(case)
    busiest = max(result.partitions, key=result.partitions.__getitem__)
    assert result.partitions[busiest] < PARTITION_TARGET, busiest
    # An integration's row and its Idempotency-Key partition take each of its requests.
    for table in ("integrations", "idempotency"):
        assert result.rates(table) == pytest.approx([load.per_integration] * load.integrations)
    # Events: 6 entities an event over the integration's 8 shards, spread evenly.
    events = result.rates("events")
    assert len(events) == load.integrations * EVENT_SHARDS
    assert mean(events) == pytest.approx(load.per_integration * 6 / EVENT_SHARDS)
    assert max(events) <= EVEN * mean(events)
    # Versions: 3 entities a versioned record (per-record ordering) over 16 partitions.
    versions = result.rates("entityversions")
    assert len(versions) == load.integrations * 16
    assert mean(versions) == pytest.approx(load.per_integration * load.set_share * 3 / 16)
    assert max(versions) <= EVEN * mean(versions)


def test_one_integrations_ceilings_are_its_own_partitions() -> None:
    """docs/capacity.md's ceilings for one integration (single-line inventory.set, an
    Idempotency-Key on every request): its row and its Idempotency-Key partition at
    2,000 requests/s, its events partitions at 2,667 events/s."""
    accept, process = event_work(SET, idempotency_key=True, per_record=True)
    work = accept + process
    assert PARTITION_TARGET / entities(work, "integrations") == 2_000
    assert PARTITION_TARGET / entities(work, "idempotency") == 2_000
    assert PARTITION_TARGET * EVENT_SHARDS / entities(work, "events") == pytest.approx(2_667, 1)
    assert PARTITION_TARGET * 16 / entities(work, "entityversions") == pytest.approx(10_667, 1)


def test_the_account_takes_what_the_document_says() -> None:
    # Per-record ordering, an Idempotency-Key on every request: inventory.set 11
    # entities, inventory.adjust 8; half and half, 9.5 an event.
    one = sum(spread_of("one integration").partitions.values())
    twenty = sum(spread_of("twenty integrations").partitions.values())
    assert one == pytest.approx(9_500)
    assert twenty == pytest.approx(95_000)
    assert math.ceil(one / ACCOUNT_TARGET) == 1
    assert math.ceil(twenty / ACCOUNT_TARGET) == 5


@pytest.mark.parametrize("case", LOADS)
def test_sessions_share_the_load_evenly(case: str) -> None:
    load = LOADS[case]
    sessions = spread_of(case).sessions[SESSION_SHARDS]
    assert len(sessions) == load.integrations * SESSION_SHARDS
    assert sum(sessions.values()) == pytest.approx(load.events_per_second)
    assert max(sessions.values()) <= EVEN * mean(sessions.values())


def test_one_integration_at_a_thousand_needs_more_session_shards() -> None:
    """A session is sequential (~9 events/s on docs/capacity.md's budget): the default
    16 shards carry about 145 events/s for one integration; 256 carry 1,000 with room,
    on 16 worker instances' session slots."""
    assert round(SESSION_RATE, 1) == 9.1
    assert round(SESSION_SHARDS * SESSION_RATE) == 145
    result = spread_of("one integration")
    default = result.sessions[SESSION_SHARDS]
    assert min(default.values()) > SESSION_RATE
    recommended = result.sessions[RECOMMENDED_SHARDS]
    assert len(recommended) == RECOMMENDED_SHARDS
    assert max(recommended.values()) <= SESSION_RATE
    assert math.ceil(RECOMMENDED_SHARDS / SESSION_SLOTS) == 16
