"""The SQLite file under the local session queue: connection, inspection, shared row steps.

`QueueStore` owns the connection, the settings and the clock, and answers read-only questions
(counts, peek, ready); it opens every read-modify-write as a `BEGIN IMMEDIATE` transaction so
several processes sharing the file never hand out the same lock. It also tells subscribers of
this handle when a message becomes available, so consumers in this process wait without polling.
`LocalSessionQueue` (in `local.servicebus.session_queue`) builds the queue's send, lock and settle
operations on it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from local.servicebus.queue_rows import (
    COUNTS,
    DEAD_LETTER_ERROR_DESCRIPTION,
    DEAD_LETTER_REASON,
    READY,
    SCHEMA,
    UNLOCK,
    Arrival,
    LockedMessage,
    MessageLockLostError,
    SessionLockLostError,
    row_to_message,
    to_us,
)

log = logging.getLogger(__name__)
Listener = Callable[[Arrival], None]


class QueueStore:
    """One queue's SQLite file, its settings, read-only inspection, and the shared row steps."""

    def __init__(
        self,
        path: str,
        *,
        max_delivery_count: int = 10,
        lock_duration: timedelta = timedelta(seconds=60),
        session_lock_duration: timedelta = timedelta(seconds=60),
        duplicate_window: timedelta = timedelta(minutes=10),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.max_delivery_count = max_delivery_count
        self.lock_duration = lock_duration
        self.session_lock_duration = session_lock_duration
        self.duplicate_window = duplicate_window
        self._now = now
        # One connection shared by threads (asyncio.to_thread), so a lock serialises its use;
        # the busy timeout makes other processes wait for a write lock instead of failing.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
        self._db.isolation_level = None  # we issue BEGIN IMMEDIATE ourselves
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        self._db.executescript(SCHEMA)
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` (from the writing thread, after the commit) whenever this handle
        makes a message available: a send, an abandon, a dead-lettering. Returns the
        unsubscribe function. Writes by other handles or processes are not announced:
        `ready()` is there to poll for them.

            unsubscribe = queue.subscribe(lambda arrival: print(arrival.session_id))
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _announce(self, arrival: Arrival) -> None:
        for listener in list(self._listeners):
            try:
                listener(arrival)
            except Exception:  # the write is committed; a listener's failure must not undo it
                log.exception("queue listener failed")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _clock(self) -> int:
        return to_us(self._now())

    # --- Inspection ---

    def counts(self) -> dict[str, int]:
        """active (available now), scheduled, locked, dead_lettered, sessions (with messages)."""
        with self._lock:
            row = self._db.execute(COUNTS, {"now": self._clock()}).fetchone()
        return {key: int(value) for key, value in zip(row.keys(), row, strict=True)}

    def ready(self) -> tuple[bool, bool]:
        """(a free session has a visible message, an unlocked dead letter is waiting)."""
        with self._lock:
            row = self._db.execute(READY, {"now": self._clock()}).fetchone()
        return bool(row["sessions"]), bool(row["dead_letters"])

    def peek(
        self, session_id: str | None = None, limit: int = 100, *, dead_lettered: bool = False
    ) -> list[LockedMessage]:
        """Messages in sequence order without locking them (lock_token is always None)."""
        sql = "SELECT * FROM messages WHERE dead_lettered = ?"
        args: list[Any] = [int(dead_lettered)]
        if session_id is not None:
            sql += " AND session_id = ?"
            args.append(session_id)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq LIMIT ?", [*args, limit]).fetchall()
        now = self._clock()
        return [row_to_message(row, with_token=False, now=now) for row in rows]

    # --- Row-level steps, each run inside a caller's _write() transaction ---

    @staticmethod
    def _require_session(db: sqlite3.Connection, session_id: str, consumer: str, now: int) -> None:
        row = db.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None or row["owner"] != consumer or row["locked_until"] <= now:
            raise SessionLockLostError(f"{consumer} does not hold session {session_id!r}")

    def _max_text(self) -> str:
        # The wording Service Bus itself uses for this dead-letter reason.
        return f"Message could not be consumed after {self.max_delivery_count} delivery attempts."

    def _lock_row(self, db: sqlite3.Connection, seq: int, owner: str, now: int) -> LockedMessage:
        until = now + self.lock_duration // timedelta(microseconds=1)
        db.execute(
            "UPDATE messages SET delivery_count = delivery_count + 1, lock_token = ?,"
            " lock_owner = ?, locked_until = ? WHERE seq = ?",
            (str(uuid.uuid4()), owner, until, seq),
        )
        return row_to_message(db.execute("SELECT * FROM messages WHERE seq = ?", (seq,)).fetchone())

    @staticmethod
    def _locked_row(db: sqlite3.Connection, msg: LockedMessage, now: int) -> sqlite3.Row:
        # Like Service Bus, an expired lock cannot settle even if nobody has taken it yet.
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM messages WHERE seq = ? AND lock_token = ? AND locked_until > ?",
            (msg.sequence_number, msg.lock_token, now),
        ).fetchone()
        if row is None:
            raise MessageLockLostError(f"lock lost on message {msg.message_id!r}")
        return row

    @staticmethod
    def _dead_letter_row(
        db: sqlite3.Connection, seq: int, reason: str, description: str | None
    ) -> None:
        # Like Service Bus: the reason and description become application properties of
        # the dead letter; they are not separate fields of the message.
        [stored] = db.execute("SELECT props FROM messages WHERE seq = ?", (seq,)).fetchone()
        props = json.loads(stored)
        props[DEAD_LETTER_REASON] = reason
        if description is not None:
            props[DEAD_LETTER_ERROR_DESCRIPTION] = description
        db.execute(
            f"UPDATE messages SET dead_lettered = 1, props = ?, {UNLOCK} WHERE seq = ?",
            (json.dumps(props), seq),
        )
