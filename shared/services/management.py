"""Managing integrations: create (key shown once), read, change, regenerate the key.

Regenerating may keep the old key working for a grace period the admin chooses
(`{"graceSeconds": n}`, 0 by default: refused at once), so a client can switch keys
without a gap; only one previous key is kept, so a second regeneration ends the first
one's grace. Each change is audited once it is saved (`shared.services.audit`): who,
and the fields it changed before and after; a key only ever as its hint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from shared.config import Settings
from shared.domain.audit import AuditAction
from shared.domain.clock import iso, new_integration_id
from shared.domain.errors import Conflict, NotFound, ValidationFailed
from shared.domain.models import Integration, OrderingScope
from shared.services.audit import AuditLog
from shared.services.auth import Caller, generate_api_key, hash_key, key_hint
from shared.services.conflicts import on_fresh_copy
from shared.services.identifiers import require_integration_id
from shared.services.json_input import json_object
from shared.services.ports import EventStore, IntegrationStore, SecretStore
from shared.services.validation import pydantic_problems

# A concurrent change to the same integration is rare (people, not machines, make
# them): a few fresh reads settle it.
CHANGE_ATTEMPTS = 3
# The longest an old key may keep working after a regeneration: long enough to roll a
# key through a weekly deployment, short enough that a leaked key does not linger.
MAX_GRACE_SECONDS = 7 * 86_400

M = TypeVar("M", bound=BaseModel)
IntegrationName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]


class CreateIntegration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: Literal["custom"]
    name: IntegrationName
    enabled: bool = True
    orderingScope: OrderingScope = OrderingScope.INTEGRATION


class RetryOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maxAttempts: Annotated[int, Field(ge=1, le=50)] | None = None
    baseDelaySeconds: Annotated[float, Field(ge=0.1, le=86_400)] | None = None


class PatchIntegration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: IntegrationName | None = None
    enabled: bool | None = None
    orderingScope: OrderingScope | None = None
    retry: RetryOverrides | None = None


class RegenerateKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    graceSeconds: Annotated[int, Field(ge=0, le=MAX_GRACE_SECONDS, strict=True)] = Field(
        0,
        description=(
            "How long the old key keeps working, in seconds (at most 604800, 7 days); "
            "0, the default, refuses it at once."
        ),
    )


def parse_body(model: type[M], document: Any) -> M:
    try:
        return model.model_validate(json_object(document))
    except PydanticValidationError as exc:
        raise ValidationFailed(
            "The request body has missing or malformed fields.", pydantic_problems(exc)
        ) from exc


async def require_integration(store: IntegrationStore, integration_id: str) -> Integration:
    """The integration, or a 404 naming the id (a malformed id never reaches storage)."""
    integration = await store.get(require_integration_id(integration_id))
    if integration is None:
        raise NotFound(f"No integration with id '{integration_id}'.")
    return integration


@dataclass(frozen=True)
class IssuedKey:
    """An integration with the API key just made for it: the one time the key is seen."""

    integration: Integration
    api_key: str


def secret_name(integration_id: str) -> str:
    return f"integration-{integration_id.replace('_', '-')}-api-key"


class ManagementService:
    def __init__(
        self,
        settings: Settings,
        integrations: IntegrationStore,
        events: EventStore,
        secrets: SecretStore,
        audit: AuditLog,
        now: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._audit = audit
        self._integrations = integrations
        self._events = events
        self._secrets = secrets
        self._now = now

    async def create(self, document: Any, caller: Caller) -> IssuedKey:
        request = parse_body(CreateIntegration, document)
        integration_id, now = new_integration_id(), self._now()
        key = generate_api_key(integration_id)
        integration = Integration(
            id=integration_id,
            name=request.name,
            service=request.service,
            enabled=request.enabled,
            key_hash=hash_key(key),
            key_hint=key_hint(key),
            ordering_scope=request.orderingScope,
            partition_shards=self._settings.event_partition_shards,
            created_at=now,
            updated_at=now,
        )
        await self._secrets.set_secret(secret_name(integration.id), key)
        await self._integrations.add(integration)
        await self._audit.record(
            caller, integration.id, AuditAction.INTEGRATION_CREATED, after=audited(integration)
        )
        return IssuedKey(integration, key)

    async def get(self, integration_id: str) -> Integration:
        return await require_integration(self._integrations, integration_id)

    async def list(self) -> list[Integration]:
        return sorted(await self._integrations.list(), key=lambda i: i.created_at)

    async def patch(self, integration_id: str, document: Any, caller: Caller) -> Integration:
        change = parse_body(PatchIntegration, document)
        before: dict[str, Any] = {}

        async def apply_to_fresh_copy() -> Integration:
            # Changed meanwhile (a key rotation): the change goes onto the fresh copy.
            integration = await self.get(integration_id)
            if change.orderingScope not in (None, integration.ordering_scope):
                await self._refuse_reordering(integration)
            before.clear()
            before.update(audited(integration))
            _apply(change, integration)
            integration.updated_at = self._now()
            await self._integrations.save(integration)
            return integration

        integration = await on_fresh_copy(
            apply_to_fresh_copy, attempts=CHANGE_ATTEMPTS, busy=lambda: _busy(integration_id)
        )
        after = audited(integration)
        changed = [name for name in after if after[name] != before[name]]
        if changed:  # a change to the values they had already is no action
            await self._audit.record(
                caller,
                integration.id,
                _patch_action(before, after),
                before={name: before[name] for name in changed},
                after={name: after[name] for name in changed},
            )
        return integration

    async def _refuse_reordering(self, integration: Integration) -> None:
        """Events already queued travel on the sessions of the old scope and new ones on
        the new: one record's events could then overtake each other. So the scope
        changes only while nothing is on its way."""
        if await self._events.has_pending(integration.id, integration.partition_shards):
            raise Conflict(
                f"Integration '{integration.name}' still has events on their way (queued, "
                "processing, or failed with a retry due); changing the ordering scope now "
                "could reorder them. Try again once they have finished, or disable the "
                "integration first and wait for them to drain."
            )

    async def regenerate_key(
        self, integration_id: str, caller: Caller, document: Any = None
    ) -> IssuedKey:
        """A new key; the old one keeps working `graceSeconds` (0: refused at once). A
        grace still running from an earlier regeneration ends now: one previous key."""
        grace = parse_body(RegenerateKey, {} if document is None else document).graceSeconds
        before: dict[str, Any] = {}

        async def rotate_fresh_copy() -> IssuedKey:
            # Saved over a fresh copy only: a blind save could put back a key hash
            # another rotation had just retired, leaving no key that works.
            integration = await self.get(integration_id)
            now = self._now()
            before.clear()
            before.update(_keys_audited(integration, now))
            key = generate_api_key(integration.id)
            retired = (integration.previous_key_hash, integration.key_hash)
            if grace > 0:
                integration.previous_key_hash = integration.key_hash
                integration.previous_key_hint = integration.key_hint
                integration.previous_key_valid_until = now + timedelta(seconds=grace)
                integration.previous_key_last_used_at = integration.key_last_used_at
            else:
                integration.previous_key_hash = integration.previous_key_hint = None
                integration.previous_key_valid_until = None
                integration.previous_key_last_used_at = None
            await self._secrets.set_secret(secret_name(integration.id), key)
            integration.key_hash, integration.key_hint = hash_key(key), key_hint(key)
            integration.key_last_used_at = None
            integration.updated_at = now
            await self._integrations.replace_key(integration, retired)
            return IssuedKey(integration, key)

        issued = await on_fresh_copy(
            rotate_fresh_copy, attempts=CHANGE_ATTEMPTS, busy=lambda: _busy(integration_id)
        )
        after = {**_keys_audited(issued.integration, self._now()), "graceSeconds": grace}
        await self._audit.record(
            caller, issued.integration.id, AuditAction.KEY_REGENERATED, before=before, after=after
        )
        return issued


def _keys_audited(integration: Integration, now: datetime) -> dict[str, Any]:
    """The keys of an integration as the audit trail shows them: hints, and the previous
    key's hint and deadline while its grace period runs."""
    keys: dict[str, Any] = {"keyHint": integration.key_hint}
    if integration.previous_key_valid(now):
        keys["previousKeyHint"] = integration.previous_key_hint
        keys["previousKeyValidUntil"] = iso(integration.previous_key_valid_until)
    return keys


