"""Feeds the local session queue to a Service Bus-triggered handler, as the Functions host would.

Up to `max_concurrent_sessions` consumers each hold one session at a time and hand its messages
to the handler in order. A handler that returns completes the message (the trigger's
auto-complete); one that raises abandons it, so the delivery count grows until the queue
dead-letters it. While a session is held its locks are renewed, bounded per handler call by
`max_auto_lock_renewal_duration` like the host's `maxAutoLockRenewalDuration`.

SQLite calls run in worker threads (`asyncio.to_thread`) so a busy database file never blocks
the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from azure.functions.meta import Datum
from azure.functions.servicebus import ServiceBusMessage

from local.session_queue import (
    LocalSessionQueue,
    LockedMessage,
    MessageLockLostError,
    SessionLockLostError,
)

Handler = Callable[[ServiceBusMessage], Awaitable[None]]
log = logging.getLogger(__name__)


def to_functions_message(msg: LockedMessage) -> ServiceBusMessage:
    """The ServiceBusMessage the Functions host would pass for this message."""
    props = dict(msg.application_properties)
    # The host passes trigger metadata as Datum values; `.metadata` decodes them the same way.
    metadata = {
        "MessageId": Datum(msg.message_id, "string"),
        "SessionId": Datum(msg.session_id, "string"),
        "DeliveryCount": Datum(msg.delivery_count, "int"),
        "SequenceNumber": Datum(msg.sequence_number, "int"),
        "EnqueuedTimeUtc": Datum(msg.enqueued_time.isoformat(), "string"),
        "ContentType": Datum(msg.content_type, "string"),
        "LockToken": Datum(msg.lock_token, "string"),
        "ApplicationProperties": Datum(json.dumps(props), "json"),
        "UserProperties": Datum(json.dumps(props), "json"),
    }
    if msg.dead_letter_reason is not None:
        metadata["DeadLetterReason"] = Datum(msg.dead_letter_reason, "string")
        metadata["DeadLetterErrorDescription"] = Datum(msg.dead_letter_error_description, "string")
    return ServiceBusMessage(
        body=msg.body,
        message_id=msg.message_id,
        session_id=msg.session_id,
        delivery_count=msg.delivery_count,
        enqueued_time_utc=msg.enqueued_time,
        sequence_number=msg.sequence_number,
        lock_token=msg.lock_token,
        locked_until=msg.locked_until,
        content_type=msg.content_type,
        application_properties=props,
        user_properties=dict(props),
        dead_letter_reason=msg.dead_letter_reason,
        dead_letter_error_description=msg.dead_letter_error_description,
        trigger_metadata=metadata,
    )


@dataclass
class _Lease:
    """What one consumer currently holds, shared with its lock-renewal task."""

    session_id: str
    consumer_id: str
    in_flight: LockedMessage | None = None
    started: float = 0.0  # loop time the in-flight handler started


class SessionQueueDispatcher:
    def __init__(
        self,
        queue: LocalSessionQueue,
        handler: Handler,
        *,
        max_concurrent_sessions: int = 8,
        poll_interval: float = 0.05,
        session_idle_timeout: timedelta = timedelta(seconds=1),
        dead_letter_handler: Handler | None = None,
        lock_renewal_interval: timedelta | None = None,
        max_auto_lock_renewal_duration: timedelta = timedelta(minutes=5),
    ) -> None:
        self._queue = queue
        self._handler = handler
        self._dead_letter_handler = dead_letter_handler
        self._max_sessions = max_concurrent_sessions
        self._poll = poll_interval
        self._idle_timeout = session_idle_timeout.total_seconds()
        # Renew well before the shorter lock runs out, leaving room for a slow database.
        shortest = min(queue.lock_duration, queue.session_lock_duration)
        self._renew_every = (lock_renewal_interval or shortest / 3).total_seconds()
        self._max_renewal = max_auto_lock_renewal_duration.total_seconds()
        # Unique per dispatcher so another process (or a restart) never shares our locks.
        self._name = f"dispatcher-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; in-flight handlers finish and are settled first."""
        loops = [self._session_loop(f"{self._name}-{i}", stop) for i in range(self._max_sessions)]
        if self._dead_letter_handler is not None:
            loops.append(self._dead_letter_loop(self._dead_letter_handler, stop))
        await asyncio.gather(*loops)

    async def _pause(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self._poll)

    async def _session_loop(self, consumer_id: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                session_id = await asyncio.to_thread(self._queue.accept_next_session, consumer_id)
                if session_id is None:
                    await self._pause(stop)
                else:
                    await self._consume_session(_Lease(session_id, consumer_id), stop)
            except Exception:
                # Keep the consumer alive through a transient database error.
                log.exception("session consumer %s failed; retrying", consumer_id)
                await self._pause(stop)

    async def _consume_session(self, lease: _Lease, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        renewer = asyncio.create_task(self._keep_locks(lease))
        idle_since = loop.time()
        try:
            while not stop.is_set():
                msg = await asyncio.to_thread(
                    self._queue.receive, lease.session_id, lease.consumer_id
                )
                if msg is not None:
                    await self._process(lease, msg)
                    idle_since = loop.time()
                elif loop.time() - idle_since >= self._idle_timeout:
                    return
                else:
                    await self._pause(stop)
        except SessionLockLostError:
            log.warning("lost the lock on session %r", lease.session_id)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await asyncio.to_thread(
                self._queue.release_session, lease.session_id, lease.consumer_id
            )

    async def _process(self, lease: _Lease, msg: LockedMessage) -> None:
        lease.in_flight, lease.started = msg, asyncio.get_running_loop().time()
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
            # The handler outlived its lock; the queue redelivers the message.
            log.warning("lock lost before settling message %r", msg.message_id)

    async def _keep_locks(self, lease: _Lease) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._renew_every)
            msg = lease.in_flight
            if msg is not None and loop.time() - lease.started > self._max_renewal:
                continue  # like the host: past the limit, the locks are left to expire
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

    async def _dead_letter_loop(self, handler: Handler, stop: asyncio.Event) -> None:
        consumer_id = f"{self._name}-dlq"
        while not stop.is_set():
            try:
                msg = await asyncio.to_thread(self._queue.receive_dead_letter, consumer_id)
                if msg is None:
                    await self._pause(stop)
                    continue
                await handler(to_functions_message(msg))
                await asyncio.to_thread(self._queue.complete_dead_letter, msg)
            except Exception:
                # Not abandoned: the lock expiring is the back-off before the next attempt, and
                # meanwhile later dead letters still get through.
                log.exception("dead-letter consumer failed; the message is retried later")
                await self._pause(stop)
