"""The local host runs the Service Bus triggers as the Functions extension does with host.json's
settings, never kinder: a consumer holds its session until sessionIdleTimeout passes with no new
message, so many one-message sessions stall as they would on Azure.

These tests run the dispatcher for real, briefly; bounds on time are generous where the machine's
speed matters, and exact only where the model itself sets them (the idle timeout).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.functions.servicebus import ServiceBusMessage

from local.servicebus.host_settings import INFINITE, ServiceBusSettings, parse_timespan
from local.servicebus.queue_dispatcher import SessionQueueDispatcher
from local.servicebus.session_queue import LocalSessionQueue
from local.settings_loader import ROOT
from shared.domain.errors import TransientError
from shared.domain.models import IntegrationEvent
from shared.services.dead_letters import DeadLetterService
from tests.unit.fakes import FakeEventStore

Handler = Callable[[ServiceBusMessage], Awaitable[None]]


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[LocalSessionQueue]:
    with LocalSessionQueue(str(tmp_path / "queue.sqlite")) as q:
        yield q


def host_json(tmp_path: Path, service_bus: dict[str, Any], **root: Any) -> Path:
    path = tmp_path / "host.json"
    body = {"version": "2.0", "extensions": {"serviceBus": service_bus}, **root}
    path.write_text(json.dumps(body))
    return path


@asynccontextmanager
async def running(dispatcher: SessionQueueDispatcher) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    await asyncio.wait_for(dispatcher.listening.wait(), timeout=10)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def send(queue: LocalSessionQueue, message_id: str, session_id: str, **kw: Any) -> None:
    """As `LocalQueueBus` sends: through the same queue object, from a worker thread."""
    await asyncio.to_thread(queue.send, message_id, session_id, b"{}", **kw)


async def dead_letter(queue: LocalSessionQueue, message_id: str, body: bytes = b"{}") -> None:
    def move() -> None:
        queue.send(message_id, message_id, body)
        session = queue.accept_next_session("setup")
        assert session is not None
        msg = queue.receive(session, "setup")
        assert msg is not None
        queue.dead_letter(msg, "TestReason")
        queue.release_session(session, "setup")

    await asyncio.to_thread(move)


# --- host.json -------------------------------------------------------------------------


def test_the_host_reads_the_extension_settings_from_host_json() -> None:
    settings = ServiceBusSettings.from_host_json(ROOT / "host.json")
    assert settings.max_concurrent_sessions == 16
    assert settings.session_idle_timeout == timedelta(seconds=2)
    assert settings.max_concurrent_calls == 16
    assert settings.max_auto_lock_renewal_duration == timedelta(minutes=5)
    assert settings.prefetch_count == 0


def test_absent_settings_take_the_extensions_defaults(tmp_path: Path) -> None:
    settings = ServiceBusSettings.from_host_json(host_json(tmp_path, {}))
    assert settings.max_concurrent_sessions == 8
    assert settings.session_idle_timeout == timedelta(seconds=60)  # the client's TryTimeout
    assert settings.max_concurrent_calls == 16 * (os.cpu_count() or 1)
    assert settings.max_auto_lock_renewal_duration == timedelta(minutes=5)
    assert settings == ServiceBusSettings()

    retry = {"clientRetryOptions": {"tryTimeout": "00:00:30"}}
    from_retry = ServiceBusSettings.from_host_json(host_json(tmp_path, retry))
    assert from_retry.session_idle_timeout == timedelta(seconds=30)
    # Configuration keys are case-insensitive for the Functions host.
    upper = ServiceBusSettings.from_host_json(host_json(tmp_path, {"SessionIdleTimeout": "0:0:3"}))
    assert upper.session_idle_timeout == timedelta(seconds=3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00:10", timedelta(seconds=10)),
        ("00:05:00", timedelta(minutes=5)),
        ("1.02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("00:00:00.5", timedelta(milliseconds=500)),
        ("00:00:01.2500000", timedelta(seconds=1.25)),
        ("00:30", timedelta(minutes=30)),
        ("2", timedelta(days=2)),
        ("-00:00:00.0010000", INFINITE),
    ],
)
def test_timespans_read_as_dotnet_writes_them(text: str, expected: timedelta) -> None:
    assert parse_timespan(text) == expected


@pytest.mark.parametrize(
    ("service_bus", "root"),
    [
        ({"maxConcurrentCallsPerSession": 2}, {}),
        ({"autoCompleteMessages": False}, {}),
        ({"sessionIdleTimeout": "00:00:00"}, {}),
        ({"maxConcurrentSessions": 0}, {}),
        ({"sessionIdleTimeout": 10}, {}),
        ({}, {"concurrency": {"dynamicConcurrencyEnabled": True}}),
    ],
)
def test_settings_the_local_host_cannot_model_are_refused(
    tmp_path: Path, service_bus: dict[str, Any], root: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        ServiceBusSettings.from_host_json(host_json(tmp_path, service_bus, **root))


# --- the session idle hold -----------------------------------------------------------------


async def test_a_consumer_holds_its_session_until_the_idle_timeout_passes(
    tmp_path: Path, queue: LocalSessionQueue
) -> None:
    settings = ServiceBusSettings.from_host_json(
        host_json(tmp_path, {"maxConcurrentSessions": 1, "sessionIdleTimeout": "00:00:02"})
    )
    loop = asyncio.get_running_loop()
    spans: dict[str, tuple[float, float]] = {}
    first_done, all_done = asyncio.Event(), asyncio.Event()

    async def handler(msg: ServiceBusMessage) -> None:
        started = loop.time()
        await asyncio.sleep(0.01)
        spans[str(msg.message_id)] = (started, loop.time())
        first_done.set()
        if len(spans) == 3:
            all_done.set()

    await send(queue, "a1", "session-a")
    await send(queue, "b1", "session-b")
    async with running(SessionQueueDispatcher(queue, handler, settings)):
        await asyncio.wait_for(first_done.wait(), timeout=5)
        await asyncio.sleep(0.4)  # the consumer still holds session-a, idle
        sent_a2 = loop.time()
        await send(queue, "a2", "session-a")
        await asyncio.wait_for(all_done.wait(), timeout=10)

    assert sorted(spans, key=lambda m: spans[m][0]) == ["a1", "a2", "b1"]
    assert spans["a2"][0] - sent_a2 < 1.5  # the holder takes its session's new message at once
    # ...and only a full idle timeout after it does the consumer take another session.
    held_for = spans["b1"][0] - spans["a2"][1]
    assert 2.0 - 0.01 <= held_for < 6.0


async def test_one_message_sessions_stall_while_one_busy_session_does_not(
    queue: LocalSessionQueue,
) -> None:
    idle, slots, sessions = 1.0, 2, 6
    settings = ServiceBusSettings(
        max_concurrent_sessions=slots, session_idle_timeout=timedelta(seconds=idle)
    )

    async def drain(session_of: Callable[[int], str]) -> float:
        handled: list[str] = []
        done = asyncio.Event()

        async def handler(msg: ServiceBusMessage) -> None:
            handled.append(str(msg.message_id))
            if len(handled) == sessions:
                done.set()

        for n in range(sessions):
            await send(queue, f"{session_of(n)}-{n}", session_of(n))
        started = time.monotonic()
        async with running(SessionQueueDispatcher(queue, handler, settings)):
            await asyncio.wait_for(done.wait(), timeout=30)
            return time.monotonic() - started

    many = await drain(lambda n: f"record-{n}")
    one = await drain(lambda n: "integration")
    # Each consumer waits out the idle timeout after its one message before the next session.
    stall = (sessions / slots - 1) * idle
    assert one < stall <= many + 0.05


# --- waking idle consumers -------------------------------------------------------------------


async def test_an_in_process_send_wakes_an_idle_consumer_without_polling(tmp_path: Path) -> None:
    # One delivery at most, so the poison message is dead-lettered by its first failure.
    queue = LocalSessionQueue(str(tmp_path / "queue.sqlite"), max_delivery_count=1)
    loop = asyncio.get_running_loop()
    handled: dict[str, float] = {}
    arrived: dict[str, asyncio.Event] = {m: asyncio.Event() for m in ("a1", "a2", "dead")}
    settings = ServiceBusSettings(
        max_concurrent_sessions=2, session_idle_timeout=timedelta(seconds=60)
    )

    async def handler(msg: ServiceBusMessage) -> None:
        if msg.message_id == "poison":
            raise RuntimeError("cannot be processed")
        handled[str(msg.message_id)] = loop.time()
        arrived[str(msg.message_id)].set()

    async def dead_letter_handler(msg: ServiceBusMessage) -> None:
        handled["dead"] = loop.time()
        arrived["dead"].set()

    dispatcher = SessionQueueDispatcher(
        queue,
        handler,
        settings,
        dead_letter_handler=dead_letter_handler,
        fallback_poll_interval=30,  # far longer than the bounds below: only a wake-up helps
    )
    async with running(dispatcher):
        await asyncio.sleep(0.3)  # every consumer is idle
        for message_id in ("a1", "a2"):  # a new session, then a message for the held one
            sent = loop.time()
            await send(queue, message_id, "session-a")
            await asyncio.wait_for(arrived[message_id].wait(), timeout=20)
            assert handled[message_id] - sent < 5.0
        sent = loop.time()
        await send(queue, "poison", "session-b")  # fails, so it moves to the dead letters
        await asyncio.wait_for(arrived["dead"].wait(), timeout=20)
        assert handled["dead"] - sent < 5.0
    queue.close()


async def test_a_scheduled_message_is_taken_when_it_becomes_visible(
    queue: LocalSessionQueue,
) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    handled_at: list[float] = []

    async def handler(msg: ServiceBusMessage) -> None:
        handled_at.append(loop.time())
        done.set()

    dispatcher = SessionQueueDispatcher(queue, handler, fallback_poll_interval=30)
    async with running(dispatcher):
        sent = loop.time()
        due = datetime.now(UTC) + timedelta(seconds=0.5)
        await send(queue, "later", "session-a", scheduled_enqueue_time=due)
        await asyncio.wait_for(done.wait(), timeout=20)
    assert 0.45 <= handled_at[0] - sent < 8.0


async def test_a_send_from_another_process_is_found_by_the_fallback_poll(
    tmp_path: Path, queue: LocalSessionQueue
) -> None:
    done = asyncio.Event()

    async def handler(msg: ServiceBusMessage) -> None:
        done.set()

    other_process = LocalSessionQueue(str(tmp_path / "queue.sqlite"))
    async with running(SessionQueueDispatcher(queue, handler, fallback_poll_interval=0.2)):
        await asyncio.sleep(0.3)
        await send(other_process, "m1", "session-a")
        await asyncio.wait_for(done.wait(), timeout=10)
    other_process.close()


# --- concurrency, dead letters and locks ---------------------------------------------------


async def test_at_most_max_concurrent_sessions_are_worked_on_at_once(
    queue: LocalSessionQueue,
) -> None:
    settings = ServiceBusSettings(
        max_concurrent_sessions=2, session_idle_timeout=timedelta(seconds=0.2)
    )
    busy, peak, handled = 0, 0, 0
    done = asyncio.Event()

    async def handler(msg: ServiceBusMessage) -> None:
        nonlocal busy, peak, handled
        busy += 1
        peak = max(peak, busy)
        await asyncio.sleep(0.5)
        busy -= 1
        handled += 1
        if handled == 5:
            done.set()

    for n in range(5):
        await send(queue, f"m{n}", f"session-{n}")
    async with running(SessionQueueDispatcher(queue, handler, settings)):
        await asyncio.wait_for(done.wait(), timeout=20)
    assert peak == 2


async def test_dead_letter_consumers_honour_max_concurrent_calls(
    queue: LocalSessionQueue,
) -> None:
    settings = ServiceBusSettings(max_concurrent_calls=2)
    busy, peak, handled = 0, 0, 0
    done = asyncio.Event()

    async def dead_letter_handler(msg: ServiceBusMessage) -> None:
        nonlocal busy, peak, handled
        busy += 1
        peak = max(peak, busy)
        await asyncio.sleep(0.5)
        busy -= 1
        handled += 1
        if handled == 4:
            done.set()

    async def handler(msg: ServiceBusMessage) -> None:
        raise AssertionError("no session messages here")

    for n in range(4):
        await dead_letter(queue, f"poison-{n}")
    dispatcher = SessionQueueDispatcher(
        queue, handler, settings, dead_letter_handler=dead_letter_handler
    )
    async with running(dispatcher):
        await asyncio.wait_for(done.wait(), timeout=10)
    assert peak == 2


async def test_a_failing_dead_letter_handler_gets_the_message_back_at_once(
    queue: LocalSessionQueue,
) -> None:
    deliveries: list[int | None] = []
    done = asyncio.Event()

    async def dead_letter_handler(msg: ServiceBusMessage) -> None:
        deliveries.append(msg.delivery_count)
        if len(deliveries) < 3:
            raise RuntimeError("storage unavailable")
        done.set()

    async def handler(msg: ServiceBusMessage) -> None:
        raise AssertionError("no session messages here")

    await dead_letter(queue, "poison")
    started = time.monotonic()
    dispatcher = SessionQueueDispatcher(queue, handler, dead_letter_handler=dead_letter_handler)
    async with running(dispatcher):
        await asyncio.wait_for(done.wait(), timeout=10)
    # Abandoned, not left to its 60-second lock: a dead letter cannot be dead-lettered again.
    assert time.monotonic() - started < 30
    assert deliveries == [2, 3, 4]  # the first delivery was the one that dead-lettered it
    assert queue.counts()["dead_lettered"] == 0


class UnavailableEventStore(FakeEventStore):
    """Storage is down: every read fails as the Table adapter's do."""

    async def get(self, integration_id: str, event_id: str, shards: int) -> IntegrationEvent | None:
        raise TransientError("Table Storage unavailable: ServiceRequestError")


