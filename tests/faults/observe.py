"""Where a fault's effect shows: the host's log, the local queue, the platform sandbox's
counters. Read-only: nothing here changes what the product sees."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from typing import Any

from local.servicebus.session_queue import LocalSessionQueue
from tests.conftest import Stack

EVERYTHING = 10**9  # a peek limit above any queue length


class HostLog:
    """The Functions host's log file, read from a mark on (it outlives restarts)."""

    def __init__(self, stack: Stack) -> None:
        self.path = stack.folder / "stack.log"

    def mark(self) -> int:
        return self.path.stat().st_size

    def since(self, mark: int) -> str:
        with open(self.path, "rb") as log:
            log.seek(mark)
            return log.read().decode(errors="replace")

    def failed_accept_sends(self, mark: int) -> list[str]:
        """Events the accept path recorded but could not send (it answered 202 anyway)."""
        pattern = r"send of event (\S+) failed; the timer will retry it"
        return re.findall(pattern, self.since(mark))


def queue_path(stack: Stack) -> str:
    return stack.env["LOCAL_QUEUE_PATH"]


def locked_messages(stack: Stack) -> int:
    with LocalSessionQueue(queue_path(stack)) as queue:
        return queue.counts()["locked"]


def events_in_flight(stack: Stack) -> set[str]:
    """Events whose message is locked by a consumer right now."""
    with LocalSessionQueue(queue_path(stack)) as queue:
        messages = queue.peek(limit=EVERYTHING)
    return {json.loads(m.body)["eventId"] for m in messages if m.locked_until is not None}


def messages_named(stack: Stack, prefix: str) -> list[str]:
    """Ids of messages still in the queue or its dead-letter sub-queue starting so."""
    with LocalSessionQueue(queue_path(stack)) as queue:
        messages = queue.peek(limit=EVERYTHING)
        messages += queue.peek(limit=EVERYTHING, dead_lettered=True)
    return [m.message_id for m in messages if m.message_id.startswith(prefix)]


def first_sends(stack: Stack, event_ids: list[str]) -> dict[str, float]:
    """For each event with a message in the queue's duplicate-detection record (its own
    id, or `<id>~<n>` for a later message of it), when the first send that landed
    began (seconds since the epoch)."""
    if not event_ids:
        return {}
    with closing(sqlite3.connect(queue_path(stack), timeout=30)) as db:
        rows = db.execute("SELECT message_id, sent_at FROM sent_ids").fetchall()
    wanted, first = set(event_ids), dict[str, float]()
    for message_id, sent_at in rows:
        event_id = message_id.partition("~")[0]
        if event_id in wanted:
            first[event_id] = min(first.get(event_id, sent_at / 1e6), sent_at / 1e6)
    return first


class Sandbox:
    """The platform sandbox's counters (never behind faults)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def stats(self) -> dict[str, int]:
        return dict(self.stack.http.get(self.stack.sandbox + "/_sandbox/stats").json())

    def reset_stats(self) -> None:
        answer = self.stack.http.delete(self.stack.sandbox + "/_sandbox/stats")
        assert answer.status_code == 200, answer.text

    def keys(self) -> dict[str, Any]:
        """Per Idempotency-Key: requests, rateLimited, replayed, appliedThenDelayed."""
        return dict(self.stack.http.get(self.stack.sandbox + "/_sandbox/keys").json())


def keys_of(event_id: str, keys: dict[str, Any]) -> list[str]:
    """The platform keys of one event among `keys`: its id and `<id>~...`."""
    return [key for key in keys if key == event_id or key.startswith(event_id + "~")]
