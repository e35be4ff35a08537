"""Feeds the dead-letter sub-queue to the function on `<queue>/$deadletterqueue`, as the
extension runs a trigger without sessions.

Up to `maxConcurrentCalls` consumers each take the oldest unlocked dead letter; its lock is
renewed for up to `maxAutoLockRenewalDuration` after it was received. A handler that returns
completes it; one that raises abandons it, and since a dead letter cannot be dead-lettered
again, it comes straight back. Idle consumers sleep until woken (`waiting`): by the queue
announcing a dead letter, or by the dispatcher's watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from azure.functions.servicebus import ServiceBusMessage

from local.servicebus.functions_message import to_functions_message
from local.servicebus.host_settings import ServiceBusSettings
from local.servicebus.session_queue import LocalSessionQueue, LockedMessage, MessageLockLostError
from local.servicebus.wakeups import WakeQueue, sleep_until

Handler = Callable[[ServiceBusMessage], Awaitable[None]]
log = logging.getLogger(__name__)


class DeadLetterConsumers:
    def __init__(
        self,
        queue: LocalSessionQueue,
        handler: Handler,
        settings: ServiceBusSettings,
        *,
        renew_every: float,
        retry_after: float,
    ) -> None:
        self._queue = queue
        self._handler = handler
        self._calls = settings.max_concurrent_calls
        self._max_renewal = settings.max_auto_lock_renewal_duration.total_seconds()
        self._renew_every = renew_every
        self._retry_after = retry_after  # after a database error
        self.waiting = WakeQueue()

    async def run(self, name: str, stop: asyncio.Event, stopped: asyncio.Future[Any]) -> None:
        """Consume until `stop` is set (`stopped` completes then, waking idle consumers)."""
        await asyncio.gather(
            *(self._consume(f"{name}-dlq-{n}", stop, stopped) for n in range(self._calls))
        )

    async def _consume(
        self, consumer_id: str, stop: asyncio.Event, stopped: asyncio.Future[Any]
    ) -> None:
        while not stop.is_set():
            woken = self.waiting.register()
            try:
                msg = await asyncio.to_thread(self._queue.receive_dead_letter, consumer_id)
                if msg is None:
                    await sleep_until(stopped, woken)
                    continue
                self.waiting.discard(woken)
                self.waiting.wake_one()  # more may be waiting: the next idle consumer looks
                await self._process(msg)
            except Exception:
                log.exception("dead-letter consumer %s failed; retrying", consumer_id)
                await sleep_until(stopped, at_most=self._retry_after)
            finally:
                self.waiting.discard(woken)

    async def _process(self, msg: LockedMessage) -> None:
        renewer = asyncio.create_task(self._keep_lock(msg))
        try:
            await self._handler(to_functions_message(msg))
            settle = self._queue.complete_dead_letter
        except Exception:
            log.exception("dead-letter handler failed for message %r; abandoning", msg.message_id)
            settle = self._queue.abandon_dead_letter
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        try:
            await asyncio.to_thread(settle, msg)
        except MessageLockLostError:
            log.warning("lock lost before settling dead letter %r", msg.message_id)

    async def _keep_lock(self, msg: LockedMessage) -> None:
        loop = asyncio.get_running_loop()
        received = loop.time()
        while True:
            await asyncio.sleep(self._renew_every)
            if loop.time() - received >= self._max_renewal:
                return  # like the processor: past maxAutoLockRenewalDuration the lock lapses
            try:
                await asyncio.to_thread(self._queue.renew_message_lock, msg)
            except MessageLockLostError:
                return
            except Exception:
                log.exception("renewing the lock of dead letter %r failed", msg.message_id)