async def test_a_storage_outage_in_the_dead_letter_function_is_not_a_loop(
    queue: LocalSessionQueue,
) -> None:
    """The dead-letter consumer redelivers a failed dead letter at once, as Azure does (the
    test above). While storage is down the core completes the dead letter instead of
    raising, leaving its event to the timer: one execution, not one per millisecond."""
    service = DeadLetterService(UnavailableEventStore(), lambda: datetime.now(UTC))
    runs = {"core": 0, "raising": 0}
    first_run = {"core": asyncio.Event(), "raising": asyncio.Event()}

    def dead_letter_function(name: str, *, reraise: bool) -> Handler:
        async def function(msg: ServiceBusMessage) -> None:
            runs[name] += 1
            first_run[name].set()
            # what function_app.dead_lettered_event does
            status = await service.handle(
                msg.get_body(),
                msg.application_properties,
                msg.message_id,
                reason=msg.dead_letter_reason,
                description=msg.dead_letter_error_description,
            )
            if reraise and status == "deferred":
                raise TransientError("storage unavailable")  # what raising would do

        return function

    async def handler(msg: ServiceBusMessage) -> None:
        raise AssertionError("no session messages here")

    ref = {"eventId": "0190d6e4-0000-7000-8000-000000000000", "integrationId": "i1", "shards": 4}
    for name, reraise in (("core", False), ("raising", True)):
        await dead_letter(queue, f"poison-{name}", json.dumps(ref).encode())
        dispatcher = SessionQueueDispatcher(
            queue, handler, dead_letter_handler=dead_letter_function(name, reraise=reraise)
        )
        async with running(dispatcher):
            await asyncio.wait_for(first_run[name].wait(), timeout=10)
            await asyncio.sleep(1.0)  # a second after its first run
    assert runs["core"] == 1  # completed: nothing comes back
    assert runs["raising"] > 20  # a function that raised would run in a tight loop
    assert [m.message_id for m in queue.peek(dead_lettered=True)] == ["poison-raising"]


async def test_session_locks_lapse_after_max_auto_lock_renewal_duration(tmp_path: Path) -> None:
    second = timedelta(seconds=1)
    queue = LocalSessionQueue(
        str(tmp_path / "queue.sqlite"), lock_duration=second, session_lock_duration=second
    )
    settings = ServiceBusSettings(
        max_auto_lock_renewal_duration=second, session_idle_timeout=timedelta(seconds=0.2)
    )
    deliveries: list[int | None] = []
    done = asyncio.Event()

    async def handler(msg: ServiceBusMessage) -> None:
        deliveries.append(msg.delivery_count)
        if msg.delivery_count == 1:
            await asyncio.sleep(2.5)  # outlives the renewal limit and then the lock
        else:
            done.set()

    await send(queue, "slow", "session-a")
    async with running(SessionQueueDispatcher(queue, handler, settings)):
        await asyncio.wait_for(done.wait(), timeout=15)
    assert deliveries == [1, 2]  # the first completion failed, so it came back
    queue.close()
