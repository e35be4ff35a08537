"""IntegrationEvents and their attempts in Table Storage, with big payloads in blobs.

The partition/row-key layout, continuation tokens and entity mapping are in
`shared.adapters.table_event_layout`, whose docstring explains the layout.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure_storage import StorageClients, collect, translate_errors, write_entity
from shared.adapters.table_event_layout import (
    INLINE_PAYLOAD_LIMIT,
    INVERTED_MS_BASE,
    ROW_KEY_SHAPE,
    attempt_entity,
    attempt_from_entity,
    decode_token,
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
from shared.clock import epoch_ms
from shared.models import Attempt, IntegrationEvent
from shared.ports import EventPage, EventQuery, EventStore

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


class TableEventStore(EventStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._events = storage.table("events")
        self._attempts = storage.table("attempts")

    # --- events -------------------------------------------------------------------
    async def add(self, event: IntegrationEvent, shards: int) -> None:
        await self._storage.ensure_created()
        entity = await self._to_entity(event, shards)
        # Exists already: two requests finishing one acceptance, the other recorded it.
        event.etag = await write_entity(self._events, entity, None, must_be_new=True)

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

    async def save(self, event: IntegrationEvent, shards: int) -> None:
        entity = await self._to_entity(event, shards)
        event.etag = await write_entity(self._events, entity, event.etag)

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
        clauses = ["PartitionKey eq @pk"]
        params: dict[str, Any] = {"pk": partition_key(query.integration_id, shard)}
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

    # --- attempts -------------------------------------------------------------------
    async def add_attempt(self, attempt: Attempt) -> None:
        with translate_errors():
            await self._attempts.upsert_entity(attempt_entity(attempt), mode="replace")

    async def attempts(self, event_id: str) -> list[Attempt]:
        await self._storage.ensure_created()
        with translate_errors():
            rows = self._attempts.query_entities("PartitionKey eq @pk", parameters={"pk": event_id})
            return [attempt_from_entity(event_id, row) async for row in rows]

    # --- payloads: inline when small enough, otherwise a blob ----------------------
    async def _to_entity(self, event: IntegrationEvent, shards: int) -> dict[str, Any]:
        entity = event_entity(event, shards)
        if event.payload is not None:
            text = to_json(event.payload) or ""
            if len(text) <= INLINE_PAYLOAD_LIMIT:
                entity["payload"] = text
            else:
                blob = f"{event.integration_id}/{event.id}.json"
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