def audited(integration: Integration) -> dict[str, Any]:
    """The fields of an integration the audit trail shows: its settings and the key's
    hint, never the key or its hash."""
    return {
        "name": integration.name,
        "enabled": integration.enabled,
        "orderingScope": integration.ordering_scope.value,
        "retry": {
            "maxAttempts": integration.retry_max_attempts,
            "baseDelaySeconds": integration.retry_base_delay_seconds,
        },
        "keyHint": integration.key_hint,
    }


def _patch_action(before: dict[str, Any], after: dict[str, Any]) -> AuditAction:
    if before["enabled"] == after["enabled"]:
        return AuditAction.INTEGRATION_CHANGED
    return AuditAction.INTEGRATION_ENABLED if after["enabled"] else AuditAction.INTEGRATION_DISABLED


def _apply(change: PatchIntegration, integration: Integration) -> None:
    if change.name is not None:
        integration.name = change.name
    if change.enabled is not None:
        integration.enabled = change.enabled
    if change.orderingScope is not None:
        integration.ordering_scope = change.orderingScope
    if change.retry is not None:
        # Only the fields sent change; null clears one back to the settings' default.
        given = change.retry.model_fields_set
        if "maxAttempts" in given:
            integration.retry_max_attempts = change.retry.maxAttempts
        if "baseDelaySeconds" in given:
            integration.retry_base_delay_seconds = change.retry.baseDelaySeconds


def _busy(integration_id: str) -> Conflict:
    return Conflict(
        f"Integration '{integration_id}' is being changed by another request; try again."
    )
