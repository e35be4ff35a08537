"""Who is calling a management route, and the named tokens admins hand out.

Three ways in, tried in this order:
1. **Microsoft Entra ID**, only when `ENTRA_AUTH_ENABLED` says the Function App's
   built-in authentication is on. App Service then puts the signed-in caller's claims
   in `X-MS-CLIENT-PRINCIPAL` (Base64 JSON) and their name in
   `X-MS-CLIENT-PRINCIPAL-NAME`, and strips those headers from what clients send
   (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities).
   Anywhere else a client could write them itself, hence the setting. The app roles
   `Integrations.Reader`, `Integrations.Operator` and `Integrations.Admin` map to the
   roles; the highest one the caller holds counts.
2. **A named token** (`avvyr_mgmt_<id>_<secret>_<checksum>`): one point read of the
   token's record, a constant-time comparison of hashes, then its revocation and
   expiry. A token limited to integrations sees nothing of the others.
3. **A token from the settings** (`MANAGEMENT_TOKEN`, and `OPERATOR_TOKEN` /
   `READER_TOKEN` where set): the first admin, who makes the named tokens. In Azure
   it is a Key Vault reference.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.config import Settings
from shared.domain.audit import ACCOUNT_TRAIL, AuditAction
from shared.domain.credentials import checksum_holds, issue
from shared.domain.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from shared.domain.models import Role
from shared.domain.tokens import TOKEN_PREFIX, Identity, IdentityKind, ManagementToken
from shared.services.audit import AuditLog
from shared.services.auth import Caller, bearer_token, management_role
from shared.services.conflicts import on_fresh_copy
from shared.services.identifiers import IntegrationId

# A token's last use is written at most this often, as a key's is: a busy script does
# not turn every read into a write.
from shared.services.key_usage import LAST_USED_EVERY
from shared.services.management import parse_body
from shared.services.ports import IntegrationStore, StaleWrite, TokenStore

TOKEN_ID = re.compile(r"tok_[0-9a-f]{16}")
NAMED_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"(tok_[0-9a-f]{16})_[A-Za-z0-9_-]+")
ENTRA_ROLES = {
    "Integrations.Reader": Role.READER,
    "Integrations.Operator": Role.OPERATOR,
    "Integrations.Admin": Role.ADMIN,
}
# Claim types App Service uses for app roles (`role_typ` in the principal names the one
# in use; these are its usual values).
ROLE_CLAIMS = {"roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"}
SETTING_NAMES = {
    Role.ADMIN: "admin (MANAGEMENT_TOKEN setting)",
    Role.OPERATOR: "operator (OPERATOR_TOKEN setting)",
    Role.READER: "reader (READER_TOKEN setting)",
}

TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TokenName = Field(description="Who or what holds it, e.g. `maria.ops` or `erp-sync`.")
    role: Role
    integrationIds: list[IntegrationId] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Limit the token to these integrations; omit for every integration.",
    )
    expiresAt: AwareDatetime | None = Field(None, description="Omit for no expiry.")


@dataclass(frozen=True)
class IssuedToken:
    """A token and its secret: the one time the secret is seen."""

    token: ManagementToken
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenService:
    def __init__(
        self,
        settings: Settings,
        tokens: TokenStore,
        integrations: IntegrationStore,
        audit: AuditLog,
        now: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._integrations = integrations
        self._audit = audit
        self._now = now

    # --- who is calling ------------------------------------------------------------
    async def identify(self, headers: dict[str, str]) -> Identity:
        """The caller of a management route (401 when there is none that holds)."""
        if self._settings.entra_auth_enabled and headers.get("x-ms-client-principal"):
            return entra_identity(
                headers["x-ms-client-principal"], headers.get("x-ms-client-principal-name")
            )
        secret = bearer_token(headers.get("authorization"))
        if secret.startswith(TOKEN_PREFIX):
            return await self._named(secret)
        role = management_role(self._settings, headers.get("authorization"))
        return Identity(SETTING_NAMES[role], role, IdentityKind.SETTING)

    async def _named(self, secret: str) -> Identity:
        matched = NAMED_TOKEN.fullmatch(secret)
        if matched is None or not checksum_holds(secret):
            raise Unauthenticated(
                "The management token is not valid: it may be mistyped or cut short."
            )
        token = await self._tokens.get(matched.group(1))
        if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(secret)):
            raise Unauthenticated("The management token is not valid.")
        now = self._now()
        if refusal := token.refusal(now):
            raise Unauthenticated(refusal)
        await self._note_use(token, now)
        scope = frozenset(token.integration_ids) if token.integration_ids is not None else None
        return Identity(token.name, token.role, IdentityKind.TOKEN, scope, token.id)

    async def _note_use(self, token: ManagementToken, now: datetime) -> None:
        if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
            return
        token.last_used_at = now
        # Revoked or used meanwhile: that write is as good as this one.
        with contextlib.suppress(StaleWrite):
            await self._tokens.save(token)

    # --- the tokens ----------------------------------------------------------------
    async def create(self, document: Any, creator: Caller) -> IssuedToken:
        request = parse_body(CreateToken, document)
        now = self._now()
        if request.expiresAt is not None and request.expiresAt <= now:
            raise ValidationFailed("'expiresAt' is in the past; give a time to come.")
        for integration_id in request.integrationIds or []:
            if await self._integrations.get(integration_id) is None:
                raise NotFound(f"No integration with id '{integration_id}'.")
        token_id = "tok_" + secrets.token_hex(8)
        secret = issue(f"{TOKEN_PREFIX}{token_id}_")
        token = ManagementToken(
            id=token_id,
            name=request.name,
            role=request.role,
            secret_hash=hash_secret(secret),
            created_at=now,
            created_by=creator.actor,
            integration_ids=sorted(set(request.integrationIds)) if request.integrationIds else None,
            expires_at=request.expiresAt,
        )
        await self._tokens.add(token)
        await self._audit.record(
            creator, ACCOUNT_TRAIL, AuditAction.TOKEN_CREATED, after=_described(token)
        )
        return IssuedToken(token, secret)

    async def list(self) -> list[ManagementToken]:
        return sorted(await self._tokens.list(), key=lambda token: token.created_at)

    async def revoke(self, token_id: str, by: Caller) -> ManagementToken:
        """Revoked at once (the next request reads the record); revoking twice changes
        nothing the second time."""
        revoked: list[bool] = []

        async def revoke_fresh_copy() -> ManagementToken:
            token = await self._tokens.get(token_id) if TOKEN_ID.fullmatch(token_id) else None
            if token is None:
                raise NotFound(f"No token with id {token_id[:100]!r}.")
            if token.revoked_at is None:
                token.revoked_at, token.revoked_by = self._now(), by.actor
                await self._tokens.save(token)
                revoked.append(True)
            return token

        token = await on_fresh_copy(
            revoke_fresh_copy,
            attempts=3,
            busy=lambda: Conflict(f"Token {token_id} is changing right now; try again."),
        )
        if revoked:
            await self._audit.record(
                by, ACCOUNT_TRAIL, AuditAction.TOKEN_REVOKED, before=_described(token)
            )
        return token


def _described(token: ManagementToken) -> dict[str, Any]:
    """A token as the audit trail keeps it: who holds it and what it may do, never its
    secret or the secret's hash."""
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "integrationIds": token.integration_ids,
        "expiresAt": token.expires_at.isoformat() if token.expires_at else None,
    }


def entra_identity(principal: str, name: str | None) -> Identity:
    """The signed-in person App Service vouches for, with the highest app role they hold."""
    try:
        claims = json.loads(base64.b64decode(principal, validate=True)).get("claims") or []
    except (binascii.Error, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise Unauthenticated("The sign-in could not be read; sign in again.") from exc
    held = {
        ENTRA_ROLES[str(claim["val"])]
        for claim in claims
        if isinstance(claim, dict)
        and claim.get("typ") in ROLE_CLAIMS
        and claim.get("val") in ENTRA_ROLES
    }
    if not held:
        raise Forbidden(
            "You are signed in but hold no role for this API; ask an admin to assign you "
            f"one of the app roles {', '.join(ENTRA_ROLES)}."
        )
    role = max(held, key=[Role.READER, Role.OPERATOR, Role.ADMIN].index)
    return Identity((name or "signed-in user")[:100], role, IdentityKind.ENTRA)
