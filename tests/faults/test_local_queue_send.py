"""A send the local queue cannot take fails as `TransientError`, as a Service Bus send
does, so the accept path answers 202 and leaves the event to the timer."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from local.servicebus import queue_bus
from local.servicebus.queue_bus import LocalQueueBus
from local.servicebus.session_queue import LocalSessionQueue
from shared.domain.errors import TransientError
from shared.domain.models import QueueMessage

MESSAGE = QueueMessage(message_id="m-1", session_id="s-1", body={"eventId": "e-1"}, properties={})


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process holds the file's write lock."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")


async def test_a_send_the_locked_file_refuses_fails_as_transient(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    with LocalSessionQueue(str(path)) as queue:
        queue._db.execute("PRAGMA busy_timeout = 50")  # the lock outlasts SQLite's wait
        with locked(path), pytest.raises(TransientError, match="database is locked"):
            await LocalQueueBus(queue).send(MESSAGE)
        assert queue.counts()["active"] == 0  # nothing was stored


async def test_a_send_waiting_past_its_bound_fails_as_transient_and_may_land_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_bus, "SEND_TIMEOUT_SECONDS", 0.2)
    path = tmp_path / "queue.db"
    with LocalSessionQueue(str(path)) as queue:
        with locked(path), pytest.raises(TransientError, match="timed out"):
            await LocalQueueBus(queue).send(MESSAGE)
        # Its outcome was unknown: the send still waiting lands once the file is free,
        # and the timer's second send of the same message id is dropped as a duplicate.
        deadline = time.monotonic() + 10
        while not queue.counts()["active"]:
            assert time.monotonic() < deadline, "the send given up never landed"
            await asyncio.sleep(0.05)
        assert not queue.send(MESSAGE.message_id, MESSAGE.session_id, b"{}")
