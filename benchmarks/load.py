"""Load on the inbound endpoint from one asyncio process: closed loop (N clients, each
sending its next request when the last one is answered), open loop (a fixed rate,
whatever the answers do).

Latency in the open loop counts from the moment a request was due, not from when it
left, so a server that falls behind is not flattered (coordinated omission).

Each client is an `httpx.AsyncClient` with one keep-alive connection, as 32 ERPs would
be: one shared pool of 32 connections costs the load process over twice the CPU per
request (httpcore scans the pool on every request), CPU the stack under test then lacks.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

# httpcore asks `import sniffio` on every lock it takes; where sniffio is not installed
# each failed import searches sys.path (about 1 ms a request). Marking it absent makes
# the same fallback (asyncio) immediate. This process only: the load generator.
sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

INBOUND = "/integrations/custom/inbound"
SENT = "/integrations/custom/events"  # the sender's view of its own messages
SKUS = 100


def inventory_set(n: int, skus: int = SKUS) -> dict[str, Any]:
    """The n-th single-SKU stock level, over `skus` SKUs."""
    item = {"sku": f"BENCH-{n % skus:03d}", "quantity": n, "warehouseId": "wh-1"}
    return {"action": "inventory.set", "data": {"items": [item]}}


def client(base_url: str) -> httpx.AsyncClient:
    """One client, one keep-alive connection."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits)


class Clients:
    """Idle clients to one base URL, made on demand and closed together."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._idle: list[httpx.AsyncClient] = []
        self._all: list[httpx.AsyncClient] = []

    @asynccontextmanager
    async def one(self) -> AsyncIterator[httpx.AsyncClient]:
        if not self._idle:
            self._all.append(client(self.base_url))
            self._idle.append(self._all[-1])
        http = self._idle.pop()
        try:
            yield http
        finally:
            self._idle.append(http)

    async def aclose(self) -> None:
        await asyncio.gather(*(http.aclose() for http in self._all))
        self._all.clear()
        self._idle.clear()

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


@dataclass
class Run:
    """What one load phase saw."""

    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # of accepted requests
    statuses: Counter[str] = field(default_factory=Counter)
    message_ids: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.latencies_ms)

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


async def _send(http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> tuple[str, str]:
    """(status, messageId or "")."""
    try:
        answer = await http.post(INBOUND, json=body, headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError as error:
        return type(error).__name__, ""
    if answer.status_code == 202:
        return "202", str(answer.json()["messageId"])
    return str(answer.status_code), ""


async def closed_loop(
    pool: Clients, key: str, clients: int, seconds: float, counter: Iterator[int]
) -> Run:
    run, deadline = Run(), time.perf_counter() + seconds

    async def one_client() -> None:
        async with pool.one() as http:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status, message_id = await _send(http, key, inventory_set(next(counter)))
                run.statuses[status] += 1
                if message_id:
                    run.latencies_ms.append((time.perf_counter() - started) * 1000)
                    run.message_ids.append(message_id)

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    run.seconds = time.perf_counter() - started
    return run


async def _ask(http: httpx.AsyncClient, key: str, message_id: str) -> tuple[str, str]:
    """The sender's view of one message: (status, the message id if answered 200)."""
    headers = {"Authorization": f"Bearer {key}"}
    try:
        answer = await http.get(f"{SENT}/{message_id}", headers=headers)
    except httpx.HTTPError as error:
        return type(error).__name__, ""
    return str(answer.status_code), message_id if answer.status_code == 200 else ""


async def open_loop(
    pool: Clients,
    key: str,
    rate: float,
    seconds: float,
    counter: Iterator[int],
    asking_after: list[str] | None = None,
) -> Run:
    """Requests at `rate` for `seconds`, each timed from when it was due: pushes of
    new events, or (`asking_after`) the sender's view of those messages, in turn."""
    run, pending = Run(), set()
    started = time.perf_counter()

    async def one_request(due: float) -> None:
        n = next(counter)
        async with pool.one() as http:
            if asking_after:
                status, message_id = await _ask(http, key, asking_after[n % len(asking_after)])
            else:
                status, message_id = await _send(http, key, inventory_set(n))
        run.statuses[status] += 1
        if message_id:
            run.latencies_ms.append((time.perf_counter() - due) * 1000)
            run.message_ids.append(message_id)

    for n in itertools.count():
        due = started + n / rate
        if due - started >= seconds:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        task = asyncio.create_task(one_request(due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    run.seconds = time.perf_counter() - started
    return run


async def new_integration(
    http: httpx.AsyncClient, token: str, name: str, ordering_scope: str = "integration"
) -> tuple[str, str]:
    """(integration id, API key) of a new enabled integration with this ordering."""
    headers = {"Authorization": f"Bearer {token}"}
    created = await http.post(
        "/v1/integrations/",
        json={"service": "custom", "enabled": True, "name": name},
        headers=headers,
    )
    created.raise_for_status()
    integration = created.json()
    for _ in range(5):  # a PATCH racing another change of the integration answers 409
        changed = await http.patch(
            f"/v1/integrations/{integration['id']}",
            json={"orderingScope": ordering_scope},
            headers=headers,
        )
        if changed.status_code != 409:
            break
        await asyncio.sleep(0.2)
    changed.raise_for_status()
    return str(integration["id"]), str(integration["apiKey"])
