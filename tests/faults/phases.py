"""The faults of the suite, in the order a run meets them, each with what it did.

Every fault is applied while the ERPs push, for a window, and returns the figures that
show it landed where it was aimed (answers the clients got, lines the host logged,
messages the queue held), so the test can assert that each fault took effect rather
than only that nothing went wrong.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from local.servicebus.queue_bus import SEND_TIMEOUT_SECONDS
from tests.conftest import LocalAzurite, Stack
from tests.faults.duplicates import deliver_twice
from tests.faults.erp import Sender
from tests.faults.observe import (
    HostLog,
    Sandbox,
    events_in_flight,
    first_sends,
    locked_messages,
    queue_path,
)

RATE_LIMIT = 40  # the platform's usual limit, per second: above the product's pace
PACE = 32  # the product's own pace of platform calls, per second
THROTTLED = 2  # the platform's limit for a while: far below the product's pace
THROTTLED_SECONDS = 8
PLATFORM_DOWN_SECONDS = 5
STORAGE_DOWN_SECONDS = 6
QUEUE_HOLD_SECONDS = SEND_TIMEOUT_SECONDS + 1  # a send waiting all of it is given up
QUEUE_HOLDS = 5
SLOW_ANSWER_MS = 2500  # longer than the product's platform timeout in the fault stack
SLOW_SECONDS = 3
WAIT_SECONDS = 600  # the longest any step of a run may wait


@dataclass
class Run:
    """A fault run in progress: the stack, its storage, its clients, and how far they got."""

    stack: Stack
    storage: LocalAzurite
    senders: list[Sender]
    entity_ordered: set[int]
    total: int
    stop: threading.Event = field(default_factory=threading.Event)
    began: float = field(default_factory=time.monotonic)

    @property
    def sent(self) -> int:
        return sum(sender.sent for sender in self.senders)

    def at(self, fraction: float) -> None:
        """Wait until the clients have sent `fraction` of the events; give up if one of
        them failed, or after WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        while self.sent < self.total * fraction:
            assert not self.stop.is_set(), "a client failed; see its error"
            assert time.monotonic() < deadline, f"{self.sent} of {self.total} sent in time"
            time.sleep(0.05)


def throttle_platform(run: Run) -> dict[str, Any]:
    """The platform limits far below the product's pace (as a platform coming back from
    an outage might, while the product drains the backlog the outage left): 429s are
    answered, and the product must retry them."""
    sandbox = Sandbox(run.stack)
    before = sandbox.stats()["rateLimited"]
    run.stack.faults(rateLimitPerSecond=THROTTLED)
    try:
        time.sleep(THROTTLED_SECONDS)
    finally:
        run.stack.faults(rateLimitPerSecond=RATE_LIMIT)
    return {
        "limitPerSecond": THROTTLED,
        "productPacePerSecond": PACE,
        "seconds": THROTTLED_SECONDS,
        "answered429": sandbox.stats()["rateLimited"] - before,
    }


def platform_down(run: Run) -> dict[str, Any]:
    """The platform answers 503 to everything: a backlog builds up."""
    run.stack.faults(down=True)
    try:
        time.sleep(PLATFORM_DOWN_SECONDS)
    finally:
        run.stack.faults(down=False)
    return {"seconds": PLATFORM_DOWN_SECONDS}


def storage_down(run: Run) -> dict[str, Any]:
    """Azurite stops (its data kept) and starts again on the same ports."""
    log = HostLog(run.stack)
    mark, answered = log.mark(), sum(sender.answers[503] for sender in run.senders)
    began = time.monotonic()
    run.storage.stop()
    try:
        time.sleep(STORAGE_DOWN_SECONDS)
    finally:
        run.storage.start()
    seconds = time.monotonic() - began
    time.sleep(5)  # requests of the outage still in their storage retries answer now
    text = log.since(mark)
    return {
        "seconds": round(seconds, 1),
        "clientsAnswered503": sum(sender.answers[503] for sender in run.senders) - answered,
        "workerDeferredEvents": text.count("deferred, storage unavailable"),
        "timerRunsFailed": text.count("timer maintenance failed"),
    }


