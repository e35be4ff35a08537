"""A durable local stand-in for the session-enabled Azure Service Bus inbound queue.

Local runs and tests have no Service Bus and no emulator, so this queue keeps the semantics the
product relies on in one SQLite file: duplicate detection by MessageId, scheduled messages,
one consumer per session, strict FIFO within a session, peek-lock with expiry and redelivery,
MaxDeliveryCount and a dead-letter sub-queue. Several processes may open the same file; every
read-modify-write runs in a `BEGIN IMMEDIATE` transaction so they never hand out the same lock.

Times come from an injected clock so tests can move time instead of sleeping.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self

PropertyValue = str | int | float | bool
MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: never reused, even after deletes
    message_id TEXT NOT NULL, session_id TEXT NOT NULL, body BLOB NOT NULL,
    props TEXT NOT NULL, content_type TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL, visible_at INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT, lock_owner TEXT, locked_until INTEGER,
    dead_lettered INTEGER NOT NULL DEFAULT 0, dl_reason TEXT, dl_description TEXT);
CREATE INDEX IF NOT EXISTS ix_messages_queue ON messages (dead_lettered, session_id, seq);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, owner TEXT NOT NULL, locked_until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sent_ids (message_id TEXT PRIMARY KEY, sent_at INTEGER NOT NULL);
"""

# Oldest head message first, so a busy session cannot starve the others.
_NEXT_SESSION = """
SELECT m.session_id FROM messages m LEFT JOIN sessions s ON s.session_id = m.session_id
WHERE m.dead_lettered = 0 AND m.visible_at <= :now
  AND (s.owner IS NULL OR s.owner = :me OR s.locked_until <= :now)
GROUP BY m.session_id ORDER BY MIN(m.seq) LIMIT 1
"""

_COUNTS = """
SELECT
  COALESCE(SUM(dead_lettered = 0 AND visible_at <= :now
               AND (locked_until IS NULL OR locked_until <= :now)), 0) AS active,
  COALESCE(SUM(dead_lettered = 0 AND visible_at > :now), 0) AS scheduled,
  COALESCE(SUM(dead_lettered = 0 AND locked_until > :now), 0) AS locked,
  COALESCE(SUM(dead_lettered = 1), 0) AS dead_lettered,
  COUNT(DISTINCT CASE WHEN dead_lettered = 0 THEN session_id END) AS sessions
FROM messages
"""

_UNLOCK = "lock_token = NULL, lock_owner = NULL, locked_until = NULL"


class MessageLockLostError(Exception):
    """The lock token no longer owns the message: it expired, was settled, or was taken over."""


class SessionLockLostError(Exception):
    """The consumer does not hold a live lock on the session."""


@dataclass(frozen=True)
class LockedMessage:
    message_id: str
    session_id: str
    body: bytes
    application_properties: dict[str, PropertyValue]
    content_type: str
    sequence_number: int
    enqueued_time: datetime
    delivery_count: int
    lock_token: str | None  # None only for peeked messages
    locked_until: datetime | None
    dead_letter_reason: str | None = None
    dead_letter_error_description: str | None = None


