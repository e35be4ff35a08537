"""Named management tokens: who may manage what, for how long.

A token is made by an admin for a person or a tool, with a name, a role, optionally
the integrations it is limited to and an expiry. Its secret is shown once; only its
SHA-256 is kept. Revoking it takes effect on the next request (each request reads the
token's record: there is no cache to outlive a revocation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shared.domain.models import Role

TOKEN_PREFIX = "avvyr_mgmt_"


class IdentityKind(StrEnum):
    TOKEN = "token"  # a named token an admin made
    SETTING = "setting"  # a token from the app settings (the first admin)
    ENTRA = "entra"  # a person signed in with Microsoft Entra ID


@dataclass
class ManagementToken:
    id: str  # "tok_" and 16 hex digits; named in the secret, so a check is one read
    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    created_by: str
    integration_ids: list[str] | None = None  # None: every integration
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    last_used_at: datetime | None = None
    etag: str | None = field(default=None, compare=False)

    def refusal(self, now: datetime) -> str | None:
        """Why the token may not be used now, or None."""
        if self.revoked_at is not None:
            return f"Token '{self.name}' was revoked; ask an admin for a new one."
        if self.expires_at is not None and now >= self.expires_at:
            return f"Token '{self.name}' expired; ask an admin for a new one."
        return None


@dataclass(frozen=True)
class Identity:
    """Who makes a management request, as the audit trail names them."""

    name: str
    role: Role
    kind: IdentityKind
    integration_ids: frozenset[str] | None = None  # None: every integration
    token_id: str | None = None

    @property
    def scoped(self) -> bool:
        return self.integration_ids is not None

    def may_see(self, integration_id: str) -> bool:
        return self.integration_ids is None or integration_id in self.integration_ids
