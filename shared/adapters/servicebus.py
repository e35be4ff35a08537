"""Sending to the session-enabled inbound queue with the azure-servicebus SDK.

The Functions output binding cannot set SessionId, hence the SDK; one client (one
AMQP connection) per worker, authenticated by the managed identity.

The SDK's senders are not coroutine-safe: two coroutines sending through one
`ServiceBusSender` at once race inside it (Azure/azure-sdk-for-python#35618). Inbound
requests and the timer send concurrently, so each send borrows a sender of its own
from a small pool over the one connection: no sender is ever shared by two sends in
flight, and no send opens a connection of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient, ServiceBusSender
from azure.servicebus.exceptions import ServiceBusError

from shared.config import Settings
from shared.domain.errors import TransientError
from shared.domain.models import QueueMessage
from shared.services.ports import MessageBus

# Senders (AMQP links on the one connection) a worker keeps for concurrent sends;
# a send past this many in flight waits for one to come back.
SENDERS = 8


class ServiceBusPublisher(MessageBus):
    def __init__(self, settings: Settings, client: ServiceBusClient | None = None) -> None:
        self._credential: Any = None
        if client is None:
            from azure.identity.aio import DefaultAzureCredential

            self._credential = DefaultAzureCredential(
                managed_identity_client_id=settings.servicebus_client_id or settings.azure_client_id
            )
            client = ServiceBusClient(
                str(settings.servicebus_namespace), credential=self._credential
            )
        self._client = client
        self._queue = settings.queue_name
        self._idle: list[ServiceBusSender] = []
        self._slots = asyncio.Semaphore(SENDERS)

    async def send(self, message: QueueMessage) -> None:
        outgoing = ServiceBusMessage(
            json.dumps(message.body),
            message_id=message.message_id,  # duplicate detection keys on this
            session_id=message.session_id,
            content_type="application/json",
            application_properties={k: v for k, v in message.properties.items()},
            scheduled_enqueue_time_utc=message.scheduled_at,
        )
        async with self._slots:
            sender = self._idle.pop() if self._idle else self._client.get_queue_sender(self._queue)
            try:
                await sender.send_messages(outgoing)
            except (ServiceBusError, AzureError) as exc:
                # A sender that failed may be broken: close it; a fresh one replaces it.
                with contextlib.suppress(Exception):
                    await sender.close()
                raise TransientError(f"Service Bus send failed: {type(exc).__name__}") from exc
            self._idle.append(sender)

    async def close(self) -> None:
        senders, self._idle = self._idle, []
        for sender in senders:
            await sender.close()
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()
