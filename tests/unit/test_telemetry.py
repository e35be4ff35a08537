"""One event is one trace: the accepting request's context travels in the queue
message (and on the event, for retries) to the worker and the platform call."""

from __future__ import annotations

import json

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actions.base import PlatformCall
from shared.adapters.platform_http import HttpPlatformClient
from shared.telemetry import span
from tests.unit.fakes import World

STOCK = {
    "action": "inventory.set",
    "data": {"items": [{"sku": "T-1", "quantity": 1, "warehouseId": "w"}]},
}


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)  # once per process; no other test sets one
    return memory


async def test_accept_worker_and_platform_call_share_one_trace(
    exporter: InMemorySpanExporter,
) -> None:
    exporter.clear()
    world = World()
    world.platform.answer(200, {"items": []})
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    [message] = world.bus.sent
    assert message.properties["traceparent"]
    # the worker is handed the body and the message's application properties
    await world.worker.handle(json.dumps(message.body).encode(), message.properties)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    accept, process = spans["inbound accept"], spans["process event"]
    platform = spans["platform setInventoryLevels"]
    assert accept.context.trace_id == process.context.trace_id == platform.context.trace_id
    assert platform.parent is not None and platform.parent.span_id == process.context.span_id
    assert process.attributes is not None and process.attributes["event.id"] == event_id
    trace_id = f"{accept.context.trace_id:032x}"
    assert trace_id in message.properties["traceparent"]
    assert world.event(event_id).trace_context == {"traceparent": message.properties["traceparent"]}


async def test_a_retry_continues_the_events_trace_without_message_properties(
    exporter: InMemorySpanExporter,
) -> None:
    exporter.clear()
    world = World()
    world.platform.answer(200, {"items": []})
    _, key = await world.integration()
    await world.push(key, STOCK)
    [message] = world.bus.sent
    await world.worker.handle(json.dumps(message.body).encode())  # no properties at all
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["inbound accept"].context.trace_id == spans["process event"].context.trace_id


async def test_the_platform_request_carries_the_trace_headers(
    exporter: InMemorySpanExporter,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": []})

    client = HttpPlatformClient("http://platform", None, 5, transport=httpx.MockTransport(handler))
    with span("test parent") as parent:
        await client.call(PlatformCall("setPrices", {"items": []}), "key-1")
    await client.close()
    trace_id = f"{parent.get_span_context().trace_id:032x}"
    assert trace_id in seen[0].headers["traceparent"]
    assert seen[0].headers["idempotency-key"] == "key-1"
