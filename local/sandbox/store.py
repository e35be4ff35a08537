"""The sandbox's state in one SQLite file, so it survives restarts.

Business state is a set of JSON documents addressed by (kind, key), e.g.
("inventory", "SKU-1") -> {"WH-1": 5}. The rules only need get/put on documents, and
a document store keeps the schema from mirroring every rule. Idempotency records live in
their own table, written in the same transaction as the effect they describe, so a crash
can never leave "applied but not remembered" (or the reverse).

One connection guarded by a lock: uvicorn serves from one event loop, and the lock keeps
the store safe if it is also used from a thread (Starlette's TestClient does).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Every kind of document, in the order the state view shows them.
KINDS = ("inventory", "products", "prices", "customers", "orders", "ordersByExternalId")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    operation TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    times_applied INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    operation: str  # the operationId the key was first used with


class Tx:
    """Reads and writes inside one open transaction (see `Store.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, kind: str, key: str) -> Any:
        row = self._conn.execute(
            "SELECT value FROM docs WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, kind: str, key: str, value: Any) -> None:
        self._conn.execute(
            "INSERT INTO docs (kind, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
            (kind, key, json.dumps(value)),
        )

    def recall(self, key: str) -> StoredResponse | None:
        """The response stored for an Idempotency-Key, if the key was seen."""
        row = self._conn.execute(
            "SELECT status, body, operation FROM idempotency WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else StoredResponse(row[0], json.loads(row[1]), row[2])

    def remember(self, key: str, operation: str, status: int, body: Any) -> None:
        # Upsert that counts: a key is only remembered after `recall` found nothing, so
        # `times_applied` stays 1 unless the sandbox itself is broken - which is what the
        # count is there to show.
        self._conn.execute(
            "INSERT INTO idempotency (key, operation, status, body, times_applied)"
            " VALUES (?, ?, ?, ?, 1) ON CONFLICT (key) DO UPDATE SET"
            " status = excluded.status, body = excluded.body,"
            " times_applied = times_applied + 1",
            (key, operation, status, json.dumps(body)),
        )

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo everything written inside the block if it raises (nested rollback)."""
        self._conn.execute("SAVEPOINT effect")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO effect")
            self._conn.execute("RELEASE effect")
            raise
        self._conn.execute("RELEASE effect")


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so one request is exactly
        # one transaction and nothing is committed behind our back.
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One all-or-nothing unit: committed if the block returns, rolled back if it raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def snapshot(self) -> dict[str, Any]:
        """Every document by kind, plus how often each Idempotency-Key was applied."""
        state: dict[str, Any] = {kind: {} for kind in KINDS}
        with self._lock:
            rows = self._conn.execute("SELECT kind, key, value FROM docs ORDER BY rowid")
            for kind, key, value in rows.fetchall():
                state.setdefault(kind, {})[key] = json.loads(value)
            keys = self._conn.execute("SELECT key, times_applied FROM idempotency ORDER BY rowid")
            state["idempotency"] = dict(keys.fetchall())
        return state

    def clear(self) -> None:
        with self._lock:
            self._conn.executescript(
                "BEGIN IMMEDIATE; DELETE FROM docs; DELETE FROM idempotency; COMMIT;"
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
