"""How much faster a backlog drains with `orderingScope: entity` than `integration`.

On a stack of its own, for a platform answering in 200 ms and then in 20 ms (the
sandbox's latency fault), each of two new integrations (ordering by integration, then
by entity) gets a backlog of N single-SKU inventory.set events over 100 SKUs, accepted
by the product's inbound service while the Functions host is stopped; the host then
starts and the drain is timed from the first settled event to the last, with the CPU
the host, sandbox and Azurite used meanwhile. (Pushing while draining would time the
accept path instead, once the drain keeps up with it.)

    .venv/bin/python -m benchmarks.ordering_drains
    BENCH_DRAIN_EVENTS_200MS=300 BENCH_DRAIN_EVENTS_20MS=1000 .venv/bin/python -m ...
Target: entity ≥ 8× integration with the 200 ms platform.
"""

from __future__ import annotations

import asyncio
import math
import os
from typing import Any

from benchmarks.drain_run import backlog_drain, remark, trouble
from benchmarks.report import quantity, save, unjudged, verdict
from benchmarks.stack import BenchStack

# Each drain by integration takes about N × (latency + the worker's own time).
EVENTS = {
    200: int(os.environ.get("BENCH_DRAIN_EVENTS_200MS", "250")),
    20: int(os.environ.get("BENCH_DRAIN_EVENTS_20MS", "1000")),
}
TARGET_SPEED_UP = 8.0


async def measure(stack: BenchStack) -> list[dict[str, Any]]:
    runs = []
    for latency_ms, events in EVENTS.items():
        for scope in ("integration", "entity"):
            runs.append(await backlog_drain(stack, scope, events, latency_ms))
    return runs


def speed_up(runs: list[dict[str, Any]], latency_ms: int) -> tuple[float, str | None]:
    """Entity over integration events/s at this latency; NaN and why if not measured."""
    pair = {r["orderingScope"]: r for r in runs if r["platformLatencyMs"] == latency_ms}
    problems = [f"{scope}: {trouble(run)}" for scope, run in pair.items() if trouble(run)]
    if problems:
        return math.nan, "; ".join(problems)
    return pair["entity"]["eventsPerSecond"] / pair["integration"]["eventsPerSecond"], None


def main() -> None:
    with BenchStack(INBOUND_REQUESTS_PER_SECOND="0") as stack:
        runs = asyncio.run(measure(stack))
    speed_ups = {f"{ms}ms": round(speed_up(runs, ms)[0], 2) for ms in EVENTS}
    shown = {ms: "n/a" if math.isnan(x) else quantity(x, "×") for ms, x in speed_ups.items()}
    ratio, why_not = speed_up(runs, 200)
    notes = [
        f"Platform {r['platformLatencyMs']} ms, ordering by {r['orderingScope']}: "
        f"{r['drained']} of {r['events']} events drained in {r.get('drainSeconds')} s = "
        f"{r['eventsPerSecond']} events/s, CPU {r['cpu']['share']:.0%} of "
        f"{r['cpu']['cores']} cores (the whole machine {r['cpu']['machineBusyShare']:.0%} busy)"
        + remark(r)
        for r in runs
    ]
    notes.append(
        f"Entity over integration ordering: {shown['200ms']} with the 200 ms platform, "
        f"{shown['20ms']} with the 20 ms one."
    )
    save(
        "ordering-drains",
        "Backlog drains by ordering scope, 200 ms and 20 ms platform",
        "benchmarks.ordering_drains",
        {
            "settings": {"eventsByPlatformLatencyMs": EVENTS, "skus": 100, "backlog": True},
            "figures": {"runs": runs, "entityOverIntegration": speed_ups},
            "headline": [
                verdict(
                    "entity vs integration ordering, 200 ms platform",
                    ratio,
                    unit="×",
                    at_least=TARGET_SPEED_UP,
                    why_not=why_not,
                ),
                unjudged(
                    "entity vs integration ordering, 20 ms platform",
                    speed_up(runs, 20)[0],
                    unit="×",
                ),
                *(
                    unjudged(
                        f"drain by {r['orderingScope']}, {r['platformLatencyMs']} ms platform "
                        f"(CPU {r['cpu']['share']:.0%} of {r['cpu']['cores']} cores)",
                        math.nan if r["eventsPerSecond"] is None else r["eventsPerSecond"],
                        unit="events/s",
                    )
                    for r in runs
                ),
            ],
            "notes": notes,
        },
    )


if __name__ == "__main__":
    main()
