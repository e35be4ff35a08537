"""Traces, metrics and structured logs, through the OpenTelemetry API.

Without a configured SDK every call here is a no-op; `observability.setup_telemetry`
sends them to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set.
The trace context travels from the inbound request, inside the queue message's
application properties (`traceparent`), to the worker and on to the platform call's
headers: one event is one trace.

What is exported when only a share of traces is kept (`FailureAwareSampler`,
TELEMETRY_SAMPLING_RATIO): a kept event's whole trace, and always every span of an
event that has failed (each span carries `event.last_error.kind` from then on: its
retries, a person's resubmission) and the `event failed` span each failure records.
Metrics are never sampled, so the counters below are exact. A log line is kept when it
is a warning or worse, or when its trace is kept (`kept_with_its_trace`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes, AttributeValue

from shared.domain.models import IntegrationEvent

tracer = trace.get_tracer("integrations")
meter = metrics.get_meter("integrations")
log = logging.getLogger("integrations.events")

ACCEPTED = meter.create_counter("integrations.events.accepted", description="Events accepted")
SUCCEEDED = meter.create_counter("integrations.events.succeeded", description="Events applied")
FAILED = meter.create_counter("integrations.events.failed", description="Failed attempts")
RETRIED = meter.create_counter("integrations.events.retried", description="Re-enqueued by timer")
DEAD_LETTERED = meter.create_counter(
    "integrations.events.dead_lettered", description="Events given up on"
)
LATENCY = meter.create_histogram(
    "integrations.events.processing_latency",
    unit="ms",
    description="From acceptance to outcome",
)


# On every span of an event that has failed at least once: such spans are always kept.
FAILED_BEFORE = "event.last_error.kind"
# Application Insights' share (in percent) of items an exported item stands for: a span
# kept because of a failure stands for itself, not for 1/ratio spans.
SAMPLE_RATE = "_MS.sampleRate"


def event_attributes(event: IntegrationEvent) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "integration.id": event.integration_id,
        "event.id": event.id,
        "event.action": event.action,
        "event.status": event.status.value,
    }
    if event.last_error is not None:
        attributes[FAILED_BEFORE] = event.last_error.kind
    if event.dead_lettered:
        attributes["event.dead_lettered"] = True
    return attributes


def log_event(message: str, event: IntegrationEvent, level: int = logging.INFO) -> None:
    """A structured log line: the dimensions travel as `extra`, so Application Insights
    stores them as custom properties operators can query."""
    fields = {"integrationId": event.integration_id, "eventId": event.id}
    fields |= {"action": event.action, "status": event.status.value}
    log.log(
        level,
        "%s: event %s (%s) is %s",
        message,
        event.id,
        event.action,
        event.status,
        extra=fields,
    )


def current_trace_headers() -> dict[str, str]:
    """The active trace context as W3C headers (`traceparent`, `tracestate`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def span(
    name: str,
    event: IntegrationEvent | None = None,
    parent_headers: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[Span]:
    """A span, optionally continuing the trace carried in `parent_headers`."""
    context = propagate.extract(dict(parent_headers)) if parent_headers else None
    attributes = event_attributes(event) if event else {}
    with tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes) as s:
        try:
            yield s
        except Exception as exc:
            s.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def record_outcome(event: IntegrationEvent, latency_ms: float) -> None:
    """Count the event's outcome, with its integration and action as dimensions."""
    dims = {"integration.id": event.integration_id, "event.action": event.action}
    if event.status.value == "success":
        SUCCEEDED.add(1, dims)
        LATENCY.record(latency_ms, dims)
    elif event.status.value == "failed":
        FAILED.add(1, dims | {"error.kind": event.last_error.kind if event.last_error else ""})
        if event.dead_lettered:
            DEAD_LETTERED.add(1, dims)
        _record_failure(event)


def _record_failure(event: IntegrationEvent) -> None:
    """A span for the failure itself, in the event's trace, kept whatever the ratio: the
    attempt's own spans started before anyone knew it would fail."""
    attributes = event_attributes(event)
    error = event.last_error
    if error is not None and error.http_status is not None:
        attributes["http.response.status_code"] = error.http_status
    with tracer.start_as_current_span("event failed", attributes=attributes) as failure:
        failure.set_status(Status(StatusCode.ERROR, error.kind if error else "failed"))


class FailureAwareSampler(Sampler):
    """Keeps what `ratio` keeps (whole traces: it decides by trace id), and always the
    spans of an event that has failed (`FAILED_BEFORE`) and the spans under a kept one.

    Example::

        FailureAwareSampler(ApplicationInsightsSampler(0.1))
    """

    def __init__(self, ratio: Sampler) -> None:
        self._ratio = ratio

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context)
        context = parent.get_span_context()
        if attributes and FAILED_BEFORE in attributes:
            return _keep(attributes, 100.0, context)
        # Only a parent in this process: a remote `traceparent` (the queue message's)
        # must not decide, the trace id does, the same way in every process.
        if context.is_valid and not context.is_remote and context.trace_flags.sampled:
            inherited = (getattr(parent, "attributes", None) or {}).get(SAMPLE_RATE, 100.0)
            return _keep(attributes, float(inherited), context)
        return self._ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"FailureAwareSampler{{{self._ratio.get_description()}}}"


def _keep(attributes: Attributes, rate: float, parent: trace.SpanContext) -> SamplingResult:
    kept = dict(attributes or {}) | {SAMPLE_RATE: rate}
    return SamplingResult(
        Decision.RECORD_AND_SAMPLE, kept, parent.trace_state if parent.is_valid else None
    )


def kept_with_its_trace(record: logging.LogRecord) -> bool:
    """Log filter for the exporter: warnings and worse always pass, a line inside a trace
    passes when that trace is kept, a line outside any trace passes."""
    if record.levelno >= logging.WARNING:
        return True
    context = trace.get_current_span().get_span_context()
    return not context.is_valid or context.trace_flags.sampled
