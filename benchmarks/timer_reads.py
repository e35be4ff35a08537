"""How many storage reads one timer run costs, as the stored events grow tenfold.

The timer reads the due-time index (the check rows beside the events, one range read
per events partition), never the events themselves, so its reads follow the number
of *due* events. This stores N settled events plus D due retries, runs the timer once
and counts entities read (index rows + event point reads).

    .venv/bin/python -m benchmarks.timer_reads            # N = 1,000 and 10,000; D = 100
Figures are printed and saved to benchmarks/results/timer-reads.json.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from local.azurite import connection_string, start_azurite
from local.processes import stop_all
from local.servicebus.queue_bus import LocalQueueBus
from local.servicebus.session_queue import LocalSessionQueue
from shared.adapters.azure_storage import StorageClients
from shared.adapters.table_events import TableEventStore
from shared.adapters.table_integrations import TableIntegrationStore
from shared.adapters.table_schedule import TableScheduleStore
from shared.config import Settings
from shared.domain.clock import new_event_id, new_integration_id, utcnow
from shared.domain.models import ErrorKind, EventStatus, Integration, IntegrationEvent, LastError
from shared.services.recovery import RecoveryService

RESULTS = Path(__file__).resolve().parent / "results" / "timer-reads.json"
SHARDS = 8


class CountingEvents(TableEventStore):
    """The real Table adapter, counting point reads."""

    reads = 0

    async def get(self, integration_id: str, event_id: str, shards: int) -> Any:
        self.reads += 1
        return await super().get(integration_id, event_id, shards)


def _event(integration_id: str, status: EventStatus) -> IntegrationEvent:
    now = utcnow() - timedelta(minutes=5)
    return IntegrationEvent(
        id=new_event_id(now),
        integration_id=integration_id,
        action="price.set",
        entity_id="SKU-1",
        status=status,
        created_at=now,
        updated_at=now,
        session_id=integration_id,
        max_attempts=8,
        attempts=1,
        payload={"action": "price.set", "data": {"items": [{"sku": "SKU-1", "sellingPrice": 1}]}},
    )


async def measure(connection: str, stored: int, due: int, queue_path: str) -> dict[str, Any]:
    settings = Settings.model_validate(
        {"AzureWebJobsStorage": connection, "TIMER_BUDGET_SECONDS": 600}
    )
    storage = StorageClients(settings)
    integrations = TableIntegrationStore(storage)
    events, schedule = CountingEvents(storage), TableScheduleStore(storage, integrations)
    integration_id, limit = new_integration_id(), asyncio.Semaphore(64)
    await integrations.add(
        Integration(
            id=integration_id,
            name="Timer benchmark",
            service="custom",
            enabled=True,
            key_hash="-",
            key_hint="-",
            created_at=utcnow(),
            updated_at=utcnow(),
            partition_shards=SHARDS,
        )
    )

    async def add(event: IntegrationEvent) -> None:
        async with limit:
            await events.add(event, SHARDS)

    settled = [_event(integration_id, EventStatus.SUCCESS) for _ in range(stored)]
    retries = []
    for _ in range(due):
        event = _event(integration_id, EventStatus.FAILED)
        event.next_retry_at = event.check_at = utcnow() - timedelta(seconds=1)
        event.last_error = LastError(ErrorKind.TRANSIENT, "platform unavailable", 503)
        retries.append(event)
    await asyncio.gather(*(add(e) for e in settled + retries))

    queue = LocalSessionQueue(queue_path)
    recovery = RecoveryService(settings, events, schedule, LocalQueueBus(queue), utcnow)
    schedule.rows_read, events.reads = 0, 0
    started = time.perf_counter()
    report = await recovery.run_once()
    seconds = time.perf_counter() - started
    queue.close()
    await storage.close()
    return {
        "storedEvents": stored + due,
        "dueEvents": due,
        "indexRowsRead": schedule.rows_read,
        "eventPointReads": events.reads,
        "entitiesRead": schedule.rows_read + events.reads,
        "requeued": report.retried,
        "seconds": round(seconds, 3),
    }


async def run(
    connection: str, sizes: tuple[int, ...], due: int, folder: Path
) -> list[dict[str, Any]]:
    return [await measure(connection, n, due, str(folder / f"q{n}.db")) for n in sizes]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        azurite = start_azurite(folder / "azurite", 10160, 10162)
        try:
            figures = asyncio.run(
                run(connection_string(10160, 10162), (1_000, 10_000), 100, folder)
            )
        finally:
            if azurite:
                stop_all([azurite], grace_seconds=2)
    result = {
        "runs": figures,
        "reproduce": ".venv/bin/python -m benchmarks.timer_reads",
        "measuredAt": utcnow().isoformat(),
    }
    for row in figures:
        print(
            f"stored {row['storedEvents']:>6,}  due {row['dueEvents']:>4}  "
            f"entities read {row['entitiesRead']:>5}  requeued {row['requeued']:>4}  "
            f"{row['seconds']:.2f} s"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
