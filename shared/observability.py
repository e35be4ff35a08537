"""Telemetry: OpenTelemetry to Application Insights when it is configured."""

from __future__ import annotations

import logging

from shared.config import Settings


def setup_telemetry() -> None:
    """Send traces, metrics and logs to Application Insights if its connection string is
    set; otherwise plain logging. The exporter is imported only then: it is heavy, and a
    cold start without it is faster."""
    logging.getLogger("azure").setLevel(logging.WARNING)
    connection_string = Settings().appinsights_connection_string
    if not connection_string:
        return
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(connection_string=connection_string, logger_name="integrations")