def _us(moment: datetime) -> int:
    """Microseconds since the epoch; integers compare correctly inside SQL."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _message(row: sqlite3.Row, *, with_token: bool = True, now: int = 0) -> LockedMessage:
    locked_until = row["locked_until"] if (row["locked_until"] or 0) > now else None
    return LockedMessage(
        message_id=row["message_id"],
        session_id=row["session_id"],
        body=bytes(row["body"]),
        application_properties=json.loads(row["props"]),
        content_type=row["content_type"],
        sequence_number=row["seq"],
        enqueued_time=_dt(row["enqueued_at"]),
        delivery_count=row["delivery_count"],
        lock_token=row["lock_token"] if with_token else None,
        locked_until=None if locked_until is None else _dt(locked_until),
        dead_letter_reason=row["dl_reason"],
        dead_letter_error_description=row["dl_description"],
    )


class LocalSessionQueue:
    """One session-enabled queue (and its dead-letter sub-queue) in one SQLite file."""

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
        self._db.executescript(_SCHEMA)

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
        return _us(self._now())

    # --- Sending ---

    def send(
        self,
        message_id: str,
        session_id: str,
        body: bytes,
        *,
        application_properties: dict[str, PropertyValue] | None = None,
        scheduled_enqueue_time: datetime | None = None,
        content_type: str = "application/json",
    ) -> bool:
        """Enqueue a message; False (nothing stored) if message_id is a recent duplicate."""
        if not session_id:
            raise ValueError("session_id is required: the queue requires sessions")
        now = self._clock()
        visible = now if scheduled_enqueue_time is None else max(now, _us(scheduled_enqueue_time))
        with self._write() as db:
            window_start = now - self.duplicate_window // timedelta(microseconds=1)
            db.execute("DELETE FROM sent_ids WHERE sent_at <= ?", (window_start,))
            if db.execute("SELECT 1 FROM sent_ids WHERE message_id = ?", (message_id,)).fetchone():
                return False
            db.execute("INSERT INTO sent_ids VALUES (?, ?)", (message_id, now))
            db.execute(
                "INSERT INTO messages (message_id, session_id, body, props, content_type,"
                " enqueued_at, visible_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (message_id, session_id, body, json.dumps(application_properties or {}),
                 content_type, now, visible),
            )  # fmt: skip
        return True

    # --- Sessions ---

    def accept_next_session(self, consumer_id: str) -> str | None:
        """Lock the free session with the oldest available message, or return None."""
        now = self._clock()
        with self._write() as db:
            row = db.execute(_NEXT_SESSION, {"now": now, "me": consumer_id}).fetchone()
            if row is None:
                return None
            session_id: str = row[0]
            until = now + self.session_lock_duration // timedelta(microseconds=1)
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?) ON CONFLICT (session_id)"
                " DO UPDATE SET owner = excluded.owner, locked_until = excluded.locked_until",
                (session_id, consumer_id, until),
            )
            # Service Bus ties message locks to the session lock: a new owner voids the old ones.
            db.execute(
                f"UPDATE messages SET {_UNLOCK} WHERE session_id = ? AND dead_lettered = 0"
                " AND lock_owner <> ?",
                (session_id, consumer_id),
            )
            return session_id

    def renew_session_lock(self, session_id: str, consumer_id: str) -> datetime:
        now = self._clock()
        until = now + self.session_lock_duration // timedelta(microseconds=1)
        with self._write() as db:
            self._require_session(db, session_id, consumer_id, now)
            db.execute(
                "UPDATE sessions SET locked_until = ? WHERE session_id = ?", (until, session_id)
            )
        return _dt(until)

    def release_session(self, session_id: str, consumer_id: str) -> None:
        """Give the session up; like closing a session receiver, unsettled messages go back."""
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM sessions WHERE session_id = ? AND owner = ?", (session_id, consumer_id)
            )
            if cur.rowcount:
                db.execute(
                    f"UPDATE messages SET {_UNLOCK} WHERE session_id = ? AND dead_lettered = 0"
                    " AND lock_owner = ?",
                    (session_id, consumer_id),
                )

    @staticmethod
    def _require_session(db: sqlite3.Connection, session_id: str, consumer: str, now: int) -> None:
        row = db.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None or row["owner"] != consumer or row["locked_until"] <= now:
            raise SessionLockLostError(f"{consumer} does not hold session {session_id!r}")

    # --- Receiving and settling ---

    def receive(self, session_id: str, consumer_id: str) -> LockedMessage | None:
        """Peek-lock the session's oldest message; None if there is none or one is in flight."""
        now = self._clock()
        with self._write() as db:
            self._require_session(db, session_id, consumer_id, now)
            while True:
                row = db.execute(
                    "SELECT * FROM messages WHERE dead_lettered = 0 AND session_id = ?"
                    " AND visible_at <= ? ORDER BY seq LIMIT 1",
                    (session_id, now),
                ).fetchone()
                if row is None or (row["locked_until"] or 0) > now:
                    return None  # strict FIFO: the head is in flight, so nothing else is handed out
                if row["delivery_count"] < self.max_delivery_count:
                    return self._lock_row(db, row["seq"], consumer_id, now)
                self._dead_letter_row(db, row["seq"], MAX_DELIVERY_COUNT_EXCEEDED, self._max_text())

    def renew_message_lock(self, msg: LockedMessage) -> datetime:
        """Extend the lock of a received message (main or dead-letter sub-queue)."""
        now = self._clock()
        until = now + self.lock_duration // timedelta(microseconds=1)
        with self._write() as db:
            self._locked_row(db, msg, now)
            db.execute(
                "UPDATE messages SET locked_until = ? WHERE seq = ?", (until, msg.sequence_number)
            )
        return _dt(until)

    def complete(self, msg: LockedMessage) -> None:
        """Remove a received message (main or dead-letter sub-queue)."""
        with self._write() as db:
            self._locked_row(db, msg, self._clock())
            db.execute("DELETE FROM messages WHERE seq = ?", (msg.sequence_number,))

    def abandon(self, msg: LockedMessage) -> None:
        """Release the lock now; the delivery count already counts this delivery."""
        with self._write() as db:
            row = self._locked_row(db, msg, self._clock())
            # The dead-letter sub-queue has no MaxDeliveryCount: its messages just come back.
            if not row["dead_lettered"] and row["delivery_count"] >= self.max_delivery_count:
                self._dead_letter_row(db, row["seq"], MAX_DELIVERY_COUNT_EXCEEDED, self._max_text())
            else:
                db.execute(f"UPDATE messages SET {_UNLOCK} WHERE seq = ?", (row["seq"],))

    def dead_letter(self, msg: LockedMessage, reason: str, description: str = "") -> None:
        with self._write() as db:
            self._locked_row(db, msg, self._clock())
            self._dead_letter_row(db, msg.sequence_number, reason, description)

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
        return _message(db.execute("SELECT * FROM messages WHERE seq = ?", (seq,)).fetchone())

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
    def _dead_letter_row(db: sqlite3.Connection, seq: int, reason: str, description: str) -> None:
        db.execute(
            f"UPDATE messages SET dead_lettered = 1, dl_reason = ?, dl_description = ?, {_UNLOCK}"
            " WHERE seq = ?",
            (reason, description, seq),
        )

    # --- Dead-letter sub-queue (no sessions, FIFO by sequence number) ---

    def receive_dead_letter(self, consumer_id: str) -> LockedMessage | None:
        now = self._clock()
        with self._write() as db:
            row = db.execute(
                "SELECT seq FROM messages WHERE dead_lettered = 1"
                " AND (locked_until IS NULL OR locked_until <= ?) ORDER BY seq LIMIT 1",
                (now,),
            ).fetchone()
            return None if row is None else self._lock_row(db, row["seq"], consumer_id, now)

    # The lock token alone identifies a message, so settling works the same in both sub-queues.
    complete_dead_letter = complete
    abandon_dead_letter = abandon

    # --- Inspection ---

    def counts(self) -> dict[str, int]:
        """active (available now), scheduled, locked, dead_lettered, sessions (with messages)."""
        with self._lock:
            row = self._db.execute(_COUNTS, {"now": self._clock()}).fetchone()
        return {key: int(value) for key, value in zip(row.keys(), row, strict=True)}

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
        return [_message(row, with_token=False, now=now) for row in rows]
