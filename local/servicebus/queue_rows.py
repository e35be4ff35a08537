"""The local session queue's SQLite schema and queries, and the messages it hands out.

Times are stored as integer microseconds since the epoch so SQL compares them correctly;
`to_us` and `from_us` convert at the boundary, and `row_to_message` turns a stored row back
into the `LockedMessage` a consumer sees.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PropertyValue = str | int | float | bool
MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"
# Service Bus writes why it dead-lettered a message into the message's application
# properties under these names, as the SDKs' `DeadLetterReason` properties read them.
DEAD_LETTER_REASON = "DeadLetterReason"
DEAD_LETTER_ERROR_DESCRIPTION = "DeadLetterErrorDescription"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: never reused, even after deletes
    message_id TEXT NOT NULL, session_id TEXT NOT NULL, body BLOB NOT NULL,
    props TEXT NOT NULL, content_type TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL, visible_at INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT, lock_owner TEXT, locked_until INTEGER,
    dead_lettered INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS ix_messages_queue ON messages (dead_lettered, session_id, seq);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, owner TEXT NOT NULL, locked_until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sent_ids (message_id TEXT PRIMARY KEY, sent_at INTEGER NOT NULL);
"""

# Oldest head message first, so a busy session cannot starve the others.
NEXT_SESSION = """
SELECT m.session_id FROM messages m LEFT JOIN sessions s ON s.session_id = m.session_id
WHERE m.dead_lettered = 0 AND m.visible_at <= :now
  AND (s.owner IS NULL OR s.owner = :me OR s.locked_until <= :now)
GROUP BY m.session_id ORDER BY MIN(m.seq) LIMIT 1
"""

COUNTS = """
SELECT
  COALESCE(SUM(dead_lettered = 0 AND visible_at <= :now
               AND (locked_until IS NULL OR locked_until <= :now)), 0) AS active,
  COALESCE(SUM(dead_lettered = 0 AND visible_at > :now), 0) AS scheduled,
  COALESCE(SUM(dead_lettered = 0 AND locked_until > :now), 0) AS locked,
  COALESCE(SUM(dead_lettered = 1), 0) AS dead_lettered,
  COUNT(DISTINCT CASE WHEN dead_lettered = 0 THEN session_id END) AS sessions
FROM messages
"""

# Is there work a consumer could take now: a free session with a visible message, or an
# unlocked dead letter? Read-only, so the watcher of an idle host never takes a write lock.
READY = """
SELECT
  EXISTS (SELECT 1 FROM messages m LEFT JOIN sessions s ON s.session_id = m.session_id
          WHERE m.dead_lettered = 0 AND m.visible_at <= :now
            AND (s.owner IS NULL OR s.locked_until <= :now)) AS sessions,
  EXISTS (SELECT 1 FROM messages WHERE dead_lettered = 1
            AND (locked_until IS NULL OR locked_until <= :now)) AS dead_letters
"""

UNLOCK = "lock_token = NULL, lock_owner = NULL, locked_until = NULL"


class MessageLockLostError(Exception):
    """The lock token no longer owns the message: it expired, was settled, or was taken over."""


class SessionLockLostError(Exception):
    """The consumer does not hold a live lock on the session."""


@dataclass(frozen=True)
class Arrival:
    """A message consumers may take: in `session_id`, or in the dead-letter sub-queue when
    `dead_lettered`; a scheduled message becomes visible `delay` seconds from now."""

    session_id: str
    dead_lettered: bool = False
    delay: float = 0.0


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

    @property
    def dead_letter_reason(self) -> str | None:
        """Read from the application properties, where Service Bus puts it."""
        return _text(self.application_properties.get(DEAD_LETTER_REASON))

    @property
    def dead_letter_error_description(self) -> str | None:
        return _text(self.application_properties.get(DEAD_LETTER_ERROR_DESCRIPTION))


def _text(value: PropertyValue | None) -> str | None:
    return value if isinstance(value, str) else None


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; integers compare correctly inside SQL."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def row_to_message(row: sqlite3.Row, *, with_token: bool = True, now: int = 0) -> LockedMessage:
    locked_until = row["locked_until"] if (row["locked_until"] or 0) > now else None
    return LockedMessage(
        message_id=row["message_id"],
        session_id=row["session_id"],
        body=bytes(row["body"]),
        application_properties=json.loads(row["props"]),
        content_type=row["content_type"],
        sequence_number=row["seq"],
        enqueued_time=from_us(row["enqueued_at"]),
        delivery_count=row["delivery_count"],
        lock_token=row["lock_token"] if with_token else None,
        locked_until=None if locked_until is None else from_us(locked_until),
    )
