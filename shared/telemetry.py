"""Traces, metrics and structured logs, through the OpenTelemetry API.

Without a configured SDK every call here is a no-op; `observability.setup_telemetry`
sends them to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set.
The trace context travels from the inbound request, inside the queue message's
application properties (`traceparent`), to the worker and on to the platform call's
headers: one event is one trace.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.models import IntegrationEvent

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


def event_attributes(event: IntegrationEvent) -> dict[str, str]:
    return {
        "integration.id": event.integration_id,
        "event.id": event.id,
        "event.action": event.action,
        "event.status": event.status.value,
    }


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
