"""Where API keys are kept: Key Vault in Azure, a private folder in local runs."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from azure.core.exceptions import AzureError, ResourceNotFoundError

from shared.config import Settings
from shared.domain.errors import TransientError
from shared.services.ports import SecretStore


class KeyVaultSecretStore(SecretStore):
    def __init__(self, settings: Settings) -> None:
        from azure.identity.aio import DefaultAzureCredential
        from azure.keyvault.secrets.aio import SecretClient

        self._credential = DefaultAzureCredential(
            managed_identity_client_id=settings.azure_client_id
        )
        self._client = SecretClient(str(settings.key_vault_url), credential=self._credential)

    async def set_secret(self, name: str, value: str) -> None:
        try:
            await self._client.set_secret(name, value, content_type="api-key")
        except AzureError as exc:
            raise TransientError(f"Key Vault is unavailable: {type(exc).__name__}") from exc

    async def get_secret(self, name: str) -> str | None:
        try:
            secret = await self._client.get_secret(name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise TransientError(f"Key Vault is unavailable: {type(exc).__name__}") from exc
        return secret.value


class LocalFileSecretStore(SecretStore):
    """One file per secret, readable by the owner only; for local runs."""

    def __init__(self, folder: str) -> None:
        self._folder = Path(folder)

    def _path(self, name: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9-]{1,127}", name):
            raise ValueError(f"invalid secret name {name!r}")
        return self._folder / name

    async def set_secret(self, name: str, value: str) -> None:
        await asyncio.to_thread(self._write, self._path(name), value)

    async def get_secret(self, name: str) -> str | None:
        path = self._path(name)
        return await asyncio.to_thread(path.read_text) if path.exists() else None

    def _write(self, path: Path, value: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value)
        temporary.replace(path)


def secret_store_for(settings: Settings) -> SecretStore:
    if settings.key_vault_url:
        return KeyVaultSecretStore(settings)
    return LocalFileSecretStore(settings.local_secrets_dir)
