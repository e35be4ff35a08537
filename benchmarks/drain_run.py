"""One drain of a backlog: N single-SKU events accepted by the product's own inbound
service (in this process, on the stack's storage and queue file) while the Functions host
is stopped; the host then starts and drains them. The rate counts the worker alone, from
the first settlement to the last (both stamped by the product), with the CPU it took.

How often this module polls does not change the figure. While waiting it polls the
sandbox's request counter (cheap) and asks the product's counts only when the platform
has seen about every event, so the polling adds little work to the drain it measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime
from typing import Any

import httpx

from benchmarks import load
from benchmarks.stack import BenchStack

DONE = ("success", "skipped")  # a drained event; "failed" means something went wrong
TIMEOUT_SECONDS = float(os.environ.get("BENCH_DRAIN_TIMEOUT_SECONDS", "600"))


async def set_platform_latency(stack: BenchStack, latency_ms: int) -> None:
    faults = {"errorRate": 0, "latencyMs": latency_ms, "down": False, "rateLimitPerSecond": None}
    async with httpx.AsyncClient(base_url=stack.sandbox, timeout=30) as http:
        (await http.put("/_sandbox/faults", json=faults)).raise_for_status()


async def platform_calls(http: httpx.AsyncClient) -> int:
    stats = (await http.get("/_sandbox/state")).json()["stats"]
    return int(stats["applied"]) + int(stats["replayed"]) + int(stats["rejected"])


async def counts(http: httpx.AsyncClient, token: str, integration_id: str) -> dict[str, int]:
    answer = await http.post(
        "/v1/integrations/events/counts",
        json={"integrationId": integration_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    answer.raise_for_status()
    return dict(answer.json()["counts"])


async def wait_settled(
    stack: BenchStack, integration_id: str, events: int, start_calls: int, within_seconds: float
) -> tuple[dict[str, int], bool]:
    """Counts per status once every event has an outcome (success, skipped or failed:
    the platform has no faults, so a failure is a finding, not something to wait out),
    and whether that happened within the time given. `start_calls`: the platform's
    request count before the first event was pushed."""
    deadline = time.monotonic() + within_seconds
    async with (
        httpx.AsyncClient(base_url=stack.sandbox, timeout=30) as sandbox,
        httpx.AsyncClient(base_url=stack.api, timeout=60) as api,
    ):
        last_calls = start_calls
        last_change = last_check = time.monotonic()
        while time.monotonic() < deadline:
            calls = await platform_calls(sandbox)
            now = time.monotonic()
            if calls != last_calls:
                last_calls, last_change = calls, now
            # skipped events never reach the platform: ask the product once calls stall
            nearly = calls - start_calls >= events or now - last_change > 2
            if (nearly and now - last_check > 2) or now - last_check > 15:
                last_check = now
                found = await counts(api, stack.token, integration_id)
                if sum(found.get(status, 0) for status in (*DONE, "failed")) >= events:
                    return found, True
            await asyncio.sleep(0.25)
        return await counts(api, stack.token, integration_id), False


async def all_events(stack: BenchStack, integration_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    async with httpx.AsyncClient(base_url=stack.api, timeout=60) as http:
        while True:
            body: dict[str, Any] = {"integrationId": integration_id, "limit": 500}
            if token:
                body["continuationToken"] = token
            answer = await http.post(
                "/v1/integrations/events/filter", json=body, headers=stack.admin_headers()
            )
            answer.raise_for_status()
            page = answer.json()
            found += page["events"]
            token = page.get("continuationToken")
            if not token:
                return found


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def failures(stored: list[dict[str, Any]]) -> dict[str, Any]:
    """Events that ended failed: how many, how many of them transiently (a retry is due),
    and the first reason."""
    errors = [event.get("lastError") or {} for event in stored if event["status"] == "failed"]
    return {
        "count": len(errors),
        "transient": sum(1 for error in errors if error.get("kind") == "transient"),
        "firstError": errors[0].get("message") if errors else None,
    }


def trouble(run: dict[str, Any]) -> str | None:
    """Why a drain's rate is no figure of the product, if it is not. A few transient
    failures (at most 1 %) leave the rate standing: they wait for a retry, are not
    counted in it, and are reported beside it."""
    failed = run["failed"]
    if failed["count"] > failed["transient"] or failed["count"] > run["events"] // 100:
        return f"{failed['count']} of {run['events']} events failed ({failed['firstError']})"
    if not run["complete"]:
        return f"only {run['drained']} of {run['events']} events drained in {TIMEOUT_SECONDS:.0f} s"
    return None


def remark(run: dict[str, Any]) -> str:
    """What a reader of the rate should know besides it, if anything."""
    why_not, failed = trouble(run), run["failed"]
    if why_not:
        return f"; not a figure of the product: {why_not}"
    if failed["count"]:
        return (
            f"; {failed['count']} event(s) failed transiently, waiting for a retry and not "
            f"counted ({failed['firstError']})"
        )
    return ""


async def fill_backlog(stack: BenchStack, scope: str, events: int, name: str) -> str:
    """A new integration with `events` events queued and nobody consuming them (the
    host is stopped): accepted by the product's own services, as the inbound route
    would. Returns the integration id."""
    from local.servicebus.queue_bus import LocalQueueBus
    from local.servicebus.session_queue import LocalSessionQueue
    from shared import bootstrap
    from shared.config import Settings
    from shared.domain.models import Role
    from shared.services.auth import Caller
    from shared.services.inbound import InboundRequest

    stack.stop("local.host")
    queue = LocalSessionQueue(stack.env["LOCAL_QUEUE_PATH"])
    bootstrap.install_overrides(bus=LocalQueueBus(queue))
    # As the Functions host reads them: an empty value is an unset setting.
    services = bootstrap.build(Settings.model_validate({k: v for k, v in stack.env.items() if v}))
    try:
        created = await services.management.create(
            {"service": "custom", "enabled": True, "name": name, "orderingScope": scope},
            Caller(Role.ADMIN, "admin:benchmark"),
        )
        authorization = f"Bearer {created.api_key}"
        limit = asyncio.Semaphore(16)

        async def accept(n: int) -> None:
            async with limit:
                body = json.dumps(load.inventory_set(n)).encode()
                await services.inbound.accept(
                    InboundRequest(authorization, "application/json", body)
                )

        await asyncio.gather(*(accept(n) for n in range(events)))
        return created.integration.id
    finally:
        await services.close()
        queue.close()


def backlog_rates(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Events/s from the first settlement to the last: the worker alone."""
    done = sorted(_at(event["updatedAt"]) for event in events if event["status"] in DONE)
    if len(done) < 2:
        return {"drained": len(done), "eventsPerSecond": None}
    seconds = done[-1] - done[0]
    return {
        "drained": len(done),
        "drainSeconds": round(seconds, 2),
        "eventsPerSecond": round((len(done) - 1) / seconds, 2),
    }


