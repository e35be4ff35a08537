"""One place that wires the core to its adapters, once per worker process.

Nothing connects, and no SDK loads, at import time: the container is built on first
use, inside the running event loop, and only then are the services and adapters
imported, with OpenTelemetry, the Azure SDKs and httpx behind them (most of a cold
start's import time). The local host installs its own message bus (the local session
queue) before first use; in Azure the Service Bus publisher is used.

    services = container()
    await services.inbound.accept(request)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.clock import utcnow

if TYPE_CHECKING:
    import httpx

    from shared.adapters.azure_storage import RequestCounter
    from shared.config import Settings
    from shared.domain.circuit import CircuitBreaker
    from shared.services.audit import AuditLog
    from shared.services.dead_letters import DeadLetterService
    from shared.services.flow import FlowService
    from shared.services.flow_counter import FlowCounter
    from shared.services.inbound import InboundService
    from shared.services.management import ManagementService
    from shared.services.ports import (
        AlertLedger,
        AlertSink,
        EntityVersionStore,
        EventStore,
        FlowCounterStore,
        IdempotencyStore,
        IntegrationStore,
        JobStore,
        MessageBus,
        PersonalDataStore,
        PlatformClient,
        RetentionStore,
        ScheduleStore,
        SecretStore,
        StorageAccount,
        TokenStore,
    )
    from shared.services.privacy import PrivacyService
    from shared.services.queries import QueryService
    from shared.services.recovery import RecoveryService
    from shared.services.resubmission import ResubmissionService
    from shared.services.retention import RetentionService
    from shared.services.tokens import TokenService
    from shared.services.worker import Worker


@dataclass
class Adapters:
    """Everything the core talks to: Azure's storage, Service Bus, Key Vault and the
    platform over httpx in production (`azure_adapters`); fakes in unit tests."""

    storage: StorageAccount
    integrations: IntegrationStore
    events: EventStore
    schedule: ScheduleStore
    idempotency: IdempotencyStore
    versions: EntityVersionStore
    jobs: JobStore
    alert_ledger: AlertLedger
    alert_sink: AlertSink | None
    flow_counts: FlowCounterStore
    retention: RetentionStore
    personal_data: PersonalDataStore
    tokens: TokenStore
    secrets: SecretStore
    bus: MessageBus
    platform: PlatformClient


@dataclass
class Container:
    settings: Settings
    storage: StorageAccount
    bus: MessageBus
    platform: PlatformClient
    jobs: JobStore
    audit: AuditLog
    breaker: CircuitBreaker
    inbound: InboundService
    worker: Worker
    management: ManagementService
    queries: QueryService
    recovery: RecoveryService
    resubmission: ResubmissionService
    retention: RetentionService
    privacy: PrivacyService
    tokens: TokenService
    dead_letters: DeadLetterService
    flow_counter: FlowCounter
    flow: FlowService

    async def close(self) -> None:
        await self.flow_counter.flush()
        await self.bus.close()
        await self.platform.close()
        await self.storage.close()


_container: Container | None = None
_overrides: dict[str, Any] = {}


def install_overrides(
    *,
    bus: MessageBus | None = None,
    platform_transport: httpx.AsyncBaseTransport | None = None,
    storage_requests: RequestCounter | None = None,
) -> None:
    """For hosts other than Azure: the local session queue, a test transport, a
    counter of storage round trips."""
    global _container
    _container = None
    given = (("bus", bus), ("transport", platform_transport), ("storage", storage_requests))
    _overrides.update({k: v for k, v in given if v})


def _message_bus(settings: Settings) -> MessageBus:
    if "bus" in _overrides:
        bus: MessageBus = _overrides["bus"]
        return bus
    if settings.servicebus_namespace:
        from shared.adapters.servicebus import ServiceBusPublisher

        return ServiceBusPublisher(settings)
    raise RuntimeError(
        "No queue configured: set ServiceBusConnection__fullyQualifiedNamespace "
        "(Azure), or run through the local host (`make run`)."
    )


def azure_adapters(settings: Settings) -> Adapters:
    """The production adapters (with the local host's or a test's overrides)."""
    # Imported here, not at the top: the adapters bring the Azure SDKs and httpx,
    # which a cold start loads only when first used.
    from shared.adapters.azure_storage import StorageClients
    from shared.adapters.platform_http import HttpPlatformClient
    from shared.adapters.secrets import secret_store_for
    from shared.adapters.table_events import TableEventStore
    from shared.adapters.table_flow import TableFlowCounterStore
    from shared.adapters.table_integrations import TableIntegrationStore
    from shared.adapters.table_jobs import TableJobStore
    from shared.adapters.table_privacy import TablePersonalDataStore
    from shared.adapters.table_retention import TableRetentionStore
    from shared.adapters.table_schedule import TableIdempotencyStore, TableScheduleStore
    from shared.adapters.table_tokens import TableTokenStore
    from shared.adapters.table_versions import TableEntityVersionStore
    from shared.adapters.webhook import TableAlertLedger, WebhookAlertSink
    from shared.domain.throttle import Throttle

    storage = StorageClients(settings, _overrides.get("storage"))
    integrations = TableIntegrationStore(storage)
    return Adapters(
        storage=storage,
        integrations=integrations,
        events=TableEventStore(storage),
        schedule=TableScheduleStore(storage, integrations),
        idempotency=TableIdempotencyStore(storage, settings.idempotency_window_hours),
        versions=TableEntityVersionStore(storage),
        jobs=TableJobStore(storage),
        alert_ledger=TableAlertLedger(storage),
        alert_sink=WebhookAlertSink(settings.alert_webhook_url)
        if settings.alert_webhook_url
        else None,
        flow_counts=TableFlowCounterStore(storage),
        retention=TableRetentionStore(storage),
        personal_data=TablePersonalDataStore(storage),
        tokens=TableTokenStore(storage),
        secrets=secret_store_for(settings),
        bus=_message_bus(settings),
        platform=HttpPlatformClient(
            settings.platform_base_url,
            settings.platform_api_token,
            settings.platform_timeout_seconds,
            transport=_overrides.get("transport"),
            throttle=Throttle(pace) if (pace := settings.platform_max_calls_per_second) else None,
        ),
    )


def build(
    settings: Settings | None = None,
    adapters: Adapters | None = None,
    *,
    now: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Container:
    """The services over `adapters` (Azure's by default). Tests pass fakes and a clock."""
    # Imported here, not at the top: the services bring pydantic models and
    # OpenTelemetry, which a cold start loads only when first used.
    from shared.config import Settings
    from shared.domain.circuit import CircuitBreaker
    from shared.services.alerts import AlertService
    from shared.services.audit import AuditLog
    from shared.services.dead_letters import DeadLetterService
    from shared.services.flow import FlowService
    from shared.services.flow_counter import FlowCounter
    from shared.services.inbound import InboundService
    from shared.services.management import ManagementService
    from shared.services.privacy import PrivacyService
    from shared.services.queries import QueryService
    from shared.services.recovery import RecoveryService
    from shared.services.resubmission import ResubmissionService
    from shared.services.retention import RetentionService
    from shared.services.staleness import StalenessGuard
    from shared.services.tokens import TokenService
    from shared.services.worker import Worker

    settings = settings or Settings()
    a = adapters or azure_adapters(settings)
    breaker = CircuitBreaker(
        threshold=settings.circuit_failure_threshold,
        cooldown=timedelta(seconds=settings.circuit_cooldown_seconds),
        max_cooldown=timedelta(seconds=settings.circuit_max_cooldown_seconds),
    )
    # One per process: its writer id names the counter rows this process owns.
    flow = FlowCounter(a.flow_counts, settings.flow_flush_seconds, now, monotonic)
    recovery = RecoveryService(settings, a.events, a.schedule, a.bus, now, monotonic, flow)
    alerts = AlertService(settings, a.alert_sink, a.alert_ledger, now)
    audit = AuditLog(a.jobs, now, sleep)
    return Container(
        settings=settings,
        storage=a.storage,
        bus=a.bus,
        platform=a.platform,
        jobs=a.jobs,
        audit=audit,
        breaker=breaker,
        inbound=InboundService(settings, a.integrations, a.events, a.idempotency, a.bus, now, flow),
        worker=Worker(
            settings,
            a.integrations,
            a.events,
            a.platform,
            StalenessGuard(
                a.versions,
                now,
                sleep=sleep,
                remembered=timedelta(days=settings.retention_version_days),
            ),
            breaker,
            now,
            alerts,
            flow,
        ),
        management=ManagementService(settings, a.integrations, a.events, a.secrets, audit, now),
        queries=QueryService(settings, a.integrations, a.events),
        recovery=recovery,
        resubmission=ResubmissionService(
            a.integrations, a.events, a.jobs, recovery, audit, now, flow
        ),
        retention=RetentionService(settings, a.integrations, a.retention, now, monotonic),
        privacy=PrivacyService(a.integrations, a.events, a.personal_data, audit, now),
        tokens=TokenService(settings, a.tokens, a.integrations, audit, now),
        dead_letters=DeadLetterService(a.events, now, alerts, flow),
        flow_counter=flow,
        flow=FlowService(a.integrations, a.flow_counts, now),
    )


def container() -> Container:
    """The process's services, built (and telemetry set up) on first use."""
    global _container
    if _container is None:
        from shared.config import Settings
        from shared.observability import setup_telemetry

        settings = Settings()
        setup_telemetry(settings)
        _container = build(settings)
    return _container


async def reset() -> None:
    """Close and forget the container (tests, and the local host on shutdown)."""
    global _container
    if _container is not None:
        await _container.close()
    _container = None
