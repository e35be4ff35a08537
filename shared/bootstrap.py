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

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.clock import utcnow
from shared.config import Settings
from shared.ports import MessageBus, PlatformClient

if TYPE_CHECKING:
    import httpx

    from shared.adapters.azure_storage import RequestCounter, StorageClients
    from shared.adapters.table_jobs import TableJobStore
    from shared.dead_letters import DeadLetterService
    from shared.inbound import InboundService
    from shared.management import ManagementService
    from shared.queries import QueryService
    from shared.recovery import RecoveryService
    from shared.resubmission import ResubmissionService
    from shared.worker import Worker


@dataclass
class Container:
    settings: Settings
    storage: StorageClients
    bus: MessageBus
    platform: PlatformClient
    jobs: TableJobStore
    inbound: InboundService
    worker: Worker
    management: ManagementService
    queries: QueryService
    recovery: RecoveryService
    resubmission: ResubmissionService
    dead_letters: DeadLetterService

    async def close(self) -> None:
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


def build(settings: Settings | None = None) -> Container:
    # Imported here, not at the top: the services bring OpenTelemetry and the
    # adapters the Azure SDKs and httpx, which a cold start loads only when first used.
    from shared.adapters.azure_storage import StorageClients
    from shared.adapters.platform_http import HttpPlatformClient
    from shared.adapters.secrets import secret_store_for
    from shared.adapters.table_events import TableEventStore
    from shared.adapters.table_integrations import TableIntegrationStore
    from shared.adapters.table_jobs import TableJobStore
    from shared.adapters.table_schedule import TableIdempotencyStore, TableScheduleStore
    from shared.adapters.table_versions import TableEntityVersionStore
    from shared.adapters.webhook import TableAlertLedger, WebhookAlertSink
    from shared.alerts import AlertService
    from shared.circuit import CircuitBreaker
    from shared.dead_letters import DeadLetterService
    from shared.inbound import InboundService
    from shared.management import ManagementService
    from shared.queries import QueryService
    from shared.recovery import RecoveryService
    from shared.resubmission import ResubmissionService
    from shared.staleness import StalenessGuard
    from shared.throttle import Throttle
    from shared.worker import Worker

    settings = settings or Settings()
    storage = StorageClients(settings, _overrides.get("storage"))
    integrations = TableIntegrationStore(storage)
    events = TableEventStore(storage)
    schedule = TableScheduleStore(storage, integrations)
    jobs = TableJobStore(storage)
    bus = _message_bus(settings)
    platform = HttpPlatformClient(
        settings.platform_base_url,
        settings.platform_api_token,
        settings.platform_timeout_seconds,
        transport=_overrides.get("transport"),
        throttle=Throttle(pace) if (pace := settings.platform_max_calls_per_second) else None,
    )
    recovery = RecoveryService(settings, events, schedule, bus, utcnow)
    sink = WebhookAlertSink(settings.alert_webhook_url) if settings.alert_webhook_url else None
    alerts = AlertService(settings, sink, TableAlertLedger(storage), utcnow)
    return Container(
        settings=settings,
        storage=storage,
        bus=bus,
        platform=platform,
        jobs=jobs,
        inbound=InboundService(
            settings,
            integrations,
            events,
            TableIdempotencyStore(storage, settings.idempotency_window_hours),
            bus,
            utcnow,
        ),
        worker=Worker(
            settings,
            integrations,
            events,
            platform,
            StalenessGuard(TableEntityVersionStore(storage), utcnow),
            CircuitBreaker(
                threshold=settings.circuit_failure_threshold,
                cooldown=timedelta(seconds=settings.circuit_cooldown_seconds),
                max_cooldown=timedelta(seconds=settings.circuit_max_cooldown_seconds),
            ),
            utcnow,
            alerts,
        ),
        management=ManagementService(
            settings, integrations, events, secret_store_for(settings), utcnow
        ),
        queries=QueryService(settings, integrations, events),
        recovery=recovery,
        resubmission=ResubmissionService(integrations, events, jobs, recovery, utcnow),
        dead_letters=DeadLetterService(events, utcnow, alerts),
    )


def container() -> Container:
    global _container
    if _container is None:
        _container = build()
    return _container


async def reset() -> None:
    """Close and forget the container (tests, and the local host on shutdown)."""
    global _container
    if _container is not None:
        await _container.close()
    _container = None
