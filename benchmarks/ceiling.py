"""The raw ceiling of the accept path on this machine: the least an accept can do.

A bare ASGI app under uvicorn, one Python process like the local Functions host, whose
only route records the body with one Azurite table insert (azure-data-tables, async)
and sends it to a local session queue (in a worker thread, as `local.servicebus.queue_bus` does),
then answers 202 with a messageId. No auth, no validation, no idempotency, no worker.
The product's accept throughput is compared with this under the same clients.

    PORT=8123 CEILING_STORAGE=<connection string> CEILING_QUEUE_PATH=/tmp/q.db \
        .venv/bin/python -m benchmarks.ceiling
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from azure.data.tables.aio import TableClient

from local.servicebus.session_queue import LocalSessionQueue

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
TABLE = "ceiling"


class Ceiling:
    def __init__(self, storage: str, queue_path: str) -> None:
        self._storage, self._queue_path = storage, queue_path
        self._table: TableClient | None = None
        self._queue: LocalSessionQueue | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._table = TableClient.from_connection_string(self._storage, TABLE)
                await self._table.create_table()
                self._queue = LocalSessionQueue(self._queue_path)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._table:
                    await self._table.close()
                if self._queue:
                    self._queue.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/health":
            await _answer(send, 200, {"status": "ok"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        assert self._table is not None and self._queue is not None
        message_id = str(uuid.uuid4())
        await self._table.create_entity(
            {"PartitionKey": "bench", "RowKey": message_id, "Body": body.decode()}
        )
        await asyncio.to_thread(self._queue.send, message_id, "bench", body)
        await _answer(send, 202, {"messageId": message_id})


async def _answer(send: Send, status: int, document: dict[str, str]) -> None:
    content = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def main() -> None:
    app = Ceiling(os.environ["CEILING_STORAGE"], os.environ["CEILING_QUEUE_PATH"])
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")


if __name__ == "__main__":
    main()
