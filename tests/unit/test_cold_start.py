"""A cold start imports `function_app` before anything else can happen, so the app's
import loads no SDK or client library: they load when the container is first built.
Checked in a fresh interpreter by what is loaded, not by a time, so it holds on any
machine (`benchmarks/import_time.py` measures the time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The heavy ones. The Functions library and the core's light modules (errors, records,
# the HTTP handlers) may load; the settings, the actions' models and the services come
# with the first invocation.
LOADED_ON_FIRST_USE = (
    "pydantic",
    "pydantic_settings",
    "shared.config",
    "shared.services.ports",
    "actions",
    "azure.core",
    "azure.data.tables",
    "azure.storage.blob",
    "azure.servicebus",
    "azure.identity",
    "azure.keyvault",
    "azure.monitor.opentelemetry",
    "aiohttp",
    "httpx",
    "opentelemetry",
)

PROBE = """
import json, sys
import function_app
heavy = tuple(sys.argv[1:])
print(json.dumps({
    "functions": len(function_app.app.get_functions()),
    "loaded": sorted({m for m in sys.modules for h in heavy if m == h or m.startswith(h + ".")}),
}))
"""


def test_importing_the_app_loads_no_sdk_or_client_library() -> None:
    # Without Application Insights configured: with it, the exporter loads on purpose.
    env = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *LOADED_ON_FIRST_USE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["functions"] > 0, "the app registered no functions"
    assert found["loaded"] == [], "loaded at import instead of on first use"
