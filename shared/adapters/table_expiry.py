"""Expiry index rows, and deleting rows in batches: what the purge of expired records
needs from Table Storage (see `shared.adapters.table_retention`).

A table whose RowKeys carry no time (an Idempotency-Key's hash, a record's digest) can
only find its old rows by reading every row. So such a record gets, in the same
entity-group transaction that creates it, an index row in its own partition:
RowKey "~exp~<epoch ms, 13 digits>~<the record's RowKey>". "~" sorts after every
digit and letter, so the index rows sit after the records, in time order, and one
RowKey range up to "~exp~<horizon ms>" lists exactly the records older than the
horizon: a purge reads what expired, never the live records beside it.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError
from azure.data.tables.aio import TableClient

from shared.adapters.azure_storage import collect, translate_errors
from shared.domain.clock import epoch_ms

log = logging.getLogger("integrations.retention")

EXPIRY_PREFIX = "~exp~"
BATCH = 100  # the most operations one Table Storage transaction takes


def expiry_row_key(ms: int, row_key: str) -> str:
    return f"{EXPIRY_PREFIX}{max(ms, 0):013d}~{row_key}"


def indexed_row(expiry_key: str) -> tuple[int, str]:
    """The time and the record's RowKey an index row names."""
    ms, _, row_key = expiry_key.removeprefix(EXPIRY_PREFIX).partition("~")
    return int(ms), row_key


async def expired_index_rows(
    table: TableClient, partition: str, before: datetime, limit: int
) -> list[str]:
    """RowKeys of the partition's index rows older than `before`, oldest first."""
    with translate_errors():
        rows = table.query_entities(
            "PartitionKey eq @pk and RowKey ge @first and RowKey lt @end",
            parameters={
                "pk": partition,
                "first": EXPIRY_PREFIX,
                "end": f"{EXPIRY_PREFIX}{epoch_ms(before):013d}",
            },
            select=["RowKey"],
            results_per_page=min(limit, 1000),
        )
        return [row["RowKey"] for row in await collect(rows, limit)]


async def submit(table: TableClient, operations: list[Any]) -> bool:
    """One transaction; False if Table Storage refused it (a row changed or is gone)."""
    with translate_errors():
        try:
            await table.submit_transaction(operations)
        except TableTransactionError as exc:
            if exc.status_code in (404, 409, 412):
                return False
            raise
    return True


async def delete_groups(table: TableClient, groups: list[list[Any]]) -> list[bool]:
    """Delete each group of rows (operations of one partition) all at once or not at
    all, packing whole groups into transactions of up to 100 operations; a refused
    transaction is tried again group by group. Which groups went."""
    done = [False] * len(groups)
    pack: list[int] = []

    async def flush() -> None:
        operations = [op for i in pack for op in groups[i]]
        if operations and await submit(table, operations):
            for i in pack:
                done[i] = True
        elif len(pack) > 1:
            for i in pack:
                done[i] = await submit(table, groups[i])
        pack.clear()

    for index, group in enumerate(groups):
        if len(group) > BATCH:
            raise ValueError("a group larger than one transaction")
        if sum(len(groups[i]) for i in pack) + len(group) > BATCH:
            await flush()
        pack.append(index)
    await flush()
    return done


async def delete_rows(table: TableClient, partition: str, row_keys: list[str]) -> int:
    """Delete rows that nobody changes any more (append-only rows, counts); a row gone
    already is fine. How many went."""
    groups = [[("delete", {"PartitionKey": partition, "RowKey": key})] for key in row_keys]
    done = await delete_groups(table, groups)
    for key, went in zip(row_keys, done, strict=True):
        if not went:  # gone meanwhile: nothing left to delete
            with contextlib.suppress(ResourceNotFoundError), translate_errors():
                await table.delete_entity(partition, key)
    return len(row_keys)
