"""What reaches Application Insights: a share of events traced whole, every failure, and
each of the product's log lines once.

No test here installs a global tracer provider (tests/unit/test_telemetry.py owns the
process's one): spans go through a provider of the test's own, put in place of the
module's tracer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from azure.monitor.opentelemetry.exporter import ApplicationInsightsSampler
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from shared import telemetry
from shared.config import Settings
from shared.domain.models import ErrorKind, EventStatus, LastError
from shared.observability import PRODUCT_LOGGER, setup_telemetry
from shared.telemetry import FAILED_BEFORE, SAMPLE_RATE, FailureAwareSampler
from tests.unit.fakes import World, make_event, unit_settings

STOCK = {
    "action": "inventory.set",
    "data": {"items": [{"sku": "T-1", "quantity": 1, "warehouseId": "w"}]},
}
CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000"


def sampler(ratio: float) -> FailureAwareSampler:
    return FailureAwareSampler(ApplicationInsightsSampler(ratio))


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The product's spans, sampled as in Azure at ratio 0: only what is always kept."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler(0.0))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(telemetry, "tracer", provider.get_tracer("integrations"))
    yield memory
    provider.shutdown()


# --- the sampler -------------------------------------------------------------------------


def test_a_span_of_a_failed_event_is_kept_at_ratio_zero_and_counts_once() -> None:
    decision = sampler(0.0).should_sample(None, 7, "event failed", None, {FAILED_BEFORE: "x"})
    assert decision.decision is Decision.RECORD_AND_SAMPLE
    assert decision.attributes[SAMPLE_RATE] == 100.0  # stands for itself, not for 1/ratio


def test_other_spans_follow_the_ratio_by_trace_id() -> None:
    assert sampler(0.0).should_sample(None, 7, "s").decision is Decision.DROP
    kept = sampler(1.0).should_sample(None, 7, "s")
    assert kept.decision is Decision.RECORD_AND_SAMPLE and kept.attributes[SAMPLE_RATE] == 100.0
    half = sampler(0.5)
    trace_ids = [0x5F3A91C2 * n for n in range(1, 401)]
    sampled = 0
    for trace_id in trace_ids:
        decisions = {half.should_sample(None, trace_id, name).decision for name in "abc"}
        assert len(decisions) == 1, "every root span of a trace gets the same decision"
        sampled += decisions == {Decision.RECORD_AND_SAMPLE}
    assert 120 < sampled < 280


def test_a_remote_parent_does_not_decide() -> None:
    # The queue message's traceparent says sampled; at ratio 0 the trace id still decides.
    remote = SpanContext(7, 8, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    parent = set_span_in_context(NonRecordingSpan(remote))
    assert sampler(0.0).should_sample(parent, 7, "process event").decision is Decision.DROP


def test_the_sampler_describes_its_ratio() -> None:
    assert "0.25" in sampler(0.25).get_description()


# --- the product's spans, end to end through the core ------------------------------------


async def test_a_failed_attempt_and_its_retry_are_exported_at_ratio_zero(
    exported: InMemorySpanExporter,
) -> None:
    world = World()
    _, key = await world.integration()
    event_id = await world.push(key, STOCK)
    world.platform.answer(503, {"error": "down"})
    await world.deliver()
    first = exported.get_finished_spans()
    # The accepting request and the first attempt were not kept; the failure was.
    assert [span.name for span in first] == ["event failed"]
    [failure] = first
    assert failure.attributes is not None
    assert failure.attributes["event.id"] == event_id
    assert failure.attributes[FAILED_BEFORE] == "transient"
    assert failure.attributes["http.response.status_code"] == 503
    assert not failure.status.is_ok

    exported.clear()
    next_retry = world.event(event_id).next_retry_at
    assert next_retry is not None
    world.clock.current = next_retry
    await world.recovery.run_once()
    world.platform.answer(200, {"items": []})
    await world.deliver()
    # The retry of a failed event is traced whole: the attempt and its platform call.
    names = {span.name for span in exported.get_finished_spans()}
    assert {"process event", "platform setInventoryLevels"} <= names
    assert world.event(event_id).status is EventStatus.SUCCESS


async def test_a_span_under_a_kept_span_is_kept(exported: InMemorySpanExporter) -> None:
    world = World()
    integration, _ = await world.integration()
    event = make_event(integration, world.clock, status=EventStatus.QUEUED)
    event.last_error = LastError(ErrorKind.TRANSIENT, "platform down", 503)
    # The inner one stands for an Azure SDK call's span, which carries no event attributes.
    with (
        telemetry.span("process event", event),
        telemetry.tracer.start_as_current_span("table get"),
    ):
        pass
    assert {span.name for span in exported.get_finished_spans()} == {"process event", "table get"}


async def test_a_success_at_ratio_zero_exports_no_span(exported: InMemorySpanExporter) -> None:
    world = World()
    _, key = await world.integration()
    await world.push(key, STOCK)
    world.platform.answer(200, {"items": []})
    await world.deliver()
    assert exported.get_finished_spans() == ()


# --- configuring the distro ----------------------------------------------------------------


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def product_logger() -> Iterator[logging.Logger]:
    """The `integrations` logger, put back as it was afterwards."""
    logger = logging.getLogger(PRODUCT_LOGGER)
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    logger.setLevel(logging.INFO)
    yield logger
    logger.handlers[:] = handlers
    logger.propagate, logger.level = propagate, level


def configured(ratio: str = "0.1") -> tuple[dict[str, Any], TracerProvider, Recorder]:
    """Run setup_telemetry with a stand-in for configure_azure_monitor that does what the
    distro does to logging: one exporting handler on the logger it is given."""
    options: dict[str, Any] = {}
    exporter = Recorder()

    def configure(**kwargs: Any) -> None:
        options.update(kwargs)
        logging.getLogger(kwargs["logger_name"]).addHandler(exporter)

    provider = TracerProvider()
    settings = unit_settings(
        APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION, TELEMETRY_SAMPLING_RATIO=ratio
    )
    setup_telemetry(settings, configure=configure, tracer_provider=provider)
    return options, provider, exporter


def test_the_sampling_ratio_reaches_the_distro_and_the_sampler(
    product_logger: logging.Logger,
) -> None:
    options, provider, _ = configured("0.25")
    assert options["sampling_ratio"] == 0.25
    assert options["connection_string"] == CONNECTION
    assert options["logger_name"] == PRODUCT_LOGGER
    assert isinstance(provider.sampler, FailureAwareSampler)
    assert "0.25" in provider.sampler.get_description()


def test_libraries_the_product_traces_itself_are_not_instrumented_again(
    product_logger: logging.Logger,
) -> None:
    options, _, _ = configured()
    instrumentations = options["instrumentation_options"]
    assert instrumentations["httpx"] == {"enabled": False}  # the `platform ...` span
    assert "azure_sdk" not in instrumentations  # storage and Service Bus stay traced


def test_the_default_ratio_is_a_tenth() -> None:
    assert Settings.model_fields["telemetry_sampling_ratio"].default == 0.1
    with pytest.raises(ValueError):
        unit_settings(TELEMETRY_SAMPLING_RATIO="1.5")


def test_each_product_line_leaves_through_one_handler_only(
    product_logger: logging.Logger,
) -> None:
    host = Recorder()  # the Python worker's root handler, which forwards to the host
    root = logging.getLogger()
    root.addHandler(host)
    try:
        _, _, exporter = configured()
        logging.getLogger("integrations.worker").warning("attempt failed")
    finally:
        root.removeHandler(host)
    assert exporter.lines == ["attempt failed"]
    assert host.lines == []


def test_info_lines_follow_their_trace_and_warnings_always_pass(
    product_logger: logging.Logger,
) -> None:
    _, _, exporter = configured()
    provider = TracerProvider(sampler=sampler(0.0))
    log = logging.getLogger("integrations.events")
    with provider.get_tracer("t").start_as_current_span("process event"):  # not kept
        log.info("attempt finished: success")
        log.warning("attempt finished: failed")
    log.info("timer run done")  # outside any trace
    assert exporter.lines == ["attempt finished: failed", "timer run done"]


def test_without_a_connection_string_nothing_is_configured(
    product_logger: logging.Logger,
) -> None:
    called: list[dict[str, Any]] = []
    settings = unit_settings(APPLICATIONINSIGHTS_CONNECTION_STRING="")
    setup_telemetry(settings, configure=lambda **kw: called.append(kw))
    assert called == [] and product_logger.propagate
