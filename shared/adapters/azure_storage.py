"""Table and blob clients for the storage account, created once per worker.

Locally (`AzureWebJobsStorage` is an Azurite connection string) they use it; in Azure
(`AzureWebJobsStorage__accountName`) they use the managed identity: no keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineRequest
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from shared.config import Settings
from shared.domain.errors import TransientError
from shared.services.ports import StaleWrite, StorageAccount

TABLES = (
    "integrations",
    "apikeys",
    "events",
    "idempotency",
    "entityversions",
    "jobs",
    "audit",
    "alerts",
    "flowcounts",
    "retention",
    "tokens",
)
PAYLOAD_CONTAINER = "payloads"

T = TypeVar("T")


class RequestCounter:
    """Counts the storage requests (round trips) the adapters make, retries included:
    a hook the SDKs call for every request they send. For tests and benchmarks."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def __call__(self, request: PipelineRequest[Any]) -> None:
        http = request.http_request
        path = urlsplit(http.url).path
        # A transaction goes to the account's $batch: its table is named inside.
        table = _batch_table(http) if path.endswith("/$batch") else None
        self.requests.append(f"{http.method} {path}" + (f" {table}" if table else ""))

    @property
    def count(self) -> int:
        return len(self.requests)

    def reset(self) -> None:
        self.requests.clear()


_BATCH_TARGET = re.compile(rb"(?m)^(?:POST|PUT|PATCH|MERGE|DELETE) \S*?/(\w+)[(\s]")


def _batch_table(http: Any) -> str | None:
    """The table of a transaction, from its first operation's request line."""
    parts = (getattr(http, "multipart_mixed_info", None) or [[]])[0]
    for part in parts:
        body = part.body if isinstance(part.body, bytes) else str(part.body or "").encode()
        found = _BATCH_TARGET.search(body)
        if found:
            return found.group(1).decode()
    return None


class StorageClients(StorageAccount):
    """One table service and one blob service client; tables created on first use."""

    def __init__(self, settings: Settings, request_hook: RequestCounter | None = None) -> None:
        # azure-core's CustomHookPolicy runs the hook on every request, after the retry
        # policy, so each round trip is seen once.
        hooks: dict[str, Any] = {"raw_request_hook": request_hook} if request_hook else {}
        if settings.storage_connection_string:
            conn = settings.storage_connection_string
            self.tables = TableServiceClient.from_connection_string(conn, **hooks)
            self.blobs = BlobServiceClient.from_connection_string(conn, **hooks)
            self._credential: Any = None
        elif settings.storage_account_name:
            from azure.identity.aio import DefaultAzureCredential

            name = settings.storage_account_name
            self._credential = DefaultAzureCredential(
                managed_identity_client_id=settings.storage_credential_client_id
                or settings.azure_client_id
            )
            self.tables = TableServiceClient(
                f"https://{name}.table.core.windows.net", credential=self._credential, **hooks
            )
            self.blobs = BlobServiceClient(
                f"https://{name}.blob.core.windows.net", credential=self._credential, **hooks
            )
        else:
            raise RuntimeError(
                "No storage configured: set AzureWebJobsStorage (local) or "
                "AzureWebJobsStorage__accountName (Azure)."
            )
        self._ready: asyncio.Task[None] | None = None

    async def ensure_created(self) -> None:
        """Create the tables and the payload container once; later calls return at once."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._create())
        try:
            await self._ready
        except Exception:
            self._ready = None  # a failed start is tried again by the next caller
            raise

    async def _create(self) -> None:
        for name in TABLES:
            with translate_errors():
                await self.tables.create_table_if_not_exists(name)
        with contextlib.suppress(ResourceExistsError), translate_errors():
            await self.blobs.create_container(PAYLOAD_CONTAINER)

    async def ping(self) -> None:
        """One cheap read that proves the account answers; raises if it does not."""
        await self.ensure_created()
        with contextlib.suppress(ResourceNotFoundError):
            await self.table("integrations").get_entity("health-probe", "none")

    def table(self, name: str) -> TableClient:
        return self.tables.get_table_client(name)

    def payloads(self) -> ContainerClient:
        return self.blobs.get_container_client(PAYLOAD_CONTAINER)

    async def close(self) -> None:
        await self.tables.close()
        await self.blobs.close()
        if self._credential is not None:
            await self._credential.close()


class translate_errors:
    """Turns Azure SDK failures into the core's errors (StaleWrite, TransientError)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, ResourceNotFoundError | ResourceExistsError):
            return False
        if isinstance(exc, ResourceModifiedError) or (
            isinstance(exc, HttpResponseError) and exc.status_code == 412
        ):
            raise StaleWrite(str(exc)) from exc
        if isinstance(exc, AzureError):
            raise TransientError(f"Storage is unavailable: {type(exc).__name__}") from exc
        return False


async def write_entity(
    table: TableClient, entity: dict[str, Any], etag: str | None, *, must_be_new: bool = False
) -> str | None:
    """Writes the whole entity and returns its new etag: over the copy that was read
    (its etag) if nobody changed it since, else StaleWrite. Without an etag it is written
    as new: created (StaleWrite if it exists) when `must_be_new`, or upserted."""
    with translate_errors():
        if etag:
            meta = await table.update_entity(
                entity, mode="replace", etag=etag, match_condition=MatchConditions.IfNotModified
            )
        elif must_be_new:
            try:
                meta = await table.create_entity(entity)
            except ResourceExistsError as exc:
                where = f"{entity['PartitionKey']}/{entity['RowKey']}"
                raise StaleWrite(f"{table.table_name} {where} exists already") from exc
        else:
            meta = await table.upsert_entity(entity, mode="replace")
    return meta.get("etag")


async def collect(pages: AsyncIterator[T], limit: int) -> list[T]:
    """At most `limit` items of an async iterator."""
    items: list[T] = []
    async for item in pages:
        items.append(item)
        if len(items) >= limit:
            break
    return items
