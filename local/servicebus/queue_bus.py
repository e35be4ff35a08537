"""The MessageBus port on the local session queue (what Service Bus is in Azure).

A send that cannot reach the queue fails as `TransientError`, as the Service Bus
adapter's does, so callers treat both alike (the accept path still answers 202 and the
timer sends the event later). SQLite's errors for an unavailable file (locked past its
busy timeout, an I/O error) are translated, and a send still waiting for the file after
`SEND_TIMEOUT_SECONDS` is given up: like a Service Bus send that timed out, its outcome
is unknown (it may still land, and duplicate detection on the message id drops the
timer's second send of it).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

from local.servicebus.session_queue import LocalSessionQueue
from shared.domain.errors import TransientError
from shared.domain.models import QueueMessage
from shared.services.ports import MessageBus

# Sends wait behind every other use of the queue file (one connection, serialised), so
# without a bound a locked file would hold an accepting request for the whole outage.
SEND_TIMEOUT_SECONDS = 5.0


class LocalQueueBus(MessageBus):
    def __init__(self, queue: LocalSessionQueue) -> None:
        self._queue = queue

    async def send(self, message: QueueMessage) -> None:
        sending = asyncio.to_thread(
            self._queue.send,
            message.message_id,
            message.session_id,
            json.dumps(message.body).encode(),
            application_properties=dict(message.properties),
            scheduled_enqueue_time=message.scheduled_at,
        )
        try:
            await asyncio.wait_for(sending, SEND_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise TransientError(
                f"Local queue send timed out after {SEND_TIMEOUT_SECONDS:g} s"
            ) from exc
        except sqlite3.OperationalError as exc:
            raise TransientError(f"Local queue send failed: {exc}") from exc