async def backlog_drain(
    stack: BenchStack, scope: str, events: int, latency_ms: int
) -> dict[str, Any]:
    """Queue `events` events with no consumer, start the host, and time the drain."""
    await set_platform_latency(stack, latency_ms)
    integration_id = await fill_backlog(stack, scope, events, f"Backlog {scope} {latency_ms} ms")
    async with httpx.AsyncClient(base_url=stack.sandbox, timeout=30) as sandbox:
        start_calls = await platform_calls(sandbox)
    processes = ("local.host", "local.sandbox", "azurite")
    stack.start("local.host", stack.api)
    before = stack.cpu(*processes)
    statuses, complete = await wait_settled(
        stack, integration_id, events, start_calls, TIMEOUT_SECONDS
    )
    cpu = stack.cpu(*processes).since(before)
    stored = await all_events(stack, integration_id)
    run = {
        "orderingScope": scope,
        "platformLatencyMs": latency_ms,
        "events": events,
        "backlog": True,
        "complete": complete,
        **backlog_rates(stored),
        "statuses": {status: count for status, count in statuses.items() if count},
        "failed": failures(stored),
        "cpu": cpu,
    }
    print(
        f"{scope:>11} ordering, platform {latency_ms} ms, backlog of {events}: "
        f"{run['drained']} drained, {run['eventsPerSecond']} events/s over "
        f"{run.get('drainSeconds')} s, CPU {cpu['share']:.0%} of {cpu['cores']} cores"
        + (f"; {trouble(run)}" if trouble(run) else "")
    )
    return run
