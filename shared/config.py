"""Every setting the product reads, in one place.

Settings come from the process environment. In Azure that is the Function App's
application settings; in local runs `local/` loads `local.settings.json` `Values`
first and an environment variable of the same name always wins.

Example::

    settings = Settings()            # reads os.environ
    settings.retry_max_attempts      # RETRY_MAX_ATTEMPTS, default 8
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Typed view of the application settings; the alias is the exact setting name."""

    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # --- Storage (tables for events and integrations, blobs for large payloads) ---
    storage_connection_string: str | None = Field(
        None,
        alias="AzureWebJobsStorage",
        description="Connection string of the storage account. Local runs only (Azurite).",
    )
    storage_account_name: str | None = Field(
        None,
        alias="AzureWebJobsStorage__accountName",
        description="Storage account name; used with the managed identity in Azure.",
    )
    storage_credential_client_id: str | None = Field(
        None,
        alias="AzureWebJobsStorage__clientId",
        description="Client id of the user-assigned identity for storage.",
    )

    # --- Service Bus ---
    servicebus_namespace: str | None = Field(
        None,
        alias="ServiceBusConnection__fullyQualifiedNamespace",
        description="Service Bus namespace host name, e.g. sb-xyz.servicebus.windows.net.",
    )
    servicebus_client_id: str | None = Field(
        None,
        alias="ServiceBusConnection__clientId",
        description="Client id of the user-assigned identity for Service Bus.",
    )
    queue_name: str = Field(
        "integration-inbound",
        alias="SERVICEBUS_QUEUE_NAME",
        description="The session-enabled inbound queue.",
    )
    local_queue_path: str | None = Field(
        None,
        alias="LOCAL_QUEUE_PATH",
        description="Local runs only: the SQLite file of the local session queue.",
    )

    # --- Secrets ---
    key_vault_url: str | None = Field(
        None, alias="KEY_VAULT_URL", description="Key Vault holding API keys (Azure)."
    )
    azure_client_id: str | None = Field(
        None, alias="AZURE_CLIENT_ID", description="Client id of the app's user-assigned identity."
    )
    local_secrets_dir: str = Field(
        ".local/secrets",
        alias="LOCAL_SECRETS_DIR",
        description="Local runs only: folder of the local secret store.",
    )

    # --- Management tokens ---
    management_token: str | None = Field(
        None, alias="MANAGEMENT_TOKEN", description="Admin token for the management routes."
    )
    operator_token: str | None = Field(
        None, alias="OPERATOR_TOKEN", description="Token that may read and resubmit events."
    )
    reader_token: str | None = Field(
        None, alias="READER_TOKEN", description="Token that may only read events."
    )
    entra_auth_enabled: bool = Field(
        False,
        alias="ENTRA_AUTH_ENABLED",
        description="Set when the Function App's built-in authentication (Microsoft Entra "
        "ID) is on: only then are its X-MS-CLIENT-PRINCIPAL headers believed, and a "
        "signed-in person's app role (Integrations.Reader/Operator/Admin) is their role.",
    )

    # --- Platform (downstream) ---
    platform_base_url: str = Field(
        "http://127.0.0.1:7072",
        alias="PLATFORM_BASE_URL",
        description="Base URL of the commerce platform API.",
    )
    platform_api_token: str | None = Field(
        None,
        alias="PLATFORM_API_TOKEN",
        description="Bearer token for the platform API (a Key Vault reference in Azure).",
    )
    platform_timeout_seconds: float = Field(
        15.0, alias="PLATFORM_TIMEOUT_SECONDS", description="Timeout of one platform call."
    )

    platform_max_calls_per_second: float | None = Field(
        None,
        alias="PLATFORM_MAX_CALLS_PER_SECOND",
        description="Pace of platform calls per worker instance; empty = unpaced.",
    )

    circuit_failure_threshold: int = Field(
        5,
        alias="CIRCUIT_FAILURE_THRESHOLD",
        description="Transient platform failures in a row that pause calls to it.",
    )
    circuit_cooldown_seconds: float = Field(
        15.0,
        alias="CIRCUIT_COOLDOWN_SECONDS",
        description="First pause after the threshold; doubles while failures go on.",
    )
    circuit_max_cooldown_seconds: float = Field(
        300.0, alias="CIRCUIT_MAX_COOLDOWN_SECONDS", description="Longest pause."
    )

    # --- Input limits ---
    max_body_bytes: int = Field(
        1_048_576,
        alias="MAX_BODY_BYTES",
        description="Largest inbound body accepted; larger gets 413.",
    )
    inbound_requests_per_second: float = Field(
        100.0,
        alias="INBOUND_REQUESTS_PER_SECOND",
        description="Per integration and instance; more gets 429 with Retry-After (0 = off).",
    )
    max_items_per_event: int = Field(
        1000,
        alias="MAX_ITEMS_PER_EVENT",
        description="Most items (products, prices, stock lines, order lines) in one event.",
    )

    # --- Retries and the timer ---
    retry_max_attempts: int = Field(
        8, alias="RETRY_MAX_ATTEMPTS", description="Attempts before an event waits for a person."
    )
    retry_base_delay_seconds: float = Field(
        30.0,
        alias="RETRY_BASE_DELAY_SECONDS",
        description="First retry delay; doubles each attempt, with full jitter.",
    )
    retry_max_delay_seconds: float = Field(
        3600.0, alias="RETRY_MAX_DELAY_SECONDS", description="Cap on one retry delay."
    )
    retry_overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        alias="RETRY_OVERRIDES",
        description='Per-action JSON, e.g. {"order.create": {"maxAttempts": 12}}.',
    )
    retry_scan_schedule: str = Field(
        "0 */1 * * * *",
        alias="RETRY_SCAN_SCHEDULE",
        description="6-field NCRONTAB schedule of the maintenance timer.",
    )
    processing_lease_seconds: float = Field(
        600.0,
        alias="PROCESSING_LEASE_SECONDS",
        description="An event still processing after this long is recovered by the timer.",
    )
    processing_mark_seconds: float = Field(
        2.0,
        ge=0,
        alias="PROCESSING_MARK_SECONDS",
        description="An attempt still running after this long is shown as processing.",
    )
    enqueue_grace_seconds: float = Field(
        120.0,
        alias="ENQUEUE_GRACE_SECONDS",
        description=(
            "A queued event not picked up after this long is sent again; later checks "
            "come after 2, 4, 8 … (at most 32) times as long."
        ),
    )
    timer_budget_seconds: float = Field(
        45.0, alias="TIMER_BUDGET_SECONDS", description="Time one timer run may spend."
    )
    flow_flush_seconds: float = Field(
        10.0,
        ge=0,
        alias="FLOW_FLUSH_SECONDS",
        description=(
            "How often each instance writes its counts of the events' flow (at the end "
            "of an invocation, once this long has passed); a crash loses at most this long."
        ),
    )
    requeue_per_integration_per_run: int = Field(
        200,
        alias="REQUEUE_PER_INTEGRATION_PER_RUN",
        description="Pacing: most retries one integration gets re-enqueued per timer run.",
    )

    # --- Storage layout ---
    event_partition_shards: int = Field(
        8,
        alias="EVENT_PARTITION_SHARDS",
        description="Partitions per integration for events (each takes ~2,000 writes/s).",
    )
    entity_ordering_shards: int = Field(
        16,
        ge=1,
        le=256,
        alias="ENTITY_ORDERING_SHARDS",
        description="Sessions per integration under orderingScope entity; records hash over them.",
    )
    entity_dependency_wait_seconds: float = Field(
        300.0,
        ge=0,
        alias="ENTITY_DEPENDENCY_WAIT_SECONDS",
        description="Under entity ordering, how long an unknown SKU is awaited before it fails.",
    )
    idempotency_window_hours: float = Field(
        24.0, alias="IDEMPOTENCY_WINDOW_HOURS", description="How long an Idempotency-Key holds."
    )

    # --- Retention (purged by the maintenance timer; see shared/domain/retention.py) ---
    retention_event_days: float = Field(
        30.0,
        gt=0,
        alias="RETENTION_EVENT_DAYS",
        description=(
            "Days a final (success or skipped) event is kept, with its payload, attempts "
            "and communication log; also alert ledger rows and hourly flow counts. "
            "Queued, processing and failed events are kept until they are final."
        ),
    )
    retention_audit_days: float = Field(
        365.0,
        gt=0,
        alias="RETENTION_AUDIT_DAYS",
        description="Days audit entries are kept, with the finished bulk jobs they started.",
    )
    retention_version_days: float = Field(
        365.0,
        gt=0,
        alias="RETENTION_VERSION_DAYS",
        description=(
            "Days a record's newest applied version is remembered after its last change "
            "(the guard that keeps stale retries from winning)."
        ),
    )
    retention_batch: int = Field(
        2000,
        ge=1,
        alias="RETENTION_BATCH",
        description="Most records one timer run purges; the rest waits for the next run.",
    )
    retention_interval_minutes: float = Field(
        60.0,
        ge=0,
        alias="RETENTION_INTERVAL_MINUTES",
        description="Pause between purges once nothing expired is left.",
    )
    retention_budget_seconds: float = Field(
        10.0,
        gt=0,
        alias="RETENTION_BUDGET_SECONDS",
        description="Time one timer run may spend purging, after its other work.",
    )

    # --- Operations ---
    masked_fields: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        alias="MASKED_FIELDS",
        description="Extra field names to mask in logs and payloads (comma-separated).",
    )
    dashboard_url: str | None = Field(
        None, alias="DASHBOARD_URL", description="Public URL of the dashboard, for alert links."
    )
    alert_webhook_url: str | None = Field(
        None, alias="ALERT_WEBHOOK_URL", description="Teams/Slack-compatible webhook for alerts."
    )
    alert_window_minutes: float = Field(
        60.0,
        alias="ALERT_WINDOW_MINUTES",
        description="At most one alert per integration and kind in this window.",
    )
    alert_failure_rate: float = Field(
        0.25,
        alias="ALERT_FAILURE_RATE",
        description="Share of failed attempts in the window that raises an alert.",
    )
    alert_min_attempts: int = Field(
        20,
        alias="ALERT_MIN_ATTEMPTS",
        description="Attempts needed in the window before the failure rate counts.",
    )
    appinsights_connection_string: str | None = Field(
        None,
        alias="APPLICATIONINSIGHTS_CONNECTION_STRING",
        description="Turns on OpenTelemetry export to Application Insights.",
    )
    telemetry_sampling_ratio: float = Field(
        0.1,
        ge=0,
        le=1,
        alias="TELEMETRY_SAMPLING_RATIO",
        description=(
            "Share of events whose whole trace is exported (by trace id); failures, their "
            "retries, warnings and metrics are always exported."
        ),
    )

    @field_validator(
        "management_token", "operator_token", "reader_token", "platform_api_token", mode="after"
    )
    @classmethod
    def _unresolved_reference_is_unset(cls, value: str | None) -> str | None:
        # When Azure cannot resolve a Key Vault reference it passes the reference text
        # itself; that text is visible in the app's configuration, so it must never
        # count as a token.
        if value and value.startswith("@Microsoft.KeyVault("):
            logging.getLogger("integrations.config").error(
                "a Key Vault reference could not be resolved; the setting is treated as unset"
            )
            return None
        return value

    @field_validator("retry_overrides", mode="before")
    @classmethod
    def _parse_overrides(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("masked_fields", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def setting_names() -> set[str]:
    """The exact names of every setting the product reads (for drift checks)."""
    return {str(field.alias) for field in Settings.model_fields.values() if field.alias}


__all__ = ["Settings", "setting_names"]
