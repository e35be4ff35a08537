"""Feeds the local session queue to the Service Bus-triggered functions as the Functions host's
Service Bus extension would, with the extension's settings from host.json (`ServiceBusSettings`).

Up to `maxConcurrentSessions` consumers each accept one session and hand its messages to the
handler one at a time, in order. A consumer keeps its session until `sessionIdleTimeout` passes
with no new message after the last one was settled, and only then takes another: sessions with
one message each drain at about maxConcurrentSessions / sessionIdleTimeout messages per second,
as on Azure. A handler that returns completes its message (autoCompleteMessages); one that raises
abandons it, so the delivery count grows until the queue dead-letters it. The session lock, which
on Service Bus also holds the in-flight message, is renewed until `maxAutoLockRenewalDuration`
after the session was accepted; then the locks lapse and the consumer loses the session. The
dead-letter function is fed by `DeadLetterConsumers`.

Idle consumers sleep until this process's queue handle announces a message (`LocalQueueBus`
sends through the same handle) or a watcher, reading the file every `fallback_poll_interval`,
sees work nobody announced: sends by other processes, expired locks. SQLite calls run in worker
threads (`asyncio.to_thread`) so a busy database file never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from local.servicebus.dead_letter_consumers import DeadLetterConsumers, Handler
from local.servicebus.functions_message import to_functions_message
from local.servicebus.host_settings import ServiceBusSettings
from local.servicebus.session_queue import (
    Arrival,
    LocalSessionQueue,
    LockedMessage,
    MessageLockLostError,
    SessionLockLostError,
)
from local.servicebus.wakeups import WakeQueue, sleep_until, wake

log = logging.getLogger(__name__)


@dataclass
class _Lease:
    """A session one consumer holds, shared with its lock-renewal task."""

    session_id: str
    consumer_id: str
    accepted: float  # loop time the session was accepted
    in_flight: LockedMessage | None = None
    arrival: asyncio.Future[None] | None = None  # resolved when a message for it is announced


class SessionQueueDispatcher:
    def __init__(
        self,
        queue: LocalSessionQueue,
        handler: Handler,
        settings: ServiceBusSettings | None = None,
        *,
        dead_letter_handler: Handler | None = None,
        lock_renewal_interval: timedelta | None = None,
        fallback_poll_interval: float = 0.5,
    ) -> None:
        self._queue = queue
        self._handler = handler
        self.settings = settings or ServiceBusSettings()  # the extension's defaults
        self._idle_timeout = self.settings.session_idle_timeout.total_seconds()
        self._max_renewal = self.settings.max_auto_lock_renewal_duration.total_seconds()
        # Renew well before the shorter lock runs out, leaving room for a slow database.
        shortest = min(queue.lock_duration, queue.session_lock_duration)
        self._renew_every = (lock_renewal_interval or shortest / 3).total_seconds()
        self._fallback = fallback_poll_interval
        # Unique per dispatcher so another process (or a restart) never shares our locks.
        self._name = f"dispatcher-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._held: dict[str, _Lease] = {}
        self._acceptors = WakeQueue()
        self._dead_letters = (
            None
            if dead_letter_handler is None
            else DeadLetterConsumers(
                queue,
                dead_letter_handler,
                self.settings,
                renew_every=self._renew_every,
                retry_after=fallback_poll_interval,
            )
        )
        self._stopped: asyncio.Future[Any] | None = None  # completes when run() is told to stop
        # Set once run() hears this process's sends: a message sent before that (a
        # scheduled one above all) is found by the watcher's poll instead.
        self.listening = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; in-flight handlers finish and are settled first."""
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.ensure_future(stop.wait())

        def announced_elsewhere(arrival: Arrival) -> None:  # called from the sender's thread
            loop.call_soon_threadsafe(self._announced, arrival)

        unsubscribe = self._queue.subscribe(announced_elsewhere)
        self.listening.set()
        consumers = [
            self._session_loop(f"{self._name}-{n}", stop)
            for n in range(self.settings.max_concurrent_sessions)
        ]
        if self._dead_letters is not None:
            consumers.append(self._dead_letters.run(self._name, stop, self._stopped))
        try:
            await asyncio.gather(self._watch(stop), *consumers)
        finally:
            unsubscribe()
            self._stopped.cancel()

    async def _sleep(
        self, woken: asyncio.Future[None] | None = None, at_most: float | None = None
    ) -> None:
        assert self._stopped is not None, "only while running"
        await sleep_until(self._stopped, woken, at_most)

    def _announced(self, arrival: Arrival) -> None:
        """On the loop: wake the consumer this message is for, if one is idle."""
        if arrival.delay > 0:  # a scheduled message: look when it becomes visible
            later = replace(arrival, delay=0.0)
            asyncio.get_running_loop().call_later(arrival.delay, self._announced, later)
        elif arrival.dead_lettered:
            if self._dead_letters is not None:
                self._dead_letters.waiting.wake_one()
        elif (lease := self._held.get(arrival.session_id)) is not None:
            wake(lease.arrival)  # its holder takes it; if busy, it looks again when done
        else:
            self._acceptors.wake_one()

    async def _watch(self, stop: asyncio.Event) -> None:
        """The fallback for work nobody in this process announced."""
        while not stop.is_set():
            await self._sleep(at_most=self._fallback)
            try:
                free_session, dead_letter = await asyncio.to_thread(self._queue.ready)
            except Exception:
                log.exception("polling the local queue failed; retrying")
                continue
            if free_session:
                self._acceptors.wake_one()
            if dead_letter and self._dead_letters is not None:
                self._dead_letters.waiting.wake_one()

    # --- Sessions ---

    async def _session_loop(self, consumer_id: str, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            woken = self._acceptors.register()
            try:
                session_id = await asyncio.to_thread(self._queue.accept_next_session, consumer_id)
                if session_id is None:
                    await self._sleep(woken)
                    continue
                self._acceptors.discard(woken)
                self._acceptors.wake_one()  # more sessions may be free: the next idle one looks
                await self._consume_session(_Lease(session_id, consumer_id, loop.time()), stop)
            except Exception:
                # Keep the consumer alive through a transient database error.
                log.exception("session consumer %s failed; retrying", consumer_id)
                await self._sleep(at_most=self._fallback)
            finally:
                self._acceptors.discard(woken)

    async def _consume_session(self, lease: _Lease, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self._held[lease.session_id] = lease
        renewer = asyncio.create_task(self._keep_session_locks(lease))
        idle_since = loop.time()
        try:
            while not stop.is_set():
                lease.arrival = loop.create_future()  # before receiving: no announcement is lost
                msg = await asyncio.to_thread(
                    self._queue.receive, lease.session_id, lease.consumer_id
                )
                if msg is not None:
                    await self._process(lease, msg)
                    idle_since = loop.time()
                    continue
                idle_left = self._idle_timeout - (loop.time() - idle_since)
                if idle_left <= 0:
                    return  # sessionIdleTimeout passed with no message: let the session go
                # Announced messages wake us at once; the timeout covers other processes' sends.
                await self._sleep(lease.arrival, min(idle_left, self._fallback))
        except SessionLockLostError:
            log.warning("lost the lock on session %r", lease.session_id)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await asyncio.to_thread(
                    self._queue.release_session, lease.session_id, lease.consumer_id
                )
            finally:
                del self._held[lease.session_id]

    async def _process(self, lease: _Lease, msg: LockedMessage) -> None:
        lease.in_flight = msg
        try:
            await self._handler(to_functions_message(msg))
            settle = self._queue.complete
        except Exception:
            log.exception(
                "handler failed for message %r (session %r, delivery %d); abandoning",
                msg.message_id, msg.session_id, msg.delivery_count,
            )  # fmt: skip
            settle = self._queue.abandon
        finally:
            lease.in_flight = None
        try:
            await asyncio.to_thread(settle, msg)
        except MessageLockLostError:
            # The locks lapsed while the handler ran; the queue redelivers the message.
            log.warning("lock lost before settling message %r", msg.message_id)

    async def _keep_session_locks(self, lease: _Lease) -> None:
        # Like the session processor, renewal stops maxAutoLockRenewalDuration after the session
        # was accepted, however busy it is. The local queue locks the in-flight message apart from
        # its session, so that lock is renewed alongside: both lapse together, as on Service Bus.
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._renew_every)
            if loop.time() - lease.accepted >= self._max_renewal:
                return  # the consumer finds out on its next receive or settle
            msg = lease.in_flight
            try:
                await asyncio.to_thread(
                    self._queue.renew_session_lock, lease.session_id, lease.consumer_id
                )
                if msg is not None:
                    await asyncio.to_thread(self._queue.renew_message_lock, msg)
            except SessionLockLostError:
                return  # the consume loop notices on its next receive
            except MessageLockLostError:
                pass  # settled between our read of in_flight and the renewal
            except Exception:
                log.exception("renewing locks of session %r failed", lease.session_id)
