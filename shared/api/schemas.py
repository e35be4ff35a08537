"""The API's answers as pydantic models: the one place their JSON shape is written.

Fields are snake_case in Python and camelCase on the wire (an alias generator); each
model has an `of(...)` that builds it from the core's records, and the OpenAPI
document takes its response schemas from these classes
(`scripts/build_openapi.py`). Answers are open to new fields: clients ignore the
ones they do not know.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from shared.config import Settings
from shared.domain import advice, audit, jobs, models
from shared.domain.clock import iso
from shared.domain.errors import RequestError
from shared.domain.flow import FlowStep, Granularity
from shared.domain.jobs import JobStatus
from shared.domain.models import AttemptOutcome, ErrorKind, EventStatus, OrderingScope, Role
from shared.domain.tokens import ManagementToken
from shared.services import flow, ports, queries
from shared.services.management import IssuedKey
from shared.services.privacy import ErasureReport
from shared.services.tokens import IssuedToken

# Every time in an answer: ISO 8601 UTC with milliseconds and a Z.
Timestamp = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


class Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class FieldProblem(Answer):
    path: str = Field(description="e.g. `data.items[3].quantity`")
    message: str


class Error(Answer):
    """Every error answer."""

    error: str = Field(
        description="Stable code: validation_failed, unauthorized, forbidden, not_found, "
        "conflict, payload_too_large, unsupported_media_type, unprocessable, throttled, "
        "unavailable."
    )
    message: str = Field(description="A sentence a person can act on.")
    details: list[FieldProblem] | None = None

    @classmethod
    def of(cls, error: RequestError) -> Self:
        details = [FieldProblem(path=p.path, message=p.message) for p in error.details]
        return cls(error=error.code, message=error.message, details=details or None)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Accepted(Answer):
    message_id: str = Field(json_schema_extra={"format": "uuid"})


class RetrySettings(Answer):
    """Per-integration retry overrides; null means the platform default."""

    max_attempts: int | None
    base_delay_seconds: float | None


class Integration(Answer):
    id: str
    service: Literal["custom"]
    name: str
    enabled: bool
    ordering_scope: OrderingScope
    api_key_hint: str = Field(description="The key's last characters.")
    api_key_last_used_at: Timestamp | None = Field(
        description="When the key last authenticated a request, to within 5 minutes "
        "(a use is written at most that often); null if never."
    )
    previous_key_hint: str | None = Field(
        description="The key the last regeneration replaced, while it was given a grace "
        "period; null if it was refused at once."
    )
    previous_key_valid_until: Timestamp | None = Field(
        description="Until when the previous key works (past: it no longer does)."
    )
    previous_key_last_used_at: Timestamp | None = Field(
        description="When the previous key last authenticated a request, to within 5 "
        "minutes; null if never: it shows whether a client still sends the old key."
    )
    retry: RetrySettings
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, integration: models.Integration) -> Self:
        return cls(
            id=integration.id,
            service="custom",
            name=integration.name,
            enabled=integration.enabled,
            ordering_scope=integration.ordering_scope,
            api_key_hint=integration.key_hint,
            api_key_last_used_at=integration.key_last_used_at,
            previous_key_hint=integration.previous_key_hint,
            previous_key_valid_until=integration.previous_key_valid_until,
            previous_key_last_used_at=integration.previous_key_last_used_at,
            retry=RetrySettings(
                max_attempts=integration.retry_max_attempts,
                base_delay_seconds=integration.retry_base_delay_seconds,
            ),
            created_at=integration.created_at,
            updated_at=integration.updated_at,
        )


ApiKey = Annotated[str, Field(description="Shown this once: store it now.")]


class CreatedIntegration(Integration):
    """The new integration and its key, shown this once."""

    api_key: ApiKey

    @classmethod
    def issued(cls, issued: IssuedKey) -> Self:
        fields = Integration.of(issued.integration).model_dump()
        return cls(**fields, api_key=issued.api_key)


class IntegrationList(Answer):
    integrations: list[Integration]

    @classmethod
    def of(cls, integrations: list[models.Integration]) -> Self:
        return cls(integrations=[Integration.of(item) for item in integrations])


class NewApiKey(Answer):
    """The new key, shown this once; the old key stops working at once, or at
    `previousKeyValidUntil` when the request gave it a grace period."""

    id: str
    api_key: ApiKey
    api_key_hint: str
    previous_key_hint: str | None = Field(
        description="The replaced key's hint while it keeps working; null if it stopped."
    )
    previous_key_valid_until: Timestamp | None = Field(
        description="Until when the old key keeps working; null: it stopped at once."
    )

    @classmethod
    def of(cls, issued: IssuedKey) -> Self:
        integration = issued.integration
        return cls(
            id=integration.id,
            api_key=issued.api_key,
            api_key_hint=integration.key_hint,
            previous_key_hint=integration.previous_key_hint,
            previous_key_valid_until=integration.previous_key_valid_until,
        )


class LastError(Answer):
    """transient: the platform was unavailable, retried automatically; permanent: the
    platform rejected the data, fix it and resubmit."""

    kind: ErrorKind
    http_status: int | None
    message: str

    @classmethod
    def of(cls, error: models.LastError | None) -> Self | None:
        if error is None:
            return None
        return cls(kind=error.kind, http_status=error.http_status, message=error.message)


class Delivery(Answer):
    """Where an event is on its way, as both operators and its sender see it."""

    action: str
    entity_id: str | None
    status: EventStatus
    attempts: int = Field(ge=0)
    max_attempts: int = Field(ge=1)
    next_retry_at: Timestamp | None = Field(
        description="null: no automatic retry is due (success, or waits for a person)."
    )
    last_error: LastError | None
    result: dict[str, Any] | None = Field(description="Platform record ids, e.g. `orderId`.")
    skipped_reason: str | None
    created_at: Timestamp
    updated_at: Timestamp

    @staticmethod
    def fields_of(event: models.IntegrationEvent) -> dict[str, Any]:
        return {
            "action": event.action,
            "entity_id": event.entity_id,
            "status": event.status,
            "attempts": event.attempts,
            "max_attempts": event.max_attempts,
            "next_retry_at": event.next_retry_at,
            "last_error": LastError.of(event.last_error),
            "result": event.result,
            "skipped_reason": event.skipped_reason,
            "created_at": event.created_at,
            "updated_at": event.updated_at,
        }


class Event(Delivery):
    id: str = Field(description="The `messageId`.")
    integration_id: str
    dead_lettered: bool
    resubmissions: int = Field(ge=0)

    @classmethod
    def of(cls, event: models.IntegrationEvent) -> Self:
        return cls(
            id=event.id,
            integration_id=event.integration_id,
            dead_lettered=event.dead_lettered,
            resubmissions=event.resubmissions,
            **Delivery.fields_of(event),
        )


class EventPage(Answer):
    """Newest events first."""

    events: list[Event]
    continuation_token: str | None = Field(
        description="Send it back for the next page; null on the last page."
    )

    @classmethod
    def of(cls, page: ports.EventPage) -> Self:
        return cls(
            events=[Event.of(event) for event in page.events],
            continuation_token=page.continuation_token,
        )


class Exchange(Answer):
    model_config = ConfigDict(extra="allow")

    headers: dict[str, str] = {}
    body: Any = None


class PlatformCall(Answer):
    """One platform call of an attempt; credentials removed, personal data masked."""

    model_config = ConfigDict(extra="allow")

    method: str
    url: str
    started_at: Timestamp | None = None
    duration_ms: float | None = None
    status: int | None
    error: str | None = None
    request: Exchange | None = None
    response: Exchange | None = None


class Attempt(Answer):
    attempt: int = Field(ge=1)
    submission: int = Field(ge=0, description="0: the original push; n: the n-th resubmission.")
    started_at: Timestamp
    finished_at: Timestamp
    outcome: AttemptOutcome
    error: LastError | None
    calls: list[PlatformCall]

    @classmethod
    def of(cls, attempt: models.Attempt) -> Self:
        return cls(
            attempt=attempt.number,
            submission=attempt.submission,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
            outcome=attempt.outcome,
            error=LastError.of(attempt.error),
            calls=[PlatformCall.model_validate(call) for call in attempt.calls],
        )


class Advice(Answer):
    """The last error in plain words, the same for the dashboard and the command-line
    tool; null when no attempt failed."""

    kind: Literal["past", "transient", "permanent"]
    headline: str
    todo: str = Field(description="What a person can do about it.")
    http: str | None = Field(description="e.g. `HTTP 422 · data not accepted`.")

    @classmethod
    def of(cls, found: advice.Advice | None) -> Self | None:
        if found is None:
            return None
        return cls.model_validate(found, from_attributes=True)


class EventDetail(Event):
    payload: dict[str, Any] | None = Field(
        description="The request as received, personal data masked."
    )
    idempotency_key: str | None
    attempt_log: list[Attempt]
    advice: Advice | None

    @classmethod
    def detail(cls, found: queries.EventDetail) -> Self:
        fields = Event.of(found.event).model_dump()
        return cls(
            **fields,
            payload=found.payload,
            idempotency_key=found.event.idempotency_key,
            attempt_log=[Attempt.of(attempt) for attempt in found.attempts],
            advice=Advice.of(found.advice),
        )


class StatusCounts(Answer):
    queued: int = Field(ge=0)
    processing: int = Field(ge=0)
    success: int = Field(ge=0)
    failed: int = Field(ge=0)
    skipped: int = Field(ge=0)


class EventCounts(Answer):
    integration_id: str
    counts: StatusCounts
    dead_lettered: int = Field(ge=0)
    total: int = Field(ge=0)
    complete: bool = Field(description="false when the window held more than 20,000 events.")

    @classmethod
    def of(cls, found: queries.EventCounts) -> Self:
        counts = {status.value: n for status, n in found.counts.items()}
        return cls(
            integration_id=found.integration_id,
            counts=StatusCounts.model_validate(counts),
            dead_lettered=found.dead_lettered,
            total=sum(counts.values()),
            complete=found.complete,
        )


class SentMessage(Delivery):
    """One of the sender's own messages as its sender may see it: where it is, what the
    platform said, the platform record ids. No payload and no communication log."""

    message_id: str

    @classmethod
    def of(cls, event: models.IntegrationEvent) -> Self:
        return cls(message_id=event.id, **Delivery.fields_of(event))


class Erasure(Answer):
    """What an erasure rewrote. `complete: false`: a record kept changing while it was
    rewritten; send the same erasure again (it is idempotent)."""

    events_rewritten: int = Field(ge=0)
    attempts_rewritten: int = Field(ge=0)
    blobs_rewritten: int = Field(ge=0)
    other_rows_rewritten: int = Field(ge=0)
    other_rows_deleted: int = Field(ge=0)
    integrations_scanned: int = Field(ge=0)
    events_scanned: int = Field(ge=0)
    complete: bool
    fingerprints: dict[str, str] = Field(
        description="A one-way hash prefix of each value erased, as the audit trail keeps "
        "it: enough to tell two erasures apart, never the value."
    )

    @classmethod
    def of(cls, report: ErasureReport) -> Self:
        return cls(
            events_rewritten=report.events_rewritten,
            attempts_rewritten=report.attempts_rewritten,
            blobs_rewritten=report.blobs_rewritten,
            other_rows_rewritten=report.other_rows_rewritten,
            other_rows_deleted=report.other_rows_deleted,
            integrations_scanned=report.integrations_scanned,
            events_scanned=report.events_scanned,
            complete=report.complete,
            fingerprints=report.fingerprints,
        )


class FlowBucket(Answer):
    start: Timestamp
    counts: dict[FlowStep, int] = Field(description="Events that took each step.")


class FlowChart(Answer):
    """Events per step over a window: per minute up to six hours, per hour beyond.
    `received` + `resubmitted` come in; `succeeded`, `skipped`, `failed` (the platform
    rejected the data) and `deadLettered` go out; `retryScheduled` counts a retry
    booked. The newest bucket fills in within `FLOW_FLUSH_SECONDS`."""

    integration_id: str | None = Field(description="null: every integration together.")
    granularity: Granularity
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    steps: list[FlowStep]
    buckets: list[FlowBucket]
    totals: dict[FlowStep, int]

    @classmethod
    def of(cls, chart: flow.Flow) -> Self:
        return cls(
            integration_id=chart.integration_id,
            granularity=chart.granularity,
            from_=chart.start,
            to=chart.end,
            steps=list(FlowStep),
            buckets=[FlowBucket(start=start, counts=counts) for start, counts in chart.buckets],
            totals=chart.totals,
        )


class Resubmitted(Answer):
    id: str
    status: EventStatus
    resubmissions: int = Field(ge=1)

    @classmethod
    def of(cls, event: models.IntegrationEvent) -> Self:
        return cls(id=event.id, status=event.status, resubmissions=event.resubmissions)


class JobProgress(Answer):
    matched: int = Field(ge=0)
    resubmitted: int = Field(ge=0)
    skipped: int = Field(ge=0)


class Job(Answer):
    """A bulk resubmission, advanced page by page until completed or cancelled."""

    id: str
    integration_id: str
    filter: dict[str, Any]
    status: JobStatus
    progress: JobProgress
    requested_by: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, job: jobs.BulkJob) -> Self:
        return cls(
            id=job.id,
            integration_id=job.integration_id,
            filter=job.filter,
            status=job.status,
            progress=JobProgress(
                matched=job.matched, resubmitted=job.resubmitted, skipped=job.skipped
            ),
            requested_by=job.requested_by,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


class AuditEntry(Answer):
    """One management action. Entries recorded before role, address and before/after
    were kept have them null."""

    at: Timestamp
    actor: str = Field(description="The role, or role:person (`X-Actor`).")
    role: Role | None = Field(description="The role of the token that made the request.")
    address: str | None = Field(
        description="The client's IP address as Azure's front end saw it; null for a "
        "bulk job's own pages."
    )
    action: audit.AuditAction
    before: dict[str, Any] | None = Field(
        description="The fields the action changed, as they were (null: it created them)."
    )
    after: dict[str, Any] | None = Field(
        description="The same fields as the action left them. Never a key, its hash, a "
        "secret or a token; a key shows as its hint."
    )
    event_ids: list[str] = Field(description="The events it resubmitted (at most 500).")
    job_id: str | None = Field(description="The bulk resubmission job it concerns.")

    @classmethod
    def of(cls, entry: audit.AuditEntry) -> Self:
        return cls(
            at=entry.at,
            actor=entry.actor,
            role=entry.role,
            address=entry.address,
            action=entry.action,
            before=entry.before,
            after=entry.after,
            event_ids=entry.event_ids,
            job_id=entry.job_id,
        )


class AuditTrail(Answer):
    entries: list[AuditEntry] = Field(description="Newest first.")
    continuation_token: str | None = Field(
        description="Send it as `continuationToken` for the next (older) page; null when "
        "there is none."
    )

    @classmethod
    def of(cls, page: audit.AuditPage) -> Self:
        return cls(
            entries=[AuditEntry.of(entry) for entry in page.entries],
            continuation_token=page.continuation_token,
        )


class Health(Answer):
    status: Literal["ok", "degraded"]
    dependencies: dict[str, str]


class Me(Answer):
    """Who the token in this request is."""

    role: Role
    actor: str = Field(description="How the audit trail names this caller.")
    integration_ids: list[str] | None = Field(
        description="The integrations the token is limited to; null: every integration."
    )


class Retention(Answer):
    """How long this deployment keeps what it stores (its RETENTION_* settings)."""

    event_days: float = Field(
        description="Final events (success, skipped), with their payloads and communication "
        "logs; queued, processing and failed events are kept until they are resolved."
    )
    audit_days: float = Field(description="Audit trail entries.")
    version_days: float = Field(description="What each record was last set by.")

    @classmethod
    def of(cls, settings: Settings) -> Self:
        return cls(
            event_days=settings.retention_event_days,
            audit_days=settings.retention_audit_days,
            version_days=settings.retention_version_days,
        )


class Token(Answer):
    """A named management token, without its secret."""

    id: str
    name: str
    role: Role
    integration_ids: list[str] | None = Field(description="null: every integration.")
    expires_at: Timestamp | None
    created_at: Timestamp
    created_by: str
    revoked_at: Timestamp | None
    revoked_by: str | None
    last_used_at: Timestamp | None = Field(description="To within five minutes.")

    @classmethod
    def of(cls, token: ManagementToken) -> Self:
        return cls(
            id=token.id,
            name=token.name,
            role=token.role,
            integration_ids=token.integration_ids,
            expires_at=token.expires_at,
            created_at=token.created_at,
            created_by=token.created_by,
            revoked_at=token.revoked_at,
            revoked_by=token.revoked_by,
            last_used_at=token.last_used_at,
        )


class CreatedToken(Token):
    """The new token and its secret, shown this once."""

    token: str = Field(description="Shown this once: store it now.")

    @classmethod
    def issued(cls, issued: IssuedToken) -> Self:
        return cls(**Token.of(issued.token).model_dump(), token=issued.secret)


class TokenList(Answer):
    tokens: list[Token]

    @classmethod
    def of(cls, found: list[ManagementToken]) -> Self:
        return cls(tokens=[Token.of(token) for token in found])
