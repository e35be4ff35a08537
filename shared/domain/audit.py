"""The audit trail: one row per management action on an integration.

A row says when, who (the management token's role, the name the request gave in
`X-Actor`, and the client's address), what (an action from a closed list), and the
fields the action changed, before and after. It never holds a key, a key's hash, a
secret or a token: an integration's key appears only as its hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.domain.models import Role


class AuditAction(StrEnum):
    INTEGRATION_CREATED = "integration.created"
    # A change of name, ordering scope or retry overrides. A change that turns the
    # integration on or off is named for that (the one people look for), with every
    # field it changed in before/after.
    INTEGRATION_CHANGED = "integration.changed"
    INTEGRATION_ENABLED = "integration.enabled"
    INTEGRATION_DISABLED = "integration.disabled"
    KEY_REGENERATED = "key.regenerated"
    EVENT_RESUBMITTED = "event.resubmitted"  # one event, by a person
    EVENTS_RESUBMITTED = "events.resubmitted"  # a bulk resubmission started: its filter
    # A page of a bulk job resubmitted these events (the timer, for the person who
    # started the job): the trail says which events a bulk resubmission reached.
    JOB_PROGRESSED = "job.progressed"
    JOB_CANCELLED = "job.cancelled"
    TOKEN_CREATED = "token.created"  # a named management token made (never its secret)
    TOKEN_REVOKED = "token.revoked"
    # A person's data erased on request (on the account's trail): the counts and a
    # hash prefix of the value, never the value.
    DATA_ERASED = "data.erased"

    @classmethod
    def named(cls, stored: str) -> AuditAction:
        """The action a stored row names, including rows written before these names."""
        return LEGACY_ACTIONS.get(stored) or cls(stored)


# The trail of actions beyond any one integration (tokens, erasures); no integration
# has this id, and `GET /v1/audit` reads it.
ACCOUNT_TRAIL = "*"

LEGACY_ACTIONS = {
    "resubmit": AuditAction.EVENT_RESUBMITTED,
    "bulk-resubmit": AuditAction.JOB_PROGRESSED,  # written per page, as job.progressed is
    "cancel-bulk-resubmit": AuditAction.JOB_CANCELLED,
}


@dataclass(frozen=True)
class AuditEntry:
    """One management action. Rows written before role, address and before/after were
    kept read back with them empty (None)."""

    integration_id: str
    at: datetime
    action: AuditAction
    actor: str  # the role, or role:person from X-Actor
    role: Role | None = None
    address: str | None = None  # the client's IP address as Azure's front end saw it
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    event_ids: list[str] = field(default_factory=list)
    job_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The whole row, as a log line keeps it when storage would not."""
        return {
            "integrationId": self.integration_id,
            "at": self.at.isoformat(),
            "action": self.action.value,
            "actor": self.actor,
            "role": self.role.value if self.role else None,
            "address": self.address,
            "before": self.before,
            "after": self.after,
            "eventIds": self.event_ids,
            "jobId": self.job_id,
        }


@dataclass(frozen=True)
class AuditPage:
    """Entries newest first, and the token for the next (older) page, if any."""

    entries: list[AuditEntry]
    continuation_token: str | None = None
