"""Named management tokens in Table Storage.

`tokens`: PartitionKey = the token's id, RowKey "token" (one small partition each, so
checking a token is one point read). Only the SHA-256 of the secret is stored.
"""

from __future__ import annotations

import json
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure_storage import StorageClients, translate_errors, write_entity
from shared.domain.models import Role
from shared.domain.tokens import ManagementToken
from shared.services.ports import StaleWrite, TokenStore

ROW = "token"


def to_entity(token: ManagementToken) -> dict[str, Any]:
    return {
        "PartitionKey": token.id,
        "RowKey": ROW,
        "name": token.name,
        "role": token.role.value,
        "secretHash": token.secret_hash,
        "createdAt": token.created_at,
        "createdBy": token.created_by,
        "integrationIds": json.dumps(token.integration_ids)
        if token.integration_ids is not None
        else None,
        "expiresAt": token.expires_at,
        "revokedAt": token.revoked_at,
        "revokedBy": token.revoked_by,
        "lastUsedAt": token.last_used_at,
    }


def from_entity(entity: Any) -> ManagementToken:
    scope = entity.get("integrationIds")
    return ManagementToken(
        id=entity["PartitionKey"],
        name=entity["name"],
        role=Role(entity["role"]),
        secret_hash=entity["secretHash"],
        created_at=entity["createdAt"],
        created_by=entity.get("createdBy", ""),
        integration_ids=json.loads(scope) if scope else None,
        expires_at=entity.get("expiresAt"),
        revoked_at=entity.get("revokedAt"),
        revoked_by=entity.get("revokedBy"),
        last_used_at=entity.get("lastUsedAt"),
        etag=entity.metadata.get("etag"),
    )


class TableTokenStore(TokenStore):
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage
        self._tokens = storage.table("tokens")

    async def add(self, token: ManagementToken) -> None:
        await self._storage.ensure_created()
        entity = _without_nulls(to_entity(token))
        token.etag = await write_entity(self._tokens, entity, None, must_be_new=True)

    async def get(self, token_id: str) -> ManagementToken | None:
        await self._storage.ensure_created()
        try:
            with translate_errors():
                entity = await self._tokens.get_entity(token_id, ROW)
        except ResourceNotFoundError:
            return None
        return from_entity(entity)

    async def list(self) -> list[ManagementToken]:
        await self._storage.ensure_created()
        with translate_errors():
            return [from_entity(entity) async for entity in self._tokens.list_entities()]

    async def save(self, token: ManagementToken) -> None:
        await self._storage.ensure_created()
        entity = _without_nulls(to_entity(token))
        try:
            token.etag = await write_entity(self._tokens, entity, token.etag)
        except ResourceNotFoundError as exc:  # deleted since it was read
            raise StaleWrite(f"token {token.id} is gone") from exc


def _without_nulls(entity: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in entity.items() if value is not None}
