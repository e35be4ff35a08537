"""The local session queue behaves like a session-enabled Service Bus queue.

Queue tests move a fake clock instead of sleeping; dispatcher tests run for real but briefly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.functions.servicebus import ServiceBusMessage

from local.servicebus.queue_dispatcher import SessionQueueDispatcher
from local.servicebus.session_queue import (
    MAX_DELIVERY_COUNT_EXCEEDED,
    LocalSessionQueue,
    LockedMessage,
    MessageLockLostError,
    SessionLockLostError,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "queue.sqlite")


@pytest.fixture
def queue(path: str, clock: FakeClock) -> Iterator[LocalSessionQueue]:
    with LocalSessionQueue(path, max_delivery_count=3, now=clock) as q:
        yield q


# The trigger metadata keys extension 5.x gives a single received message (besides its
# settlement objects), from ServiceBusTriggerBindingStrategy.GetBindingData.
EXTENSION_5_METADATA = {
    "DeliveryCount", "DeadLetterSource", "LockToken", "ExpiresAtUtc", "ExpiresAt",
    "EnqueuedTimeUtc", "EnqueuedTime", "MessageId", "ContentType", "ReplyTo", "SequenceNumber",
    "To", "Subject", "Label", "CorrelationId", "ApplicationProperties", "UserProperties",
    "SessionId", "ReplyToSessionId", "PartitionKey", "TransactionPartitionKey",
}  # fmt: skip


def receive_one(queue: LocalSessionQueue, consumer: str = "c1") -> LockedMessage:
    session = queue.accept_next_session(consumer)
    assert session is not None
    msg = queue.receive(session, consumer)
    assert msg is not None
    return msg


def test_duplicate_message_id_is_dropped_within_the_window(
    queue: LocalSessionQueue, clock: FakeClock
) -> None:
    assert queue.send("m1", "s1", b"{}")
    assert not queue.send("m1", "s2", b"{}")
    assert queue.counts()["active"] == 1
    clock.advance(minutes=11)
    assert queue.send("m1", "s1", b"{}")
    assert queue.counts()["active"] == 2


def test_scheduled_message_is_invisible_until_its_time(
    queue: LocalSessionQueue, clock: FakeClock
) -> None:
    queue.send("m1", "s1", b"{}", scheduled_enqueue_time=clock.now + timedelta(minutes=5))
    assert queue.counts()["scheduled"] == 1
    assert queue.accept_next_session("c1") is None
    clock.advance(minutes=5)
    assert receive_one(queue).message_id == "m1"


def test_sessions_are_fifo_and_held_by_one_consumer(queue: LocalSessionQueue) -> None:
    queue.send("a1", "s1", b"1", application_properties={"kind": "x", "n": 1, "ok": True})
    queue.send("b1", "s2", b"1")
    queue.send("a2", "s1", b"2")
    assert queue.accept_next_session("c1") == "s1"  # oldest head message first
    assert queue.accept_next_session("c2") == "s2"
    assert queue.accept_next_session("c3") is None
    with pytest.raises(SessionLockLostError):
        queue.receive("s1", "c2")

    first = queue.receive("s1", "c1")
    assert first is not None
    assert (first.message_id, first.delivery_count, first.body) == ("a1", 1, b"1")
    assert first.application_properties == {"kind": "x", "n": 1, "ok": True}
    assert queue.receive("s1", "c1") is None  # a2 waits until a1 is settled
    queue.complete(first)
    second = queue.receive("s1", "c1")
    assert second is not None and second.message_id == "a2"
    assert second.sequence_number > first.sequence_number


def test_expired_session_lock_moves_the_session_and_voids_its_message_locks(
    queue: LocalSessionQueue, clock: FakeClock
) -> None:
    queue.send("m1", "s1", b"{}")
    stale = receive_one(queue, "c1")
    clock.advance(seconds=30)
    queue.renew_session_lock("s1", "c1")  # now held until t=90s
    queue.renew_message_lock(stale)
    clock.advance(seconds=59)
    queue.renew_message_lock(stale)  # the message lock alone would last until t=149s
    assert queue.accept_next_session("c2") is None
    clock.advance(seconds=2)
    assert queue.accept_next_session("c2") == "s1"
    with pytest.raises(MessageLockLostError):
        queue.complete(stale)
    with pytest.raises(SessionLockLostError):
        queue.receive("s1", "c1")
    fresh = queue.receive("s1", "c2")
    assert fresh is not None and fresh.delivery_count == 2
    queue.release_session("s1", "c2")  # unsettled messages go back with the session
    assert receive_one(queue, "c3").delivery_count == 3


def test_expired_peek_lock_is_redelivered(path: str, clock: FakeClock) -> None:
    queue = LocalSessionQueue(path, session_lock_duration=timedelta(hours=1), now=clock)
    queue.send("m1", "s1", b"{}")
    first = receive_one(queue)
    clock.advance(seconds=61)
    again = queue.receive("s1", "c1")
    assert again is not None
    assert (again.message_id, again.delivery_count) == ("m1", 2)
    assert again.lock_token != first.lock_token
    with pytest.raises(MessageLockLostError):
        queue.complete(first)
    queue.complete(again)
    assert queue.counts()["active"] == 0


def test_abandon_counts_deliveries_then_dead_letters(queue: LocalSessionQueue) -> None:
    queue.send("m1", "s1", b"body", application_properties={"tenant": "t1"})
    session = queue.accept_next_session("c1")
    assert session == "s1"
    for expected in (1, 2, 3):
        msg = queue.receive(session, "c1")
        assert msg is not None and msg.delivery_count == expected
        queue.abandon(msg)
    assert queue.receive(session, "c1") is None
    assert queue.counts()["dead_lettered"] == 1

    dead = queue.receive_dead_letter("ops")
    assert dead is not None
    assert (dead.message_id, dead.session_id, dead.body) == ("m1", "s1", b"body")
    # As Service Bus does, the queue writes why into the message's application properties.
    assert dead.application_properties == {
        "tenant": "t1",
        "DeadLetterReason": MAX_DELIVERY_COUNT_EXCEEDED,
        "DeadLetterErrorDescription": "Message could not be consumed after 3 delivery attempts.",
    }
    assert dead.dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED
    queue.complete_dead_letter(dead)
    assert queue.counts()["dead_lettered"] == 0


def test_expired_locks_also_count_towards_max_delivery(path: str, clock: FakeClock) -> None:
    queue = LocalSessionQueue(
        path, max_delivery_count=2, session_lock_duration=timedelta(hours=1), now=clock
    )
    queue.send("m1", "s1", b"{}")
    receive_one(queue)
    clock.advance(seconds=61)
    assert queue.receive("s1", "c1") is not None
    clock.advance(seconds=61)
    assert queue.receive("s1", "c1") is None
    assert queue.peek(dead_lettered=True)[0].dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED


def test_explicit_dead_letter_keeps_reason_and_description(queue: LocalSessionQueue) -> None:
    queue.send("m1", "s1", b"{}")
    queue.dead_letter(receive_one(queue), "ValidationFailed", "missing field 'id'")
    assert queue.counts()["dead_lettered"] == 1

    dead = queue.receive_dead_letter("ops")
    assert dead is not None
    assert dead.application_properties == {
        "DeadLetterReason": "ValidationFailed",
        "DeadLetterErrorDescription": "missing field 'id'",
    }
    assert dead.dead_letter_reason == "ValidationFailed"
    assert dead.dead_letter_error_description == "missing field 'id'"
    assert queue.receive_dead_letter("ops2") is None  # locked by ops
    queue.abandon_dead_letter(dead)
    again = queue.receive_dead_letter("ops2")
    assert again is not None and again.message_id == "m1"


def test_messages_survive_a_crashed_worker(path: str, clock: FakeClock) -> None:
    crashed = LocalSessionQueue(path, now=clock)
    crashed.send("m1", "s1", b"payload")
    locked = receive_one(crashed, "worker-a")
    crashed.close()  # no settle: the worker died holding the session and the message

    restarted = LocalSessionQueue(path, now=clock)
    assert restarted.counts()["locked"] == 1
    assert restarted.accept_next_session("worker-b") is None
    assert not restarted.send("m1", "s1", b"payload")  # duplicate detection persisted too
    clock.advance(seconds=61)
    again = receive_one(restarted, "worker-b")
    assert (again.message_id, again.body, again.delivery_count) == ("m1", b"payload", 2)
    assert restarted.send("m2", "s1", b"{}")
    assert restarted.peek("s1")[-1].sequence_number > locked.sequence_number
    restarted.close()


def test_two_handles_on_one_file_share_the_queue(path: str, clock: FakeClock) -> None:
    with LocalSessionQueue(path, now=clock) as sender, LocalSessionQueue(path, now=clock) as rx:
        sender.send("m1", "s1", b"{}")
        msg = receive_one(rx)
        assert sender.accept_next_session("other") is None  # rx holds the session
        rx.complete(msg)
        assert sender.counts()["active"] == 0


async def run_until(dispatcher: SessionQueueDispatcher, done: asyncio.Event) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


@pytest.mark.asyncio
async def test_dispatcher_runs_sessions_concurrently_each_in_order(path: str) -> None:
    queue = LocalSessionQueue(path)
    for n in range(3):
        for session in ("s1", "s2"):
            queue.send(f"{session}-{n}", session, str(n).encode())
    seen: dict[str, list[bytes]] = {"s1": [], "s2": []}
    both_started = asyncio.Barrier(2)  # only passes if both sessions are in handlers at once
    done = asyncio.Event()

    async def handler(msg: ServiceBusMessage) -> None:
        assert msg.session_id is not None
        if msg.get_body() == b"0":
            await asyncio.wait_for(both_started.wait(), timeout=5)
        await asyncio.sleep(0.01)
        seen[msg.session_id].append(msg.get_body())
        if sum(map(len, seen.values())) == 6:
            done.set()

    await run_until(SessionQueueDispatcher(queue, handler), done)
    assert seen == {"s1": [b"0", b"1", b"2"], "s2": [b"0", b"1", b"2"]}
    assert queue.counts()["active"] == 0
    queue.close()


@pytest.mark.asyncio
async def test_dispatcher_retries_a_failing_handler_then_dead_letters(path: str) -> None:
    queue = LocalSessionQueue(path, max_delivery_count=3)
    queue.send("m1", "s1", b"{}")
    attempts: list[int | None] = []
    dead: list[ServiceBusMessage] = []
    done = asyncio.Event()

    async def handler(msg: ServiceBusMessage) -> None:
        attempts.append(msg.delivery_count)
        raise RuntimeError("downstream unavailable")

    async def dead_letter_handler(msg: ServiceBusMessage) -> None:
        dead.append(msg)
        done.set()

    dispatcher = SessionQueueDispatcher(queue, handler, dead_letter_handler=dead_letter_handler)
    await run_until(dispatcher, done)
    assert attempts == [1, 2, 3]
    assert [(m.message_id, m.session_id) for m in dead] == [("m1", "s1")]
    # As on Azure: the reason is in the application properties; extension 5.x passes no
    # DeadLetterReason metadata, so the message's own field stays empty.
    assert dead[0].application_properties["DeadLetterReason"] == MAX_DELIVERY_COUNT_EXCEEDED
    assert dead[0].dead_letter_reason is None
    assert dead[0].dead_letter_error_description is None
    assert dead[0].metadata is not None and "DeadLetterReason" not in dead[0].metadata
    assert queue.counts()["dead_lettered"] == 0  # the dead-letter handler completed it
    queue.close()


@pytest.mark.asyncio
async def test_dispatcher_stop_lets_the_in_flight_handler_finish(path: str) -> None:
    queue = LocalSessionQueue(path)
    queue.send("m1", "s1", b"{}")
    queue.send("m2", "s1", b"{}")
    started, release = asyncio.Event(), asyncio.Event()
    handled: list[str | None] = []

    async def handler(msg: ServiceBusMessage) -> None:
        started.set()
        await release.wait()
        handled.append(msg.message_id)

    stop = asyncio.Event()
    task = asyncio.create_task(SessionQueueDispatcher(queue, handler).run(stop))
    await asyncio.wait_for(started.wait(), timeout=5)
    stop.set()
    release.set()
    await asyncio.wait_for(task, timeout=5)
    assert handled == ["m1"]  # completed, and m2 was not started after stop
    assert [m.message_id for m in queue.peek()] == ["m2"]
    assert queue.counts()["locked"] == 0
    queue.close()


@pytest.mark.asyncio
async def test_handler_gets_a_functions_service_bus_message(path: str) -> None:
    queue = LocalSessionQueue(path)
    queue.send("m1", "s1", b'{"a": 1}', application_properties={"tenant": "t1"})
    received: list[ServiceBusMessage] = []
    done = asyncio.Event()

    async def handler(msg: ServiceBusMessage) -> None:
        received.append(msg)
        done.set()

    await run_until(SessionQueueDispatcher(queue, handler), done)
    (msg,) = received
    assert isinstance(msg, ServiceBusMessage)
    assert (msg.message_id, msg.session_id, msg.delivery_count) == ("m1", "s1", 1)
    assert msg.get_body() == b'{"a": 1}'
    assert msg.application_properties == {"tenant": "t1"}
    assert msg.content_type == "application/json"
    assert msg.lock_token and msg.sequence_number
    assert msg.metadata is not None
    assert msg.metadata["SessionId"] == "s1"
    assert msg.metadata["DeliveryCount"] == 1
    assert msg.metadata["ApplicationProperties"] == {"tenant": "t1"}
    # Only metadata the extension 5.x sends (ServiceBusTriggerBindingStrategy.GetBindingData),
    # so fields it does not fill stay empty here as on Azure.
    assert set(msg.metadata) <= EXTENSION_5_METADATA
    assert msg.locked_until is None and msg.expires_at_utc is None
    queue.close()
