"""The flow counts in Table Storage (Azurite): writers' rows sum, a repeated flush
counts nothing twice, and reading a window costs the same few requests however many
events were counted. Each test counts in an hour of its own, far from the others'."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio

from benchmarks.round_trips import HeldMessages
from shared import bootstrap
from shared.adapters.azure_storage import RequestCounter, StorageClients
from shared.adapters.table_flow import TableFlowCounterStore
from shared.adapters.table_integrations import TableIntegrationStore
from shared.api import schemas
from shared.config import Settings
from shared.domain.flow import ALL_INTEGRATIONS, FlowStep, Granularity
from shared.domain.models import Integration, Role
from shared.services.auth import Caller
from shared.services.flow import FlowService
from shared.services.flow_counter import FlowCounter
from shared.services.inbound import InboundRequest

pytestmark = pytest.mark.azurite


class Stack:
    def __init__(self, storage: StorageClients, requests: RequestCounter) -> None:
        self.storage, self.requests = storage, requests
        self.store = TableFlowCounterStore(storage)
        self.integrations = TableIntegrationStore(storage)
        # An hour of this test's own, so "all integrations" holds only its counts.
        # (within the years a request may name: before 2100)
        self.hour = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(hours=secrets.randbelow(10**5))
        self.now = self.hour + timedelta(minutes=59)
        self.flow = FlowService(self.integrations, self.store, lambda: self.now)

    def counter(self, writer: str) -> FlowCounter:
        return FlowCounter(self.store, 10, lambda: self.now, lambda: 0.0, writer=writer)

    async def integration(self) -> str:
        integration = Integration(
            id="int_" + secrets.token_hex(8),
            name="Flow",
            service="custom",
            enabled=True,
            key_hash=secrets.token_hex(32),
            key_hint="…",
            created_at=self.hour,
            updated_at=self.hour,
        )
        await self.integrations.add(integration)
        return integration.id

    async def chart(self, integration_id: str | None) -> dict[str, object]:
        window = {"from": self.hour.isoformat(), "to": (self.hour + timedelta(hours=1)).isoformat()}
        chart = await self.flow.flow({"integrationId": integration_id, **window})
        return schemas.FlowChart.of(chart).to_json()


@pytest_asyncio.fixture
async def stack(azurite: str) -> AsyncIterator[Stack]:
    requests = RequestCounter()
    storage = StorageClients(Settings.model_validate({"AzureWebJobsStorage": azurite}), requests)
    yield Stack(storage, requests)
    await storage.close()


def totals(chart: dict[str, object]) -> dict[str, int]:
    counts = chart["totals"]
    assert isinstance(counts, dict)
    return {step: n for step, n in counts.items() if n}


async def test_the_rows_of_two_writers_sum_per_bucket(stack: Stack) -> None:
    integration_id = await stack.integration()
    one, other = stack.counter("writer1"), stack.counter("writer2")
    for minute in (1, 1, 2):
        one.tally(integration_id, FlowStep.RECEIVED, stack.hour + timedelta(minutes=minute))
    other.tally(integration_id, FlowStep.RECEIVED, stack.hour + timedelta(minutes=1))
    other.tally(integration_id, FlowStep.SUCCEEDED, stack.hour + timedelta(minutes=2))
    await one.flush()
    await other.flush()

    chart = await stack.chart(integration_id)
    assert chart["granularity"] == "minute"
    buckets = chart["buckets"]
    assert isinstance(buckets, list)
    assert [b["counts"]["received"] for b in buckets[:4]] == [0, 3, 1, 0]
    assert totals(chart) == {"received": 4, "succeeded": 1}
    assert totals(await stack.chart(None)) == {"received": 4, "succeeded": 1}
    hours = await stack.store.read(
        ALL_INTEGRATIONS, Granularity.HOUR, stack.hour, stack.hour + timedelta(hours=1)
    )
    assert sorted(row.writer for row in hours) == ["writer1", "writer2"]
    assert sum(row.counts[FlowStep.RECEIVED] for row in hours) == 4


async def test_a_repeated_flush_counts_nothing_twice(stack: Stack) -> None:
    integration_id = await stack.integration()
    counter = stack.counter("writer1")
    counter.tally(integration_id, FlowStep.FAILED, stack.hour)
    await counter.flush()
    await counter.flush()  # nothing changed: nothing written
    counter.tally(integration_id, FlowStep.FAILED, stack.hour)
    await counter.flush()
    rows = await stack.store.read(
        integration_id, Granularity.MINUTE, stack.hour, stack.hour + timedelta(minutes=1)
    )
    await stack.store.write(rows)  # the same totals again, as a retried flush writes them
    assert totals(await stack.chart(integration_id)) == {"failed": 2}


async def test_a_window_costs_the_same_requests_however_many_events_were_counted(
    stack: Stack,
) -> None:
    integration_id = await stack.integration()
    counter = stack.counter("writer1")

    async def count_and_read(events: int) -> tuple[int, int, dict[str, int]]:
        for i in range(events):
            at = stack.hour + timedelta(seconds=i * 3600 // events)
            counter.tally(integration_id, FlowStep.RECEIVED, at)
        stack.requests.reset()
        await counter.flush()
        flushed = stack.requests.count
        stack.requests.reset()
        chart = await stack.chart(integration_id)
        return flushed, stack.requests.count, totals(chart)

    await stack.storage.ensure_created()
    flush_few, read_few, few = await count_and_read(120)
    flush_many, read_many, many = await count_and_read(1200)
    assert (few, many) == ({"received": 120}, {"received": 1320})
    # one batch per partition: the integration's minutes and hour, and all integrations'
    assert flush_few == flush_many == 4
    # one query: 60 minute rows of one writer
    assert read_few == read_many == 2  # the integration's point read (404 check) and the query


async def test_the_services_count_on_the_real_adapters_and_write_on_shutdown(azurite: str) -> None:
    bus = HeldMessages()
    saved = dict(bootstrap._overrides)
    bootstrap.install_overrides(bus=bus, platform_transport=httpx.MockTransport(platform))
    settings = Settings.model_validate(
        {"AzureWebJobsStorage": azurite, "MANAGEMENT_TOKEN": "flow", "PROCESSING_MARK_SECONDS": 60}
    )
    services = bootstrap.build(settings)
    try:
        created = await services.management.create(
            {"service": "custom", "name": "Flow"}, Caller(Role.ADMIN, "admin")
        )
        key = f"Bearer {created.api_key}"
        for sku in ("CHAIR", "NO-SUCH-SKU"):
            document = {"action": "inventory.set", "data": {"items": [{"sku": sku, "quantity": 1}]}}
            await services.inbound.accept(
                InboundRequest(key, "application/json", json.dumps(document).encode())
            )
            await services.worker.handle(json.dumps(bus.sent[-1].body).encode())
        integration_id = created.integration.id
    finally:
        await services.close()  # writes what was counted
        bootstrap._overrides.clear()
        bootstrap._overrides.update(saved)

    storage = StorageClients(settings)
    try:
        now = datetime.now(UTC)
        flow = FlowService(
            TableIntegrationStore(storage), TableFlowCounterStore(storage), lambda: now
        )
        chart = schemas.FlowChart.of(await flow.flow({"integrationId": integration_id})).to_json()
    finally:
        await storage.close()
    assert totals(chart) == {"received": 2, "succeeded": 1, "failed": 1}


def platform(request: httpx.Request) -> httpx.Response:
    """Applies every SKU but one."""
    body = json.loads(request.content or b"{}")
    if any(item.get("sku") == "NO-SUCH-SKU" for item in body.get("items", [])):
        return httpx.Response(422, json={"message": "SKU 'NO-SUCH-SKU' does not exist"})
    return httpx.Response(200, json={"items": body.get("items", [])})
