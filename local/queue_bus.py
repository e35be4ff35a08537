"""The MessageBus port on the local session queue (what Service Bus is in Azure)."""

from __future__ import annotations

import asyncio
import json

from local.session_queue import LocalSessionQueue
from shared.domain.models import QueueMessage
from shared.services.ports import MessageBus


class LocalQueueBus(MessageBus):
    def __init__(self, queue: LocalSessionQueue) -> None:
        self._queue = queue

    async def send(self, message: QueueMessage) -> None:
        await asyncio.to_thread(
            self._queue.send,
            message.message_id,
            message.session_id,
            json.dumps(message.body).encode(),
            application_properties=dict(message.properties),
            scheduled_enqueue_time=message.scheduled_at,
        )
