"""How fast the inbound endpoint answers 202, on the local stack (`make run` going).

Sends N sequential inventory.set requests from one client and reports percentiles
of the time to the 202. Locally every write goes to Azurite and the SQLite queue on
the same two cores as the worker, so these are an upper bound for one instance.

    make run    # in another terminal
    MANAGEMENT_TOKEN=$(cat .local/management-token) .venv/bin/python -m benchmarks.accept_latency
Figures are printed and saved to benchmarks/results/accept-latency.json.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import httpx

RESULTS = Path(__file__).resolve().parent / "results" / "accept-latency.json"


def main(requests: int = 500) -> None:
    api = f"http://127.0.0.1:{os.environ.get('PORT', '7071')}"
    token = os.environ["MANAGEMENT_TOKEN"]
    with httpx.Client(base_url=api, timeout=30) as client:
        created = client.post(
            "/v1/integrations/",
            json={"service": "custom", "enabled": True, "name": "Latency benchmark"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        headers = {"Authorization": f"Bearer {created['apiKey']}"}
        timings = []
        for n in range(requests):
            body = {
                "action": "inventory.set",
                "data": {"items": [{"sku": f"LAT-{n % 50}", "quantity": n, "warehouseId": "wh-1"}]},
            }
            started = time.perf_counter()
            answer = client.post("/integrations/custom/inbound", json=body, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 202, answer.text
    cuts = statistics.quantiles(timings, n=100)
    figures = {
        "requests": requests,
        "p50Ms": round(cuts[49], 1),
        "p95Ms": round(cuts[94], 1),
        "p99Ms": round(cuts[98], 1),
        "maxMs": round(max(timings), 1),
        "reproduce": "make run; MANAGEMENT_TOKEN=... .venv/bin/python -m benchmarks.accept_latency",
    }
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
