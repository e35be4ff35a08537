"""The sandbox's per-key log, which the fault suite reads to show each fault took
effect: 429s per key, replays, calls applied while answers were delayed, and a key
reused for another operation. In-process via ASGITransport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from local.sandbox.app import create_app

PRODUCT = {"products": [{"sku": "A", "name": "A"}]}
PRICE = {"items": [{"sku": "A", "sellingPrice": 100}]}


async def test_the_key_log_counts_what_each_key_met(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=create_app(tmp_path / "s.db", api_token=""))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:

        async def put(path: str, body: Any, key: str) -> int:
            answer = await http.put(path, json=body, headers={"Idempotency-Key": key})
            return answer.status_code

        async def faults(**settings: Any) -> None:
            assert (await http.put("/_sandbox/faults", json=settings)).status_code == 200

        await faults(rateLimitPerSecond=1)
        assert [await put("/v1/products", PRODUCT, "k1") for _ in range(2)] == [200, 429]
        await faults(rateLimitPerSecond=None, latencyMs=5)
        assert await put("/v1/products", PRODUCT, "k2") == 200  # applied, answered late
        await faults(latencyMs=0)
        assert await put("/v1/products", PRODUCT, "k2") == 200  # its replay
        assert await put("/v1/prices", PRICE, "k2") == 200  # the product's answer, again
        assert (await http.delete("/_sandbox/stats")).status_code == 200

        keys = (await http.get("/_sandbox/keys")).json()
        assert keys == {
            "requests": {"k1": 2, "k2": 3},
            "rateLimited": {"k1": 1},
            "replayed": {"k2": 2},
            "replayedForOtherOperation": {"k2": 1},
            "appliedThenDelayed": ["k2"],
        }  # kept when the statistics are reset
        assert (await http.get("/_sandbox/stats")).json()["requests"] == 0
        assert (await http.post("/_sandbox/reset")).status_code == 200
        assert (await http.get("/_sandbox/keys")).json()["requests"] == {}
