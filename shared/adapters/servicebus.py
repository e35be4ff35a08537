"""Sending to the session-enabled inbound queue with the azure-servicebus SDK.

The Functions output binding cannot set SessionId, hence the SDK; one client per
worker, authenticated by the managed identity.
"""

from __future__ import annotations

import json

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient, ServiceBusSender
from azure.servicebus.exceptions import ServiceBusError

from shared.config import Settings
from shared.errors import TransientError
from shared.ports import MessageBus, QueueMessage


class ServiceBusPublisher(MessageBus):
    def __init__(self, settings: Settings) -> None:
        from azure.identity.aio import DefaultAzureCredential

        self._credential = DefaultAzureCredential(
            managed_identity_client_id=settings.servicebus_client_id or settings.azure_client_id
        )
        self._client = ServiceBusClient(
            str(settings.servicebus_namespace), credential=self._credential
        )
        self._queue = settings.queue_name
        self._sender: ServiceBusSender | None = None

    async def send(self, message: QueueMessage) -> None:
        if self._sender is None:
            self._sender = self._client.get_queue_sender(self._queue)
        outgoing = ServiceBusMessage(
            json.dumps(message.body),
            message_id=message.message_id,  # duplicate detection keys on this
            session_id=message.session_id,
            content_type="application/json",
            application_properties={k: v for k, v in message.properties.items()},
            scheduled_enqueue_time_utc=message.scheduled_at,
        )
        try:
            await self._sender.send_messages(outgoing)
        except (ServiceBusError, AzureError) as exc:
            raise TransientError(f"Service Bus send failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.close()
        await self._client.close()
        await self._credential.close()
