"""Everything stored in the account, as an erasure reads and rewrites it
(`shared.services.privacy`): events and attempts by their layout
(`shared.adapters.table_event_layout`), every other table and every blob container as
the account lists them, so a table or container added later is covered too.

Rows are rewritten with a merge over the copy read (its etag): only the properties
that held the value are written, every other property stays as stored. The Functions
host's own containers (`azure-webjobs-*`, `$logs`) hold no event data and are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.azure_storage import StorageClients, translate_errors
from shared.adapters.table_event_layout import (
    ATTEMPT_PREFIX,
    COMPANION_ROWS,
    INLINE_PAYLOAD_LIMIT,
    attempt_entity,
    attempt_from_entity,
    event_from_entity,
    event_keys,
    from_json,
    partition_key,
    to_json,
)
from shared.domain.errors import StaleWrite
from shared.domain.models import Attempt, IntegrationEvent
from shared.services.ports import PersonalDataStore, StoredBlob, StoredRow

PAGE = 1000  # the most rows Table Storage answers in one page
EVENTS_TABLE = "events"
HOST_CONTAINERS = ("azure-webjobs-", "$logs")
MATCH = MatchConditions.IfNotModified
ATTEMPTS_END = ATTEMPT_PREFIX[:-1] + chr(ord(ATTEMPT_PREFIX[-1]) + 1)


class TablePersonalDataStore(PersonalDataStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._events = storage.table(EVENTS_TABLE)

    # --- events and attempts ----------------------------------------------------------
    async def event_pages(
        self, integration_id: str, shards: int
    ) -> AsyncIterator[list[IntegrationEvent]]:
        await self._storage.ensure_created()
        for shard in range(shards):
            rows = self._events.query_entities(
                "PartitionKey eq @pk and RowKey lt @companions",
                parameters={"pk": partition_key(integration_id, shard),
                            "companions": COMPANION_ROWS},
                results_per_page=PAGE,
            )  # fmt: skip
            async for page in _pages(rows):
                yield [event_from_entity(row, await self._payload(row)) for row in page]

    async def attempt_pages(self, integration_id: str, shards: int) -> AsyncIterator[list[Attempt]]:
        await self._storage.ensure_created()
        for shard in range(shards):
            rows = self._events.query_entities(
                "PartitionKey eq @pk and RowKey ge @first and RowKey lt @end",
                parameters={"pk": partition_key(integration_id, shard), "first": ATTEMPT_PREFIX,
                            "end": ATTEMPTS_END},
                results_per_page=PAGE,
            )  # fmt: skip
            async for page in _pages(rows):
                yield [attempt_from_entity(_attempt_event_id(row["RowKey"]), row) for row in page]

    async def rewrite_event(self, event: IntegrationEvent, shards: int) -> bool:
        pk, rk = event_keys(event.integration_id, event.id, shards)
        try:
            with translate_errors():
                stored = await self._events.get_entity(pk, rk, select=["payloadBlob"])
        except ResourceNotFoundError as exc:
            raise StaleWrite(f"event {event.id} is gone") from exc
        changes: dict[str, Any] = {
            "PartitionKey": pk,
            "RowKey": rk,
            "entityId": event.entity_id,
            "idempotencyKey": event.idempotency_key,
            "result": to_json(event.result),
            "lastError": to_json(event.last_error.to_json() if event.last_error else None),
        }
        blob = stored.get("payloadBlob")
        text = to_json(event.payload)
        if text is not None:
            if not blob and len(text) > INLINE_PAYLOAD_LIMIT:
                blob = f"{event.integration_id}/{event.id}.json"
                changes["payload"] = ""
            if blob:
                changes["payloadBlob"] = blob
                # Before the row: the row names this blob either way, and a blob holding
                # the erased text under a row that then changed is what is wanted anyway.
                with translate_errors():
                    await self._storage.payloads().upload_blob(blob, text, overwrite=True)
            else:
                changes["payload"] = text
        # None: nothing to write (the merge would keep a stored value, which was None too).
        entity = {name: value for name, value in changes.items() if value is not None}
        with translate_errors():
            await self._events.update_entity(
                entity, mode=UpdateMode.MERGE, etag=event.etag, match_condition=MATCH
            )
        return bool(blob)

    async def rewrite_attempt(self, integration_id: str, shards: int, attempt: Attempt) -> None:
        partition, _ = event_keys(integration_id, attempt.event_id, shards)
        entity = {k: v for k, v in attempt_entity(partition, attempt).items() if v is not None}
        with translate_errors():
            await self._events.upsert_entity(entity, mode=UpdateMode.MERGE)

    async def _payload(self, row: Any) -> Any:
        payload = from_json(row.get("payload"))
        if payload is None and row.get("payloadBlob"):
            try:
                with translate_errors():
                    stream = await self._storage.payloads().download_blob(row["payloadBlob"])
                    payload = from_json(await stream.readall())
            except ResourceNotFoundError:
                return None
        return payload

    # --- every other table ------------------------------------------------------------
    async def other_rows(self) -> AsyncIterator[list[StoredRow]]:
        await self._storage.ensure_created()
        with translate_errors():
            names = [table.name async for table in self._storage.tables.list_tables()]
        for name in sorted(names):
            if name == EVENTS_TABLE:
                continue
            rows = self._storage.table(name).list_entities(results_per_page=PAGE)
            async for page in _pages(rows):
                yield [_stored_row(name, row) for row in page]

    async def rewrite_row(self, row: StoredRow, *, delete: bool = False) -> None:
        table = self._storage.table(row.table)
        with translate_errors():
            if delete:
                try:
                    await table.delete_entity(
                        row.partition_key, row.row_key, etag=row.etag, match_condition=MATCH
                    )
                except ResourceNotFoundError:
                    return
            else:
                entity = {"PartitionKey": row.partition_key, "RowKey": row.row_key}
                await table.update_entity(
                    {**row.properties, **entity},
                    mode=UpdateMode.MERGE,
                    etag=row.etag,
                    match_condition=MATCH,
                )

    # --- every blob -------------------------------------------------------------------
    async def blobs(self) -> AsyncIterator[StoredBlob]:
        await self._storage.ensure_created()
        with translate_errors():
            names = [c.name async for c in self._storage.blobs.list_containers()]
        for name in sorted(names):
            if name.startswith(HOST_CONTAINERS):
                continue
            container = self._storage.blobs.get_container_client(name)
            with translate_errors():
                blob_names = container.list_blob_names()
                async for blob_name in blob_names:
                    try:
                        stream = await container.download_blob(blob_name)
                        data = await stream.readall()
                    except ResourceNotFoundError:
                        continue  # deleted since it was listed
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        continue  # not text: nothing this product writes
                    yield StoredBlob(name, blob_name, text, stream.properties.etag)

    async def rewrite_blob(self, blob: StoredBlob) -> None:
        container = self._storage.blobs.get_container_client(blob.container)
        with translate_errors():
            await container.upload_blob(
                blob.name, blob.text, overwrite=True, etag=blob.etag, match_condition=MATCH
            )


async def _pages(rows: Any) -> AsyncIterator[list[Any]]:
    """The query's rows a page at a time (one request each)."""
    with translate_errors():
        async for page in rows.by_page():
            yield [row async for row in page]


def _attempt_event_id(row_key: str) -> str:
    return row_key.removeprefix(ATTEMPT_PREFIX).split("~", 1)[0]


def _stored_row(table: str, row: Any) -> StoredRow:
    properties = {k: v for k, v in row.items() if k not in ("PartitionKey", "RowKey")}
    return StoredRow(
        table, row["PartitionKey"], row["RowKey"], properties, row.metadata.get("etag")
    )
