"""The purge of expired events, with their attempts, checks and payload blobs.

An event's RowKey is its inverted creation time, so the oldest events sit at the end
of each events partition, before the companion rows: `RowKey ge <inverted horizon>`
and `RowKey lt "~"` is exactly the events created before the horizon. Final ones
(success, skipped) are read with a filter on their status; the others are only
counted (see `shared.domain.retention`: they are kept). Attempt rows are keyed by
event id, and event ids (UUIDv7) sort in creation order, so the attempts of a batch
of events are one RowKey range too. Neither read touches a live event.

An Idempotency-Key record goes with the event it names: the event row carries its key,
so the purge finds the record without an index of its own (and the accept path writes
nothing more for it); a key claimed again since by a newer event stays.

An event goes in one entity-group transaction with its attempts and check, on the
condition that it did not change since it was read (a person may have resubmitted
it); its payload blob goes after that transaction, so a blob is never missing under
an event that stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables.aio import TableClient
from azure.storage.blob.aio import ContainerClient

from shared.adapters.azure_storage import collect, translate_errors
from shared.adapters.table_event_layout import (
    ATTEMPT_PREFIX,
    COMPANION_ROWS,
    partition_key,
    row_key_for_ms,
)
from shared.adapters.table_expiry import BATCH, delete_groups, delete_rows
from shared.adapters.table_schedule import _key_hash
from shared.domain.clock import epoch_ms
from shared.domain.retention import FINAL_STATUSES, Purged

log = logging.getLogger("integrations.retention")

FINAL = " or ".join(f"status eq '{status.value}'" for status in FINAL_STATUSES)
NOT_FINAL = " and ".join(f"status ne '{status.value}'" for status in FINAL_STATUSES)
COUNT_CAP = 1000  # kept events counted per partition and run: one page


async def purge_events(
    table: TableClient,
    idempotency: TableClient,
    payloads: ContainerClient,
    integration_id: str,
    shards: int,
    before: datetime,
    limit: int,
) -> Purged:
    result = Purged()
    # Every event created before `before`: its inverted time is at least this.
    oldest_end = row_key_for_ms(epoch_ms(before) - 1)
    for shard in range(shards):
        room = limit - result.deleted
        if room <= 0:
            result.more = True
            break
        partition = _Partition(table, payloads, partition_key(integration_id, shard))
        partition.keys = _Keys(idempotency, integration_id)
        result.add(await partition.purge(oldest_end, room))
    return result


class _Partition:
    def __init__(self, table: TableClient, payloads: ContainerClient, partition: str) -> None:
        self._table, self._payloads, self._pk = table, payloads, partition
        self.keys: _Keys | None = None

    def _expired(self, oldest_end: str, status: str, select: list[str], limit: int) -> Any:
        return self._table.query_entities(
            f"PartitionKey eq @pk and RowKey ge @first and RowKey lt @end and ({status})",
            parameters={"pk": self._pk, "first": oldest_end, "end": COMPANION_ROWS},
            select=select,
            results_per_page=min(limit, 1000),
        )

    async def purge(self, oldest_end: str, room: int) -> Purged:
        result = Purged()
        select = ["RowKey", "id", "payloadBlob", "scheduleKey", "idempotencyKey"]
        with translate_errors():
            final = await collect(self._expired(oldest_end, FINAL, select, room), room)
            kept = await collect(
                self._expired(oldest_end, NOT_FINAL, ["RowKey"], COUNT_CAP), COUNT_CAP
            )
        result.kept = len(kept)
        result.more = len(final) >= room
        if not final:
            return result
        attempts = await self._attempts_of([row["id"] for row in final])
        groups: list[list[Any]] = []
        overflow: list[list[str]] = []
        for row in final:
            # One transaction per event: the event on its condition, its check and its
            # attempts. An event with more than 98 attempts (resubmitted many times)
            # loses the rest just after: never before, as the event may yet stay.
            mine = attempts.get(row["id"], [])
            companions = BATCH - 2
            groups.append(self._operations(row, mine[:companions]))
            overflow.append(mine[companions:])
        done = await delete_groups(self._table, groups)
        keyed: list[tuple[str, str]] = []
        for row, went, rest in zip(final, done, overflow, strict=True):
            if not went:
                continue  # changed since it was read: a later run looks again
            if row.get("idempotencyKey"):
                keyed.append((row["idempotencyKey"], row["id"]))
            if rest:
                await delete_rows(self._table, self._pk, rest)
            result.deleted += 1
            result.count("attempts", len(attempts.get(row["id"], [])))
            if row.get("payloadBlob"):
                await self._delete_blob(row["payloadBlob"], result)
        if keyed and self.keys is not None:
            result.count("idempotencyKeys", await self.keys.delete(keyed))
        return result

    def _operations(self, row: Any, attempts: list[str]) -> list[Any]:
        """The deletes of one event: its attempts, its check, then the event itself on
        the condition that it is the copy that was read."""
        operations: list[Any] = [
            ("delete", {"PartitionKey": self._pk, "RowKey": key}) for key in attempts
        ]
        check_partition, _, check_row = str(row.get("scheduleKey") or "").partition("|")
        if check_row and check_partition == self._pk:
            operations.append(("delete", {"PartitionKey": self._pk, "RowKey": check_row}))
        operations.append(
            ("delete", {"PartitionKey": self._pk, "RowKey": row["RowKey"]}, _unchanged(row))
        )
        return operations

    async def _attempts_of(self, event_ids: list[str]) -> dict[str, list[str]]:
        """Attempt RowKeys per event, for these events: one range read."""
        first, last = min(event_ids), max(event_ids)
        with translate_errors():
            rows = self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @first and RowKey lt @end",
                parameters={
                    "pk": self._pk,
                    "first": f"{ATTEMPT_PREFIX}{first}",
                    "end": f"{ATTEMPT_PREFIX}{last}~~",
                },
                select=["RowKey"],
            )
            keys = [row["RowKey"] async for row in rows]
        wanted = set(event_ids)
        found: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            event_id = key.removeprefix(ATTEMPT_PREFIX).split("~", 1)[0]
            if event_id in wanted:  # another event of the same millisecond stays
                found[event_id].append(key)
        return found

    async def _delete_blob(self, name: str, result: Purged) -> None:
        try:
            await self._payloads.delete_blob(name)
        except ResourceNotFoundError:
            pass
        except AzureError as exc:
            # The event is gone, so nothing reads this blob again; only its bytes stay.
            log.warning("payload blob %s of a purged event stays: %s", name, exc)
            return
        result.count("payloadBlobs")


def _unchanged(row: Any) -> dict[str, Any]:
    """The condition of a delete: the row is still the copy that was read."""
    return {"etag": row.metadata["etag"], "match_condition": MatchConditions.IfNotModified}


class _Keys:
    """The Idempotency-Key records of purged events."""

    def __init__(self, table: TableClient, integration_id: str) -> None:
        self._table, self._pk = table, integration_id

    async def delete(self, keyed: list[tuple[str, str]]) -> int:
        """Delete the records of these (key, event id) pairs that still name that event."""
        rows = await asyncio.gather(*(self._read(_key_hash(key)) for key, _ in keyed))
        groups = [
            [("delete", {"PartitionKey": self._pk, "RowKey": row["RowKey"]}, _unchanged(row))]
            for row, (_, event_id) in zip(rows, keyed, strict=True)
            if row is not None and row.get("eventId") == event_id
        ]
        return sum(await delete_groups(self._table, groups))

    async def _read(self, row_key: str) -> Any:
        try:
            with translate_errors():
                return await self._table.get_entity(self._pk, row_key, select=["RowKey", "eventId"])
        except ResourceNotFoundError:
            return None
