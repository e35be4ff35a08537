"""How long `import function_app` takes in a fresh interpreter. The Functions host
imports the app before it can index its functions, so every SDK loaded at import
delays a cold start; the Azure SDKs, httpx and OpenTelemetry load instead when the
first invocation builds the container (`shared/bootstrap.py`).

Each of N fresh subprocesses times its own `import function_app` (interpreter start-up
excluded); one warm-up run first writes the bytecode caches and is discarded. Between
them, N more time `import azure.functions` alone: the floor any Functions app pays, and
a yardstick on a busy machine (the load average is saved with the figures). Without
APPLICATIONINSIGHTS_CONNECTION_STRING, as in local runs and tests: with it, the
exporter loads at import on purpose, so telemetry is set up before the first call.

    .venv/bin/python -m benchmarks.import_time            # 15 runs
    .venv/bin/python -m benchmarks.import_time --runs 31
Figures are printed and saved to benchmarks/results/import-time.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from shared.domain.clock import utcnow

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "import-time.json"
TARGET_MS = 300.0
TIMED_IMPORT = (
    "import time; started = time.perf_counter(); import {module}; "
    "print((time.perf_counter() - started) * 1000)"
)


def one_import_ms(module: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    done = subprocess.run(
        [sys.executable, "-c", TIMED_IMPORT.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def measure(runs: int) -> dict[str, Any]:
    one_import_ms("function_app")  # warm-up: bytecode and file caches, as on a warm host
    timings: list[float] = []
    floor: list[float] = []
    for _ in range(runs):  # interleaved, so a busy spell hits both alike
        timings.append(one_import_ms("function_app"))
        floor.append(one_import_ms("azure.functions"))
    median, p90 = statistics.median(timings), statistics.quantiles(timings, n=10)[8]
    return {
        "runs": runs,
        "medianMs": round(median, 1),
        "p90Ms": round(p90, 1),
        "minMs": round(min(timings), 1),
        "maxMs": round(max(timings), 1),
        "targetMs": TARGET_MS,
        "verdict": "meets the target" if median <= TARGET_MS else "misses the target",
        "verdictOn": "median",
        "functionsLibraryMedianMs": round(statistics.median(floor), 1),
        "timingsMs": [round(t, 1) for t in timings],
    }


def machine(load_before: float) -> dict[str, Any]:
    return {
        "cpuCount": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadAverage1mBefore": round(load_before, 2),
        "loadAverage1mAfter": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters to time")
    runs = max(parser.parse_args().runs, 2)
    load_before = os.getloadavg()[0]
    figures = measure(runs)
    command = TIMED_IMPORT.format(module="function_app")
    result = {
        **figures,
        "command": f"{Path(sys.executable).name} -c {command!r}",
        "machine": machine(load_before),
        "reproduce": ".venv/bin/python -m benchmarks.import_time",
        "measuredAt": utcnow().isoformat(),
    }
    print(
        f"import function_app over {runs} fresh interpreters: median "
        f"{figures['medianMs']:.0f} ms, p90 {figures['p90Ms']:.0f} ms "
        f"(target {TARGET_MS:.0f} ms: {figures['verdict']}); "
        f"azure.functions alone: median {figures['functionsLibraryMedianMs']:.0f} ms"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
