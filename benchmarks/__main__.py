"""`make bench`: every benchmark, each on a stack of its own, then docs/benchmarks.md.

    .venv/bin/python -m benchmarks                          # all of them
    .venv/bin/python -m benchmarks ordering-drains          # some, by result name
Sizes: BENCH_SECONDS, BENCH_CLIENTS, BENCH_DRAIN_EVENTS_200MS, BENCH_DRAIN_EVENTS_20MS,
BENCH_SINGLE_EVENTS, BENCH_VALIDATION_SECONDS (see each module). A benchmark module
that is not there (yet) is skipped; one that fails does not stop the others, and the
command then exits non-zero.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import summary

HERE = Path(__file__).resolve().parent
# (result name, module), in the order they run: in-process ones first, the stacks after.
BENCHMARKS = [
    ("validation-time", "benchmarks.validation_time"),
    ("import-time", "benchmarks.import_time"),
    ("accept-throughput", "benchmarks.accept_throughput"),
    ("ordering-drains", "benchmarks.ordering_drains"),
    ("single-session-drain", "benchmarks.single_session"),
    ("round-trips", "benchmarks.round_trips"),
]


def run(name: str, module: str) -> bool:
    if not (HERE / f"{module.rsplit('.', 1)[1]}.py").exists():
        print(f"== {name}: {module} is not there; skipped", flush=True)
        return True
    print(f"== {name} ({module})", flush=True)
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", module], cwd=HERE.parent)
    outcome = "done" if code == 0 else f"FAILED (exit {code})"
    print(f"== {name}: {outcome} in {time.monotonic() - started:.0f} s", flush=True)
    return code == 0


def main(chosen: list[str]) -> int:
    unknown = set(chosen) - {name for name, _ in BENCHMARKS}
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    started, clock = datetime.now(UTC), time.monotonic()
    failed = [
        name
        for name, module in BENCHMARKS
        if (not chosen or name in chosen) and not run(name, module)
    ]
    minutes = (time.monotonic() - clock) / 60
    text = summary.write([name for name, _ in BENCHMARKS], started, minutes)
    print(text)
    print(f"wrote {summary.DOC.relative_to(HERE.parent)} ({minutes:.1f} min)")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
