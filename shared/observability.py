"""Telemetry: OpenTelemetry to Application Insights when it is configured.

Two pipelines reach Application Insights, and each line travels through one of them:

- the worker's OpenTelemetry (`configure_azure_monitor`, set up here): the product's spans,
  metrics and log lines (loggers under `integrations`), with their fields as custom
  dimensions. These lines stop at the `integrations` logger and are not also passed to the
  Functions host, which would store each a second time without the dimensions;
- the Functions host's Application Insights logging (host.json `logging`): one `requests`
  row per invocation, and the host's and the SDKs' warnings and errors.

host.json `samplingSettings` only governs the host's pipeline; the worker's traces are
sampled here (TELEMETRY_SAMPLING_RATIO, see `telemetry.FailureAwareSampler`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Sampler

PRODUCT_LOGGER = "integrations"

# Instrumentations of configure_azure_monitor that trace nothing of the product's own:
# httpx is the platform client, whose calls the product traces itself (`platform
# <operation>` spans, which also carry the trace headers), so its instrumentation would
# add a second dependency per call; requests, urllib and urllib3 only carry the SDKs'
# token fetches. Azure SDK calls (storage, Service Bus, Key Vault) stay traced, sampled
# with the event they serve.
UNTRACED_LIBRARIES = ("httpx", "requests", "urllib", "urllib3")


def azure_monitor_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of `configure_azure_monitor` for these settings."""
    return {
        "connection_string": settings.appinsights_connection_string,
        "logger_name": PRODUCT_LOGGER,
        "sampling_ratio": settings.telemetry_sampling_ratio,
        "instrumentation_options": {name: {"enabled": False} for name in UNTRACED_LIBRARIES},
    }


def setup_telemetry(
    settings: Settings | None = None,
    *,
    configure: Callable[..., None] | None = None,
    tracer_provider: TracerProvider | None = None,
) -> None:
    """Send traces, metrics and logs to Application Insights if its connection string is
    set; otherwise plain logging. The exporter is imported only then: it is heavy, and a
    cold start without it is faster. `configure` and `tracer_provider` stand in for the
    distro and the provider it installs (tests)."""
    logging.getLogger("azure").setLevel(logging.WARNING)
    settings = settings or Settings()
    if not settings.appinsights_connection_string:
        return
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from shared.telemetry import FailureAwareSampler, kept_with_its_trace

    product = logging.getLogger(PRODUCT_LOGGER)
    before = list(product.handlers)
    (configure or _configure_azure_monitor)(**azure_monitor_options(settings))
    provider = tracer_provider or trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        # configure_azure_monitor takes no sampler: it builds the provider with
        # ApplicationInsightsSampler(sampling_ratio), which this wraps before any span
        # starts (tracers read the provider's sampler when they are first asked for).
        provider.sampler = FailureAwareSampler(_ratio_sampler(settings.telemetry_sampling_ratio))
    exporters = [handler for handler in product.handlers if handler not in before]
    for handler in exporters:
        handler.addFilter(kept_with_its_trace)
    if exporters:
        product.propagate = False


def _configure_azure_monitor(**options: Any) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(**options)


def _ratio_sampler(ratio: float) -> Sampler:
    # Application Insights' own ratio sampler (the trace-id hash its SDKs share); it marks
    # each kept span with the share of spans it stands for.
    from azure.monitor.opentelemetry.exporter import ApplicationInsightsSampler

    sampler: Sampler = ApplicationInsightsSampler(ratio)
    return sampler