def queue_down(run: Run) -> tuple[dict[str, Any], QueueOutage]:
    """The queue file is locked, in holds longer than a send may wait, until sends from
    the accept path have met it (a send meets it only if its request got past storage
    before the hold began: while the file is locked, the local host's blocked queue
    calls hold every thread its storage calls also need). Returns the figures and the
    events whose send failed while their request was answered 202."""
    log = HostLog(run.stack)
    mark, holds, failed = log.mark(), 0, list[str]()
    while not failed:
        assert holds < QUEUE_HOLDS, f"no send from the accept path met {holds} holds"
        if holds:
            time.sleep(2)
        released = hold_queue(run.stack, QUEUE_HOLD_SECONDS)
        holds += 1
        time.sleep(1)  # sends given up near the end of the hold are logged by now
        failed = sorted(set(log.failed_accept_sends(mark)))
    figures = {
        "holdSeconds": QUEUE_HOLD_SECONDS,
        "holds": holds,
        "sendTimeoutSeconds": SEND_TIMEOUT_SECONDS,
        "acceptSendsFailed": len(failed),
    }
    return figures, QueueOutage(failed, released)


@dataclass
class QueueOutage:
    """The events whose send from the accept path failed, and when the queue was freed."""

    failed_sends: list[str]
    released: float

    def sent_later(self, stack: Stack) -> dict[str, int]:
        """Wait until each of them has been sent: by the timer (a grace period or more
        after its acceptance), or by the send that was given up, which may still land
        once the file is free (an unknown outcome, as with a Service Bus send that
        timed out, which duplicate detection makes harmless)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while len(sent := first_sends(stack, self.failed_sends)) < len(self.failed_sends):
            missing = sorted(set(self.failed_sends) - set(sent))
            assert time.monotonic() < deadline, f"never sent: {missing}"
            time.sleep(1)
        by_timer = sum(1 for began in sent.values() if began > self.released + 2)
        return {"sentLaterByTimer": by_timer, "landedAfterTheHold": len(sent) - by_timer}


def hold_queue(stack: Stack, seconds: float) -> float:
    """Lock the queue file against every writer for `seconds`; the time it was freed."""
    with closing(sqlite3.connect(queue_path(stack), timeout=30, isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        try:
            time.sleep(seconds)
        finally:
            db.execute("ROLLBACK")
    return time.time()


def slow_answers(run: Run) -> dict[str, Any]:
    """The platform applies, then answers after the product has stopped waiting."""
    timeout = float(run.stack.env["PLATFORM_TIMEOUT_SECONDS"])
    assert timeout < SLOW_ANSWER_MS / 1000, "the answers would not come too late"
    run.stack.faults(latencyMs=SLOW_ANSWER_MS)
    try:
        time.sleep(SLOW_SECONDS)
    finally:
        run.stack.faults(latencyMs=0)
    return {"latencyMs": SLOW_ANSWER_MS, "productTimeoutSeconds": timeout, "seconds": SLOW_SECONDS}


def kill_host(run: Run) -> tuple[dict[str, Any], set[str]]:
    """SIGKILL the host while it holds a message, then start it again. Returns the
    figures and the events whose messages were in flight at the kill."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not locked_messages(run.stack):
        assert time.monotonic() < deadline, "the host never held a message"
        time.sleep(0.01)
    run.stack.kill_host()
    try:
        killed_at = run.sent
        in_flight = events_in_flight(run.stack)  # locks outlive their holder for a while
    finally:
        time.sleep(1)
        run.stack.start("local.host")
    return {"atEvent": killed_at, "eventsInFlight": len(in_flight)}, in_flight


def run_faults(run: Run) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every fault at its point of the run; (figures, what the checks need)."""
    figures: dict[str, Any] = {"randomErrors": {"rate": 0.15}}
    seen: dict[str, Any] = {}
    run.stack.faults(errorRate=0.15, rateLimitPerSecond=RATE_LIMIT)

    def step(fraction: float, name: str) -> None:
        run.at(fraction)
        print(f"  {time.monotonic() - run.began:6.1f}s {run.sent} sent: {name}", flush=True)

    step(0.15, "platform down, then throttled while the product catches up")
    figures["platformDown"] = platform_down(run)
    figures["rateLimit"] = throttle_platform(run)
    Sandbox(run.stack).reset_stats()  # measure the rest of the catch-up from here
    step(0.3, "storage down")
    figures["storageDown"] = storage_down(run)
    step(0.4, "queue refuses sends")
    figures["queueDown"], queue_outage = queue_down(run)
    step(0.5, "answers slower than the product waits")
    figures["slowAnswers"] = slow_answers(run)
    step(0.6, "host killed")
    figures["hostKilled"], seen["inFlight"] = kill_host(run)
    step(0.7, "settled events delivered again")
    seen["duplicates"] = deliver_twice(run.stack, run.senders, run.entity_ordered)
    figures["duplicates"] = {"injected": len(seen["duplicates"].events)}
    figures["queueDown"] |= queue_outage.sent_later(run.stack)
    seen["failedSends"] = queue_outage.failed_sends
    return figures, seen
