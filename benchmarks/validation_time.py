"""How long validating one 1,000-item inventory.set body takes, in process.

Times `shared.services.validation.validate_inbound` on an already parsed body (the JSON parse
is timed apart, for comparison) over many runs after a warm-up; the median is the
figure. No stack is needed.

    .venv/bin/python -m benchmarks.validation_time     # BENCH_VALIDATION_SECONDS=3
"""

from __future__ import annotations

import inspect
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.report import percentile, save, unjudged
from shared.services import validation

ITEMS = 1000
SECONDS = float(os.environ.get("BENCH_VALIDATION_SECONDS", "3"))


def body(items: int = ITEMS) -> dict[str, Any]:
    lines = [{"sku": f"SKU-{n:04d}", "quantity": n, "warehouseId": "wh-1"} for n in range(items)]
    return {"action": "inventory.set", "data": {"items": lines}}


def validator() -> Callable[[Any], object]:
    """`validate_inbound` with the item limit, whatever else its signature asks for."""
    validate: Callable[..., object] = validation.validate_inbound
    if "max_items" in inspect.signature(validate).parameters:
        return lambda document: validate(document, max_items=ITEMS)
    return validate


def timings_ms(call: Callable[[], object], seconds: float, least: int = 50) -> list[float]:
    for _ in range(10):  # warm-up: pydantic's first calls build its validators
        call()
    found: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(found) < least:
        started = time.perf_counter()
        call()
        found.append((time.perf_counter() - started) * 1000)
    return found


def summary(found: list[float]) -> dict[str, float | int]:
    return {
        "runs": len(found),
        "medianMs": round(statistics.median(found), 3),
        "p10Ms": round(percentile(found, 10), 3),
        "p90Ms": round(percentile(found, 90), 3),
        "minMs": round(min(found), 3),
    }


def main() -> None:
    document, validate = body(), validator()
    raw = json.dumps(document).encode()
    validating = summary(timings_ms(lambda: validate(document), SECONDS))
    parsing = summary(timings_ms(lambda: json.loads(raw), SECONDS / 3))
    median = float(validating["medianMs"])
    save(
        "validation-time",
        "Validating a 1,000-item inventory.set body",
        "benchmarks.validation_time",
        {
            "settings": {"items": ITEMS, "bodyBytes": len(raw), "seconds": SECONDS},
            "figures": {"validateInbound": validating, "jsonParse": parsing},
            "headline": [unjudged("validate a 1,000-item inventory.set", median, unit="ms")],
            "notes": [
                f"validate_inbound on a 1,000-item inventory.set ({len(raw):,} bytes): median "
                f"{median} ms over {validating['runs']} runs (parsing its JSON: "
                f"{parsing['medianMs']} ms)."
            ],
        },
    )


if __name__ == "__main__":
    main()
