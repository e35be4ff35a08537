"""How fast one integration's backlog drains when its events go one at a time.

On a stack of its own: one integration ordering by integration (one session), a
platform answering in 20 ms, nothing else running. A backlog of N single-SKU
inventory.set events is accepted by the product's inbound service while the Functions
host is stopped; the host then starts, and the rate counts the worker alone, from the
first settled event to the last.

    .venv/bin/python -m benchmarks.single_session          # BENCH_SINGLE_EVENTS=1000
Target: ≥ 35 events/s.
"""

from __future__ import annotations

import asyncio
import math
import os

from benchmarks.drain_run import backlog_drain, remark, trouble
from benchmarks.report import save, verdict
from benchmarks.stack import BenchStack

EVENTS = int(os.environ.get("BENCH_SINGLE_EVENTS", "1000"))
LATENCY_MS = 20
TARGET = 35.0


def main() -> None:
    with BenchStack(INBOUND_REQUESTS_PER_SECOND="0") as stack:
        run = asyncio.run(backlog_drain(stack, "integration", EVENTS, LATENCY_MS))
    alone, why_not = run["eventsPerSecond"], trouble(run)
    save(
        "single-session-drain",
        "One session draining, 20 ms platform",
        "benchmarks.single_session",
        {
            "settings": {"events": EVENTS, "platformLatencyMs": LATENCY_MS, "backlog": True},
            "figures": run,
            "headline": [
                verdict(
                    "single-session drain, 20 ms platform",
                    math.nan if alone is None or why_not else alone,
                    unit="events/s",
                    at_least=TARGET,
                    why_not=why_not or "fewer than two events settled",
                )
            ],
            "notes": [
                f"One session, platform 20 ms, a backlog of {EVENTS} events: {alone} events/s "
                f"from the first settled event to the last ({run.get('drainSeconds')} s); "
                f"CPU {run['cpu']['share']:.0%} of {run['cpu']['cores']} cores "
                f"(the whole machine {run['cpu']['machineBusyShare']:.0%} busy){remark(run)}."
            ],
        },
    )


if __name__ == "__main__":
    main()
