"""Who is calling: integrations by API key, people and tools by management token.

An API key is shown once; only its SHA-256 is stored. A key names its integration and
ends in a checksum ("avvyr_int_live_<integration id>_<secret>_<checksum>", the shape of
`shared.domain.credentials`), so a mistyped or truncated key is refused without a
storage read, and authenticating a whole one is one point read of that integration and
a constant-time comparison with its hash (and, while a regeneration's grace period
lasts, with the previous key's). Keys issued before the checksum
("avvyr_int_live_<integration id>_<secret>") work as they did, and keys issued without
the id are still found through the hash index (two reads). Who calls a management
route is found by `shared.services.tokens`; `authorize` turns that identity into the
caller a route may serve.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from shared.config import Settings
from shared.domain import credentials
from shared.domain.clock import iso, utcnow
from shared.domain.errors import Forbidden, Unauthenticated
from shared.domain.models import Integration, Role
from shared.domain.tokens import Identity
from shared.services.key_usage import KeyUsage
from shared.services.ports import IntegrationStore

API_KEY_PREFIX = "avvyr_int_live_"
# A key's characters stay within [A-Za-z0-9_-], as keys always were.
_NAMES = re.escape(API_KEY_PREFIX) + r"(int_[0-9a-f]{16})_"
CHECKED_KEY = re.compile(
    _NAMES + rf"[A-Za-z0-9_-]{{43}}_[0-9A-Za-z]{{{credentials.CHECKSUM_LENGTH}}}"
)
NAMED_KEY = re.compile(_NAMES + r"[A-Za-z0-9_-]{43}")  # issued before the checksum
NAMING_KEY = re.compile(_NAMES)
# Keys issued without the id were the prefix and 43 random characters.
UNNAMED_KEY_LENGTH = len(API_KEY_PREFIX) + 43
MISTYPED = (
    "The API key is not valid: it looks mistyped or cut short (its checksum does not "
    "match). Copy the whole key again."
)


def generate_api_key(integration_id: str) -> str:
    """A new key: the prefix, the integration's id, a random part and a checksum."""
    return credentials.issue(f"{API_KEY_PREFIX}{integration_id}_")


def integration_named_by(key: str) -> str | None:
    """The integration id a key carries, if it carries one; a key with the checksum
    must be whole and its checksum hold (else 401 at once, without a storage read)."""
    if match := CHECKED_KEY.fullmatch(key):
        if not credentials.checksum_holds(key):
            raise Unauthenticated(MISTYPED)
        return match.group(1)
    if match := NAMED_KEY.fullmatch(key):
        return match.group(1)
    if NAMING_KEY.match(key) and len(key) != UNNAMED_KEY_LENGTH:
        # Names an integration but is neither whole shape: a key cut short or too long.
        raise Unauthenticated(MISTYPED)
    return None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_hint(key: str) -> str:
    """Enough of a key for a person to tell two keys apart, never enough to use it."""
    return f"{API_KEY_PREFIX}…{key[-4:]}"


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Send your key as 'Authorization: Bearer <key>'; the header is missing or malformed."
        )
    return token.strip()


async def authenticate_integration(
    store: IntegrationStore,
    authorization: str | None,
    *,
    now: datetime | None = None,
    usage: KeyUsage | None = None,
) -> Integration:
    """The enabled integration owning this API key, or 401/403. The key is the
    integration's current one, or its previous one while a regeneration's grace period
    lasts (`now` before `previous_key_valid_until`). `usage`, when given, notes the
    key's use (`shared.services.key_usage`: a write at most once per window)."""
    key = bearer_token(authorization)
    if not key.startswith(API_KEY_PREFIX):
        raise Unauthenticated(
            "This route takes an integration API key (avvyr_int_live_…), not a management token."
        )
    now = now or utcnow()
    digest = hash_key(key)
    integration_id = integration_named_by(key) or await store.integration_for_key(digest)
    integration = await store.get(integration_id) if integration_id else None
    if integration is None:
        raise Unauthenticated("The API key is not valid; it may have been regenerated.")
    # Compare with the integration's hashes too: a key replaced a moment ago is refused
    # even if its index row has not been deleted yet. Both comparisons always run.
    current = hmac.compare_digest(integration.key_hash, digest)
    previous = hmac.compare_digest(integration.previous_key_hash or "", digest)
    if not current:
        if not previous:
            raise Unauthenticated("The API key is not valid; it may have been regenerated.")
        if not integration.previous_key_valid(now):
            raise Unauthenticated(
                "The API key was regenerated and its grace period ended at "
                f"{iso(integration.previous_key_valid_until)}; use the new key."
            )
    if not integration.enabled:
        raise Forbidden(
            f"Integration '{integration.name}' is disabled; an admin can enable it again."
        )
    if usage is not None:
        await usage.note(integration, previous=not current, now=now)
    return integration


