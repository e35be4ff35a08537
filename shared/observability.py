"""Telemetry: OpenTelemetry to Application Insights when it is configured."""

from __future__ import annotations

import logging
import os


def setup_telemetry() -> None:
    """Send traces, metrics and logs to Application Insights if its connection string is
    set; otherwise plain logging. Imported lazily: the exporter is not needed locally."""
    logging.getLogger("azure").setLevel(logging.WARNING)
    if not os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
    except ImportError:
        logging.getLogger("integrations").warning(
            "APPLICATIONINSIGHTS_CONNECTION_STRING is set but azure-monitor-opentelemetry "
            "is not installed; telemetry is off."
        )
        return
    configure_azure_monitor(logger_name="integrations")
