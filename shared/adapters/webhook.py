"""Alert notifications over HTTP (Teams/Slack incoming webhooks), and the alert ledger
in Table Storage (`alerts`: PartitionKey = integration, RowKey = window~kind, the
window named by its start)."""

from __future__ import annotations

from typing import Any

import httpx
from azure.core.exceptions import ResourceExistsError

from shared.adapters.azure_storage import StorageClients, translate_errors
from shared.domain.clock import utcnow
from shared.domain.errors import TransientError
from shared.services.ports import AlertLedger, AlertSink


class WebhookAlertSink(AlertSink):
    def __init__(self, url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=10, transport=transport)

    async def post(self, message: dict[str, Any]) -> None:
        try:
            answer = await self._client.post(self._url, json=message)
        except httpx.HTTPError as exc:
            raise TransientError(f"alert webhook unreachable ({type(exc).__name__})") from exc
        if answer.status_code >= 300:
            raise TransientError(f"alert webhook answered {answer.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


class TableAlertLedger(AlertLedger):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._table = storage.table("alerts")

    async def claim(self, integration_id: str, kind: str, window: str) -> bool:
        await self._storage.ensure_created()
        # The window (its start) first: the rows sort by time, so the purge of old ones
        # reads a key range (shared.adapters.table_retention).
        entity = {"PartitionKey": integration_id, "RowKey": f"{window}~{kind}", "at": utcnow()}
        try:
            with translate_errors():
                await self._table.create_entity(entity)
        except ResourceExistsError:
            return False
        return True