def management_role(settings: Settings, authorization: str | None) -> Role:
    token = bearer_token(authorization)
    if token.startswith(API_KEY_PREFIX):
        raise Forbidden(
            "Integration API keys may only push to /integrations/custom/inbound; "
            "use a management token here."
        )
    for role, expected in (
        (Role.ADMIN, settings.management_token),
        (Role.OPERATOR, settings.operator_token),
        (Role.READER, settings.reader_token),
    ):
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return role
    raise Unauthenticated("The management token is not valid.")


@dataclass(frozen=True)
class Caller:
    """Who makes a management request: their role, the name the audit trail gives them
    (the identity's: a named token's name, the signed-in person, or the setting a
    token came from; never a name the request typed), the client's address as Azure's
    front end saw it (None when there is none), and the integrations a scoped token
    is limited to (None: every integration)."""

    role: Role
    actor: str
    address: str | None = None
    integration_ids: frozenset[str] | None = None

    @property
    def scoped(self) -> bool:
        return self.integration_ids is not None

    def may_see(self, integration_id: str) -> bool:
        return self.integration_ids is None or integration_id in self.integration_ids

    def require(self, integration_id: str) -> None:
        """403 unless the caller may see the integration: asked before storage is, so
        the answer is the same whether the integration exists or not."""
        if not self.may_see(integration_id):
            raise Forbidden(
                f"This token is limited to other integrations than {integration_id[:100]!r}."
            )

    def require_every_integration(self, doing: str) -> None:
        if self.scoped:
            raise Forbidden(
                f"A token limited to some integrations cannot {doing}; use one that is not."
            )


def authorize(identity: Identity, needed: Role, forwarded_for: str | None = None) -> Caller:
    """The caller, if the identity's role is at least `needed`; else 403."""
    if not identity.role.allows(needed):
        raise Forbidden(
            f"This needs the {needed.value} role; your token has {identity.role.value}."
        )
    address = client_address(forwarded_for)
    return Caller(identity.role, identity.name, address, identity.integration_ids)


def client_address(forwarded_for: str | None) -> str | None:
    """The client's IP address from the `X-Forwarded-For` App Service's front end sends.

    The front end puts the address of the TCP peer it served, with its port
    ("152.37.70.253:4598", "[2001:db8::1]:43592"), at the END of the header, after
    whatever the client sent in its own X-Forwarded-For (seen in the header dumps of
    https://github.com/sergiodxa/remix-utils/pull/496, where a proxy's
    "10.0.0.5, 192.168.1.20" is followed by the front end's "172.16.0.10:49828").
    Entries before the last are the client's word and can be made up, so the last
    one is the address an audit can stand on. App Service also sends it as `Client-IP`
    (https://github.com/Azure/app-service-linux-docs, Things_You_Should_Know/headers.md),
    which the local host does not imitate; X-Forwarded-For it does.
    """
    entries = [entry.strip() for entry in (forwarded_for or "").split(",")]
    last = entries[-1] if entries else ""
    if last.startswith("["):  # [IPv6]:port
        last = last[1:].partition("]")[0]
    elif last.count(":") == 1:  # IPv4:port
        last = last.partition(":")[0]
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return None
