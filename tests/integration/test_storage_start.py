"""Storage start-up (creating tables and the payload container) that fails once is
tried again by the next caller, instead of failing every call until a restart."""

from __future__ import annotations

import pytest

from shared.adapters.azure_storage import StorageClients
from shared.config import Settings
from shared.domain.errors import TransientError

pytestmark = pytest.mark.azurite


async def test_a_failed_start_is_retried_by_the_next_caller(azurite: str) -> None:
    storage = StorageClients(Settings.model_validate({"AzureWebJobsStorage": azurite}))
    real_create, calls = storage._create, 0

    async def flaky_create() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransientError("Storage is unavailable: ServiceRequestError")
        await real_create()

    storage._create = flaky_create  # type: ignore[method-assign]
    try:
        with pytest.raises(TransientError):
            await storage.ensure_created()
        await storage.ensure_created()  # tried again, and it works
        await storage.ensure_created()  # then remembered
        assert calls == 2
        await storage.ping()
    finally:
        await storage.close()
