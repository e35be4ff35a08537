"""`python -m local.host`: the Functions of `function_app.py` on http://127.0.0.1:$PORT,
fed by the durable local session queue, with their timers. Expects storage to answer
(`python -m local.run` starts Azurite and the sandbox first)."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta
from pathlib import Path

import uvicorn

from local.functions_host import FunctionsHost
from local.servicebus.host_settings import ServiceBusSettings
from local.servicebus.queue_bus import LocalQueueBus
from local.servicebus.session_queue import LocalSessionQueue
from local.settings_loader import load_local_settings
from shared.config import Settings

log = logging.getLogger("local.host")


async def serve(port: int) -> None:
    from shared import bootstrap

    queue_path = Path(Settings().local_queue_path or ".local/queue.db")
    queue_path.parent.mkdir(parents=True, exist_ok=True)
    # Local-only knobs (tests shorten the locks so a killed host's work returns quickly).
    lock = timedelta(seconds=float(os.environ.get("LOCAL_QUEUE_LOCK_SECONDS", "60")))
    queue = LocalSessionQueue(
        str(queue_path),
        max_delivery_count=int(os.environ.get("LOCAL_QUEUE_MAX_DELIVERY_COUNT", "10")),
        lock_duration=lock,
        session_lock_duration=lock,
    )
    bootstrap.install_overrides(bus=LocalQueueBus(queue))
    import function_app

    host = FunctionsHost(function_app.app)
    bus_settings = ServiceBusSettings.from_host_json()
    log.info("Service Bus trigger settings from host.json: %s", bus_settings)
    stop = asyncio.Event()
    server = uvicorn.Server(
        uvicorn.Config(host.starlette(), host="127.0.0.1", port=port, log_level="warning")
    )

    async def run_server() -> None:
        # uvicorn owns SIGINT/SIGTERM; when it has stopped, so does everything else.
        try:
            await server.serve()
        finally:
            stop.set()

    try:
        await asyncio.gather(
            run_server(),
            host.dispatcher(queue, bus_settings).run(stop),
            host.run_timers(stop),
        )
    finally:
        await bootstrap.reset()
        queue.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    load_local_settings()
    asyncio.run(serve(int(os.environ.get("PORT", "7071"))))


if __name__ == "__main__":
    main()
