"""A durable local stand-in for the session-enabled Azure Service Bus inbound queue.

Local runs and tests have no Service Bus and no emulator, so this queue keeps the semantics the
product relies on in one SQLite file: duplicate detection by MessageId, scheduled messages,
one consumer per session, strict FIFO within a session, peek-lock with expiry and redelivery,
MaxDeliveryCount and a dead-letter sub-queue. Several processes may open the same file; every
read-modify-write runs in a `BEGIN IMMEDIATE` transaction so they never hand out the same lock.
Each write that makes a message available is announced to this handle's subscribers
(`QueueStore.subscribe`) once committed.

Times come from an injected clock so tests can move time instead of sleeping.

The schema and message type live in `local.servicebus.queue_rows`; the connection, settings, shared
row-level steps and read-only inspection in `local.servicebus.queue_store`. This module holds the
operations that send, lock and settle.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from local.servicebus.queue_rows import (
    MAX_DELIVERY_COUNT_EXCEEDED,
    NEXT_SESSION,
    UNLOCK,
    Arrival,
    LockedMessage,
    MessageLockLostError,
    PropertyValue,
    SessionLockLostError,
    from_us,
    to_us,
)
from local.servicebus.queue_store import QueueStore

__all__ = [
    "MAX_DELIVERY_COUNT_EXCEEDED",
    "Arrival",
    "LocalSessionQueue",
    "LockedMessage",
    "MessageLockLostError",
    "PropertyValue",
    "SessionLockLostError",
]


class LocalSessionQueue(QueueStore):
    """One session-enabled queue (and its dead-letter sub-queue) in one SQLite file.

    Constructor options (lock durations, MaxDeliveryCount, duplicate window, clock) and
    `counts`/`peek` are `QueueStore`'s.
    """

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
        visible = now if scheduled_enqueue_time is None else max(now, to_us(scheduled_enqueue_time))
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
        self._announce(Arrival(session_id, delay=(visible - now) / 1e6))
        return True

    # --- Sessions ---

    def accept_next_session(self, consumer_id: str) -> str | None:
        """Lock the free session with the oldest available message, or return None."""
        now = self._clock()
        with self._write() as db:
            row = db.execute(NEXT_SESSION, {"now": now, "me": consumer_id}).fetchone()
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
                f"UPDATE messages SET {UNLOCK} WHERE session_id = ? AND dead_lettered = 0"
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
        return from_us(until)

    def release_session(self, session_id: str, consumer_id: str) -> None:
        """Give the session up; like closing a session receiver, unsettled messages go back."""
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM sessions WHERE session_id = ? AND owner = ?", (session_id, consumer_id)
            )
            if cur.rowcount:
                db.execute(
                    f"UPDATE messages SET {UNLOCK} WHERE session_id = ? AND dead_lettered = 0"
                    " AND lock_owner = ?",
                    (session_id, consumer_id),
                )

    # --- Receiving and settling ---

    def receive(self, session_id: str, consumer_id: str) -> LockedMessage | None:
        """Peek-lock the session's oldest message; None if there is none or one is in flight."""
        now = self._clock()
        received: LockedMessage | None = None
        dead_lettered = False
        with self._write() as db:
            self._require_session(db, session_id, consumer_id, now)
            while True:
                row = db.execute(
                    "SELECT * FROM messages WHERE dead_lettered = 0 AND session_id = ?"
                    " AND visible_at <= ? ORDER BY seq LIMIT 1",
                    (session_id, now),
                ).fetchone()
                if row is None or (row["locked_until"] or 0) > now:
                    break  # strict FIFO: the head is in flight, so nothing else is handed out
                if row["delivery_count"] < self.max_delivery_count:
                    received = self._lock_row(db, row["seq"], consumer_id, now)
                    break
                self._dead_letter_row(db, row["seq"], MAX_DELIVERY_COUNT_EXCEEDED, self._max_text())
                dead_lettered = True
        if dead_lettered:
            self._announce(Arrival(session_id, dead_lettered=True))
        return received

    def renew_message_lock(self, msg: LockedMessage) -> datetime:
        """Extend the lock of a received message (main or dead-letter sub-queue)."""
        now = self._clock()
        until = now + self.lock_duration // timedelta(microseconds=1)
        with self._write() as db:
            self._locked_row(db, msg, now)
            db.execute(
                "UPDATE messages SET locked_until = ? WHERE seq = ?", (until, msg.sequence_number)
            )
        return from_us(until)

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
            to_dead_letters = bool(row["dead_lettered"])
            if not to_dead_letters and row["delivery_count"] >= self.max_delivery_count:
                self._dead_letter_row(db, row["seq"], MAX_DELIVERY_COUNT_EXCEEDED, self._max_text())
                to_dead_letters = True
            else:
                db.execute(f"UPDATE messages SET {UNLOCK} WHERE seq = ?", (row["seq"],))
        self._announce(Arrival(msg.session_id, dead_lettered=to_dead_letters))

    def dead_letter(self, msg: LockedMessage, reason: str, description: str | None = None) -> None:
        """Move a received message to the dead-letter sub-queue, as a receiver's
        dead-letter call does: the reason (and description, if given) become its
        `DeadLetterReason` / `DeadLetterErrorDescription` application properties."""
        with self._write() as db:
            self._locked_row(db, msg, self._clock())
            self._dead_letter_row(db, msg.sequence_number, reason, description)
        self._announce(Arrival(msg.session_id, dead_lettered=True))

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
