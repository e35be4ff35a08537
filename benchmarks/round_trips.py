"""Storage round trips of one successful event, end to end (accept and process), by
action: the real Table and Blob adapters on Azurite, wired by `bootstrap.build`, with
a counter on every storage request; the queue and the platform are stand-ins that
make no storage calls.

    .venv/bin/python -m benchmarks.round_trips
Figures are printed and saved to benchmarks/results/round-trips.json. A test
(`tests/integration/test_round_trips.py`) holds the targets on every CI run.
"""

from __future__ import annotations

import asyncio
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from actions.examples import REFERENCE_EXAMPLES
from local.azurite import connection_string, start_azurite
from local.processes import stop_all
from shared import bootstrap
from shared.adapters.azure_storage import RequestCounter
from shared.config import Settings
from shared.domain.models import QueueMessage, Role
from shared.services.auth import Caller
from shared.services.inbound import InboundRequest
from shared.services.ports import MessageBus

# Who the audit trail names for the integrations a benchmark makes.
BENCHMARK = Caller(Role.ADMIN, "admin:benchmark")

RESULTS = Path(__file__).resolve().parent / "results" / "round-trips.json"
COMMAND = ".venv/bin/python -m benchmarks.round_trips"
# Targets: a single-item inventory.set and inventory.adjust, end to end.
TARGETS = {"inventory.set": 6, "inventory.adjust": 5}
SINGLE_LINE = {"sku": "CHAIR-UNO-BLK", "quantity": 42, "warehouseId": "wh-01"}
# The first request with a key in 5 minutes also writes the key's last use (one merge).
FIRST_USE = "inventory.set (a key's first use in 5 min)"
# Single-item events of each action (the reference documents, with one line where the
# reference has two), plus the two-line reference inventory.set for comparison, and a
# single-line inventory.set under per-record ordering (which claims its record).
DOCUMENTS: dict[str, dict[str, Any]] = {
    "inventory.set": {"action": "inventory.set", "data": {"items": [SINGLE_LINE]}},
    **{name: body for name, body in REFERENCE_EXAMPLES.items() if name != "inventory.set"},
    "inventory.set (2 lines)": REFERENCE_EXAMPLES["inventory.set"],
}


class HeldMessages(MessageBus):
    """The queue, holding what was sent for the worker to take (no storage calls)."""

    def __init__(self) -> None:
        self.sent: list[QueueMessage] = []

    async def send(self, message: QueueMessage) -> None:
        self.sent.append(message)


def platform_answers(request: httpx.Request) -> httpx.Response:
    """A platform that applies everything: ids for orders and customers, items echoed."""
    body = json.loads(request.content or b"{}")
    if request.url.path.endswith("/orders") or "/orders/" in request.url.path:
        return httpx.Response(201, json={"id": "ord_1", "externalId": body.get("externalId")})
    if "customers" in request.url.path:
        return httpx.Response(200, json={"id": "cus_1", "created": True})
    return httpx.Response(200, json={"items": body.get("items") or body.get("products") or []})


async def measure(connection: str) -> dict[str, dict[str, Any]]:
    """Per action: round trips to accept, to process, and the requests themselves."""
    counter, bus = RequestCounter(), HeldMessages()
    bootstrap.install_overrides(
        bus=bus, platform_transport=httpx.MockTransport(platform_answers), storage_requests=counter
    )
    settings = Settings.model_validate(
        {
            "AzureWebJobsStorage": connection,
            "MANAGEMENT_TOKEN": "round-trips",
            "PROCESSING_MARK_SECONDS": 60,
        }
    )
    services = bootstrap.build(settings)
    try:
        created = await services.management.create(
            {"service": "custom", "name": "Round trips", "enabled": True}, BENCHMARK
        )
        authorization = f"Bearer {created.api_key}"

        async def push(document: dict[str, Any], sender: str = authorization) -> str:
            accepted = await services.inbound.accept(
                InboundRequest(sender, "application/json", json.dumps(document).encode())
            )
            return accepted.message_id

        # Warm up: tables created, the first SKU known to the platform stand-in, and
        # each key's use noted (a write at most once per 5 minutes per key and process:
        # not a cost of every event, so measured in a row of its own below).
        await push(DOCUMENTS["inventory.set"])
        await services.worker.handle(json.dumps(bus.sent[-1].body).encode())
        per_record = await services.management.create(
            {"service": "custom", "name": "Round trips", "orderingScope": "entity"}, BENCHMARK
        )
        await push(DOCUMENTS["inventory.set"], f"Bearer {per_record.api_key}")
        await services.worker.handle(json.dumps(bus.sent[-1].body).encode())
        unused = await services.management.create(
            {"service": "custom", "name": "Round trips, a key's first use"}, BENCHMARK
        )
        documents = [(name, authorization, body) for name, body in DOCUMENTS.items()]
        documents.append(
            (
                "inventory.set (entity ordering)",
                f"Bearer {per_record.api_key}",
                DOCUMENTS["inventory.set"],
            )
        )
        documents.append(
            (
                FIRST_USE,
                f"Bearer {unused.api_key}",
                DOCUMENTS["inventory.set"],
            )
        )
        figures: dict[str, dict[str, Any]] = {}
        for action, sender, document in documents:
            counter.reset()
            await push(document, sender)
            accept = list(counter.requests)
            counter.reset()
            status = await services.worker.handle(json.dumps(bus.sent[-1].body).encode())
            process = list(counter.requests)
            figures[action] = {
                "accept": len(accept),
                "process": len(process),
                "total": len(accept) + len(process),
                "status": status,
                "target": TARGETS.get(action),
                "requests": {"accept": accept, "process": process},
            }
        return figures
    finally:
        await services.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        from tests.conftest import free_port

        blob, table = free_port(), free_port()
        azurite = start_azurite(Path(folder), blob, table)
        try:
            figures = asyncio.run(measure(connection_string(blob, table)))
        finally:
            if azurite:
                stop_all([azurite], grace_seconds=2)
    for action, row in figures.items():
        target = f" (target ≤ {row['target']})" if row["target"] else ""
        trips = f"accept {row['accept']}  process {row['process']}  total {row['total']}"
        print(f"{action:24} {trips}{target}")
    met = all(figures[action]["total"] <= target for action, target in TARGETS.items())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "storage round trips per successful event, end to end",
                "command": COMMAND,
                "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
                "targets": TARGETS,
                "verdict": "met" if met else "missed",
                "actions": figures,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
