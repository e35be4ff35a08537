"""Accept-path throughput and latency under 32 concurrent clients, against the raw ceiling.

On a stack of its own (free ports, temporary folder): 32 closed-loop clients push
single-SKU inventory.set events first to the raw ceiling (`benchmarks.ceiling`: one
table insert and one queue send per request, nothing else), then to the product's
inbound endpoint, for BENCH_SECONDS (20) each after a 2 s warm-up. Then an open loop at
half the product's measured throughput for BENCH_SECONDS while the worker drains the
backlog, and then the sender's view (`GET /integrations/custom/events/{messageId}`) of
those messages at the same rate, so the two latencies compare in one run. The
per-integration request limit is off (INBOUND_REQUESTS_PER_SECOND=0): it would cap the
measurement, not the code path.

    .venv/bin/python -m benchmarks.accept_throughput
Targets: product throughput ≥ 70 % of the ceiling; open-loop p99 ≤ 100 ms; the sender's
view within the inbound route's latency budget (its p99 no more than the accept p99).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from typing import Any

from benchmarks import load
from benchmarks.report import latency_summary, save, unjudged, verdict
from benchmarks.stack import BenchStack, free_port

SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
WARM_UP_SECONDS = 2.0


async def closed(
    stack: BenchStack,
    pool: load.Clients,
    key: str,
    processes: tuple[str, ...],
    counter: Iterator[int],
) -> dict[str, Any]:
    """Warm up, then measure closed-loop throughput and the CPU it took."""
    await load.closed_loop(pool, key, CLIENTS, WARM_UP_SECONDS, counter)
    before = stack.cpu(*processes)
    run = await load.closed_loop(pool, key, CLIENTS, SECONDS, counter)
    cpu = stack.cpu(*processes).since(before)
    return {
        "clients": CLIENTS,
        "seconds": round(run.seconds, 1),
        "accepted": run.accepted,
        "requestsPerSecond": round(run.per_second, 1),
        "latency": latency_summary(run.latencies_ms),
        "answers": dict(run.statuses),
        "cpu": cpu,
    }


async def measure(stack: BenchStack) -> dict[str, Any]:
    counter = itertools.count()
    ceiling_url = f"http://127.0.0.1:{free_port()}"
    stack.start(
        "benchmarks.ceiling",
        ceiling_url,
        PORT=ceiling_url.rsplit(":", 1)[1],
        CEILING_STORAGE=stack.storage,
        CEILING_QUEUE_PATH=str(stack.folder / "ceiling-queue.db"),
    )
    async with load.Clients(ceiling_url) as pool:
        ceiling = await closed(stack, pool, "-", ("benchmarks.ceiling", "azurite"), counter)
    stack.stop("benchmarks.ceiling")
    print(f"ceiling: {ceiling['requestsPerSecond']} req/s, {ceiling['latency']}")

    async with load.client(stack.api) as http:
        _, key = await load.new_integration(http, stack.token, "Accept benchmark")
    async with load.Clients(stack.api) as pool:
        product = await closed(stack, pool, key, ("local.host", "azurite"), counter)
        print(f"product: {product['requestsPerSecond']} req/s, {product['latency']}")
        rate = max(1.0, product["requestsPerSecond"] / 2)
        before = stack.cpu()
        run = await load.open_loop(pool, key, rate, SECONDS, counter)
        cpu = stack.cpu().since(before)
        asked = await load.open_loop(
            pool, key, rate, SECONDS, counter, asking_after=run.message_ids
        )
    sender_view = {
        "ratePerSecond": round(rate, 1),
        "seconds": round(asked.seconds, 1),
        "answered": asked.accepted,
        "latency": latency_summary(asked.latencies_ms),
        "answers": dict(asked.statuses),
    }
    print(f"sender's view at {rate:.0f}/s: {sender_view['latency']}")
    open_loop = {
        "ratePerSecond": round(rate, 1),
        "seconds": round(run.seconds, 1),
        "accepted": run.accepted,
        "latency": latency_summary(run.latencies_ms),
        "answers": dict(run.statuses),
        "cpu": cpu,
    }
    print(f"open loop at {rate:.0f}/s: {open_loop['latency']}")
    return {
        "ceiling": ceiling,
        "product": product,
        "openLoop": open_loop,
        "senderView": sender_view,
    }


def main() -> None:
    with BenchStack(INBOUND_REQUESTS_PER_SECOND="0") as stack:
        figures = asyncio.run(measure(stack))
    product, ceiling, open_loop = figures["product"], figures["ceiling"], figures["openLoop"]
    share = 100 * product["requestsPerSecond"] / ceiling["requestsPerSecond"]
    figures["productShareOfCeilingPercent"] = round(share, 1)
    p50, p99 = open_loop["latency"]["p50Ms"], open_loop["latency"]["p99Ms"]
    view = figures["senderView"]
    view_p99 = view["latency"]["p99Ms"]
    save(
        "accept-throughput",
        f"Accept path, {CLIENTS} concurrent clients, against the raw ceiling",
        "benchmarks.accept_throughput",
        {
            "settings": {"clients": CLIENTS, "seconds": SECONDS, "inboundRequestsPerSecond": 0},
            "figures": figures,
            "headline": [
                verdict("accept throughput vs raw ceiling", share, unit="%", at_least=70),
                verdict("accept p99, open loop at half rate", p99, unit="ms", at_most=100),
                unjudged(f"accept, {CLIENTS} clients", product["requestsPerSecond"], unit="req/s"),
                unjudged(
                    f"raw ceiling, {CLIENTS} clients", ceiling["requestsPerSecond"], unit="req/s"
                ),
                unjudged("accept p50, open loop at half rate", p50, unit="ms"),
                verdict(
                    "sender's view p99 / accept p99, same rate, same run",
                    round(view_p99 / p99, 2),
                    unit="×",
                    at_most=1.0,
                ),
                unjudged("sender's view p99, open loop at half rate", view_p99, unit="ms"),
            ],
            "notes": [
                f"Product {product['requestsPerSecond']} req/s (p50 {product['latency']['p50Ms']} "
                f"ms) vs raw ceiling {ceiling['requestsPerSecond']} req/s (one table insert and "
                "one queue send, nothing else), same clients, same run; the worker drains the "
                f"backlog on the same cores meanwhile. CPU: product {product['cpu']['share']:.0%}, "
                f"ceiling {ceiling['cpu']['share']:.0%} of {product['cpu']['cores']} cores; the "
                f"whole machine {product['cpu']['machineBusyShare']:.0%} and "
                f"{ceiling['cpu']['machineBusyShare']:.0%} busy.",
                f"Open loop at {open_loop['ratePerSecond']} req/s for {open_loop['seconds']} s: "
                f"p50 {p50} ms, p99 {p99} ms, from the moment each request was due.",
                f"Then the sender's view of those messages at the same rate for "
                f"{view['seconds']} s (two point reads: the key's integration, the event): "
                f"p50 {view['latency']['p50Ms']} ms, p99 {view_p99} ms; answers "
                f"{view['answers']}.",
            ],
        },
    )


if __name__ == "__main__":
    main()
