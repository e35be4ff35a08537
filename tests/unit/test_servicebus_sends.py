"""Concurrent sends through the Service Bus adapter never share an SDK sender, whose
clients are not coroutine-safe (Azure/azure-sdk-for-python#35618)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from azure.servicebus.exceptions import ServiceBusError

from shared.adapters.servicebus import SENDERS, ServiceBusPublisher
from shared.domain.errors import TransientError
from shared.domain.models import QueueMessage
from tests.unit.fakes import unit_settings


class RecordingSender:
    """Stands in for `ServiceBusSender`: fails the test if two sends overlap in it."""

    def __init__(self, fail: bool = False) -> None:
        self.busy, self.fail, self.closed = False, fail, False
        self.sent: list[Any] = []

    async def send_messages(self, message: Any) -> None:
        assert not self.busy, "two coroutines sent through one sender at once"
        self.busy = True
        await asyncio.sleep(0.001)  # the wire: other sends run meanwhile
        self.busy = False
        if self.fail:
            raise ServiceBusError("link detached")
        self.sent.append(message)

    async def close(self) -> None:
        self.closed = True


class RecordingClient:
    """Stands in for `ServiceBusClient` (one connection); counts the senders opened."""

    def __init__(self, failing: int = 0) -> None:
        self.senders: list[RecordingSender] = []
        self.failing = failing

    def get_queue_sender(self, queue_name: str) -> RecordingSender:
        sender = RecordingSender(fail=len(self.senders) < self.failing)
        self.senders.append(sender)
        return sender

    async def close(self) -> None:
        pass


def message(n: int) -> QueueMessage:
    return QueueMessage(f"m{n}", "int_x", {"eventId": f"e{n}", "integrationId": "int_x"})


async def test_concurrent_sends_each_hold_a_sender_of_their_own() -> None:
    client = RecordingClient()
    publisher = ServiceBusPublisher(unit_settings(), client=client)  # type: ignore[arg-type]
    await asyncio.gather(*(publisher.send(message(n)) for n in range(200)))
    sent = [m.message_id for s in client.senders for m in s.sent]
    assert sorted(sent) == sorted(f"m{n}" for n in range(200))
    # the senders are reused over the one connection, never one per send
    assert 1 < len(client.senders) <= SENDERS


async def test_a_sender_that_failed_is_closed_and_replaced() -> None:
    client = RecordingClient(failing=1)
    publisher = ServiceBusPublisher(unit_settings(), client=client)  # type: ignore[arg-type]
    with pytest.raises(TransientError):
        await publisher.send(message(1))
    await publisher.send(message(2))
    broken, fresh = client.senders
    assert broken.closed and [m.message_id for m in fresh.sent] == ["m2"]
