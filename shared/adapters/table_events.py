"""IntegrationEvents and their attempts in Table Storage, with big payloads in blobs.

The partition/row-key layout, continuation tokens and entity mapping are in
`shared.adapters.table_event_layout`, whose docstring explains the layout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError

from shared.adapters.azure_storage import StorageClients, collect, translate_errors
from shared.adapters.table_event_layout import (
    COMPANION_ROWS,
    DUE_END,
    DUE_PREFIX,
    INLINE_PAYLOAD_LIMIT,
    INVERTED_MS_BASE,
    ROW_KEY_SHAPE,
    attempt_entity,
    attempt_from_entity,
    attempt_row_key,
    decode_token,
    due_row_key,
    encode_token,
    event_entity,
    event_from_entity,
    event_keys,
    from_json,
    partition_key,
    row_key_for_ms,
    shard_of,
    to_json,
)
from shared.domain.clock import epoch_ms
from shared.domain.errors import TransientError
from shared.domain.models import Attempt, IntegrationEvent
from shared.services.ports import EventPage, EventQuery, EventStore, StaleWrite

# Re-exported: callers and tests import these from here.
__all__ = [
    "INLINE_PAYLOAD_LIMIT",
    "INVERTED_MS_BASE",
    "ROW_KEY_SHAPE",
    "SCAN_CAP_PER_SHARD",
    "TableEventStore",
    "event_keys",
    "partition_key",
    "row_key_for_ms",
    "shard_of",
]

SCAN_CAP_PER_SHARD = 2_000
MATCH = MatchConditions.IfNotModified
Operation = tuple[Any, ...]


def _key(check: dict[str, Any] | None) -> str | None:
    return None if check is None else f"{check['PartitionKey']}|{check['RowKey']}"


class TableEventStore(EventStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._events = storage.table("events")

    # --- events, their checks and attempts: one transaction per write --------------
    async def add(self, event: IntegrationEvent, shards: int) -> None:
        await self._storage.ensure_created()
        entity = await self._to_entity(event, shards, upload=True)
        check = self._check_row(event, shards)
        entity["scheduleKey"] = _key(check)
        operations: list[Operation] = [("create", entity)]
        if check is not None:
            operations.append(("upsert", check))
        # Exists already: two requests finishing one acceptance, the other recorded it.
        written = await self._submit(operations)
        event.etag, event.schedule_key = written[0].get("etag"), _key(check)

    async def get(self, integration_id: str, event_id: str, shards: int) -> IntegrationEvent | None:
        await self._storage.ensure_created()
        try:
            pk, rk = event_keys(integration_id, event_id, shards)
        except ValueError:
            return None  # not an event id this product issued
        try:
            with translate_errors():
                entity = await self._events.get_entity(pk, rk)
        except ResourceNotFoundError:
            return None
        return await self._from_entity(entity)

    async def save(
        self, event: IntegrationEvent, shards: int, attempt: Attempt | None = None
    ) -> None:
        entity = await self._to_entity(event, shards, upload=False)
        partition = entity["PartitionKey"]
        check = self._check_row(event, shards)
        new_key = entity["scheduleKey"] = _key(check)
        operations: list[Operation] = [
            ("update", entity, {"mode": "replace", "etag": event.etag, "match_condition": MATCH})
            if event.etag
            else ("upsert", entity, {"mode": "replace"})
        ]
        old_partition, _, old_row = (event.schedule_key or "").partition("|")
        if old_row and event.schedule_key != new_key and old_partition == partition:
            operations.append(("delete", {"PartitionKey": partition, "RowKey": old_row}))
        if check is not None and event.schedule_key != new_key:
            operations.append(("upsert", check))
        if attempt is not None:
            operations.append(("upsert", attempt_entity(partition, attempt)))
        written = await self._submit(operations)
        event.etag, event.schedule_key = written[0].get("etag"), new_key

    async def has_pending(self, integration_id: str, shards: int) -> bool:
        await self._storage.ensure_created()

        async def any_check(shard: int) -> bool:
            rows = self._events.query_entities(
                "PartitionKey eq @pk and RowKey gt @low and RowKey lt @high",
                parameters={"pk": partition_key(integration_id, shard), "low": DUE_PREFIX,
                            "high": DUE_END},
                results_per_page=1,
                select=["RowKey"],
            )  # fmt: skip
            with translate_errors():
                return bool(await collect(rows, 1))

        return any(await asyncio.gather(*(any_check(shard) for shard in range(shards))))

    def _check_row(self, event: IntegrationEvent, shards: int) -> dict[str, Any] | None:
        if event.check_at is None:
            return None
        partition, _ = event_keys(event.integration_id, event.id, shards)
        return {
            "PartitionKey": partition,
            "RowKey": due_row_key(epoch_ms(event.check_at), event.id),
            "integrationId": event.integration_id,
            "shards": shards,
        }

    async def _submit(self, operations: list[Operation]) -> list[Mapping[str, Any]]:
        """One entity-group transaction: all of it lands, or none of it."""
        try:
            with translate_errors():
                return await self._events.submit_transaction(operations)
        except TableTransactionError as exc:
            # 412: the event changed since it was read; 409: it exists already; 404: its
            # check row went with a change we did not see. All mean: read it again.
            if exc.status_code in (404, 409, 412):
                raise StaleWrite(f"event write refused ({exc.status_code})") from exc
            raise TransientError(f"Storage is unavailable: {type(exc).__name__}") from exc

    async def query(self, query: EventQuery) -> EventPage:
        await self._storage.ensure_created()
        limit = max(1, min(query.limit, 500))
        after = decode_token(query.continuation_token)
        shard_results = await asyncio.gather(
            *(self._query_shard(query, shard, after, limit) for shard in range(query.shards))
        )
        merged = sorted(
            (row for rows, _ in shard_results for row in rows), key=lambda r: r["RowKey"]
        )
        # A text search scans a bounded number of rows per shard; past the oldest row
        # a shard scanned nothing is known, so the page stops there and the token
        # resumes from it.
        horizons = [horizon for _, horizon in shard_results if horizon]
        horizon = min(horizons) if horizons else None
        if horizon:
            merged = [row for row in merged if row["RowKey"] <= horizon]
        page = merged[:limit]
        more = len(merged) > limit or any(len(rows) >= limit for rows, _ in shard_results)
        token: str | None = None
        if page and (more or (horizon and len(page) == limit)):
            token = encode_token(page[-1]["RowKey"])
        elif horizon:
            token = encode_token(horizon)
        events = [await self._from_entity(row, with_payload=False) for row in page]
        return EventPage(events, token)

    async def _query_shard(
        self, query: EventQuery, shard: int, after: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """Up to `limit` matching rows, and for a capped text search the last row read."""
        clauses = ["PartitionKey eq @pk", "RowKey lt @companions"]
        params: dict[str, Any] = {
            "pk": partition_key(query.integration_id, shard),
            "companions": COMPANION_ROWS,
        }
        if after:
            clauses.append("RowKey gt @after")
            params["after"] = after
        if query.created_to:
            clauses.append("RowKey ge @lower")
            params["lower"] = row_key_for_ms(epoch_ms(query.created_to))
        if query.created_from:
            clauses.append("RowKey lt @upper")
            params["upper"] = row_key_for_ms(epoch_ms(query.created_from) - 1)
        for name, value in (
            ("status", query.status),
            ("action", query.action),
            ("entityId", query.entity_id),
            ("deadLettered", query.dead_lettered),
        ):
            if value is not None:
                clauses.append(f"{name} eq @{name}")
                params[name] = value
        rows = self._events.query_entities(
            " and ".join(clauses), parameters=params, results_per_page=limit
        )
        if not query.entity_id_contains:
            with translate_errors():
                return await collect(rows, limit), None
        # Table Storage has no substring filter: scan a bounded number of rows here.
        needle = query.entity_id_contains.lower()
        found: list[Any] = []
        with translate_errors():
            scanned = await collect(rows, SCAN_CAP_PER_SHARD)
        for row in scanned:
            if needle in str(row.get("entityId") or "").lower():
                found.append(row)
                if len(found) >= limit:
                    return found, None
        capped = len(scanned) >= SCAN_CAP_PER_SHARD
        return found, scanned[-1]["RowKey"] if capped else None

    # --- attempts ---------------------------------------------------------------------
    async def attempts(self, integration_id: str, event_id: str, shards: int) -> list[Attempt]:
        await self._storage.ensure_created()
        partition, _ = event_keys(integration_id, event_id, shards)
        first = attempt_row_key(event_id, 0, 0)
        with translate_errors():
            rows = self._events.query_entities(
                "PartitionKey eq @pk and RowKey ge @first and RowKey lt @end",
                parameters={
                    "pk": partition,
                    "first": first,
                    "end": first[: -len("000~0000")] + "~",
                },
            )
            return [attempt_from_entity(event_id, row) async for row in rows]

    # --- payloads: inline when small enough, otherwise a blob ----------------------
    async def _to_entity(
        self, event: IntegrationEvent, shards: int, *, upload: bool
    ) -> dict[str, Any]:
        """The payload never changes after acceptance: its blob is written once, when
        the event is added, and later writes only name it."""
        entity = event_entity(event, shards)
        if event.payload is not None:
            text = to_json(event.payload) or ""
            if len(text) <= INLINE_PAYLOAD_LIMIT:
                entity["payload"] = text
            else:
                blob = f"{event.integration_id}/{event.id}.json"
                if upload:
                    with translate_errors():
                        await self._storage.payloads().upload_blob(blob, text, overwrite=True)
                entity["payloadBlob"] = blob
        return entity

    async def _from_entity(self, entity: Any, with_payload: bool = True) -> IntegrationEvent:
        payload = from_json(entity.get("payload"))
        if with_payload and payload is None and entity.get("payloadBlob"):
            with translate_errors():
                stream = await self._storage.payloads().download_blob(entity["payloadBlob"])
                payload = json.loads(await stream.readall())
        return event_from_entity(entity, payload)
