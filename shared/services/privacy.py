"""Erasing a person's data on request (`POST /v1/privacy/erase`, admin).

    report = await privacy.erase({"email": "anna@example.com", "phone": "+46 70-123 45 67"},
                                 caller)
    report.to_json()
    -> {"eventsRewritten": 2, "attemptsRewritten": 1, "blobsRewritten": 1,
        "otherRowsRewritten": 1, "otherRowsDeleted": 0, "eventsScanned": 5120, ...}

Where a person's data can be stored, and what becomes of it:
- an event's payload (inline, or a blob when large): each match becomes "[erased]",
  a customer record goes whole (names, phones, addresses next to the e-mail), and the
  payload is marked `"erased"` at its top; its entity id, `result` and `lastError`
  are rewritten the same way. Its status, ids, attempts count, retry state and
  history stay as they were: an erasure never changes where an event is in its life.
- an attempt's communication log (masked when stored, but a platform's message may
  quote a phone number, and a URL or an unmasked field may hold either value); in an
  event that carried the value, the masked forms ("a***@example.com") go too;
- every other row of every other table (entity versions hold the record's key,
  "customer:<e-mail>"; jobs their filter; the audit trail a job's filter), and every
  blob (a payload blob left without its event): rewritten where they match; a row
  whose keys hold the value is deleted.

An event still `queued` or `processing` when the erasure comes is refused with 409
naming it, before anything is written: a worker may hold its data in memory and its
outcome's write would bring it back. Such events finish within minutes (or wait,
failed, for a person): erase again then. An erased event that is retried or
resubmitted later fails for good with "personal data erased", without a platform call;
an attempt that was already under way (a retry the timer sent just before) meets the
erasure's write and decides afresh from the erased copy, never writing its own back.

Cost: every event of every integration is read twice over (a scan to find matches and
refuse in-flight ones, then the matches and every attempt), and every row of every
other table and every blob once: for N stored events about 2N/1,000 table queries
plus one read per payload blob, and one write per rewritten record. Memory holds one
page (at most 1,000 rows) and the ids of the matching events. Erasures are rare; a
store of a million events takes minutes.

The audit trail gets one entry per erasure, on the account's trail (`GET /v1/audit`): who, when,
the counts and the ids of the rewritten events, and a one-way hash prefix of each
value (the same value gives the same prefix), never the value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from pydantic import ValidationError as PydanticValidationError

from shared.domain.audit import ACCOUNT_TRAIL, AuditAction
from shared.domain.clock import iso
from shared.domain.erasure import (
    ERASED_KEY,
    MAX_PHONE_DIGITS,
    MIN_PHONE_DIGITS,
    ErasureTarget,
    fingerprint,
    phone_digits,
    redact,
    redact_stored_text,
)
from shared.domain.errors import Conflict, ValidationFailed
from shared.domain.models import Attempt, EventStatus, Integration, IntegrationEvent, LastError
from shared.services.audit import AuditLog
from shared.services.auth import Caller
from shared.services.conflicts import on_fresh_copy
from shared.services.json_input import json_object
from shared.services.ports import (
    EventStore,
    IntegrationStore,
    PersonalDataStore,
    StaleWrite,
    StoredRow,
)
from shared.services.validation import pydantic_problems

log = logging.getLogger("integrations.privacy")

IN_FLIGHT = (EventStatus.QUEUED, EventStatus.PROCESSING)
WRITE_ATTEMPTS = 5
NAMED_IN_CONFLICT = 5


class ErasureRequest(BaseModel):
    """`{"email"?, "phone"?}`: at least one. Case and formatting do not matter."""

    model_config = ConfigDict(extra="forbid")

    email: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, pattern=r"^[^@\s]+@[^@\s]+$", max_length=254),
        ]
        | None
    ) = None
    phone: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()./\-]+$", max_length=40),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_at_least(self) -> ErasureRequest:
        if not self.email and not self.phone:
            raise ValueError("give an email, a phone, or both")
        if self.phone and not MIN_PHONE_DIGITS <= len(phone_digits(self.phone)) <= MAX_PHONE_DIGITS:
            raise ValueError(
                f"phone must have {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits: fewer "
                "would match numbers that are not this person's"
            )
        return self


@dataclass
class ErasureReport:
    """What an erasure found and rewrote. `complete` is False when a record kept
    changing while it was rewritten: run the erasure again (it is idempotent)."""

    events_rewritten: int = 0
    attempts_rewritten: int = 0
    blobs_rewritten: int = 0
    other_rows_rewritten: int = 0
    other_rows_deleted: int = 0
    integrations_scanned: int = 0
    events_scanned: int = 0
    complete: bool = True
    fingerprints: dict[str, str] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "eventsRewritten": self.events_rewritten,
            "attemptsRewritten": self.attempts_rewritten,
            "blobsRewritten": self.blobs_rewritten,
            "otherRowsRewritten": self.other_rows_rewritten,
            "otherRowsDeleted": self.other_rows_deleted,
            "integrationsScanned": self.integrations_scanned,
            "eventsScanned": self.events_scanned,
            "complete": self.complete,
            "fingerprints": self.fingerprints,
        }


def parse_request(document: Any) -> ErasureTarget:
    try:
        request = ErasureRequest.model_validate(
            json_object(document, '{"email": "anna@example.com"}')
        )
    except PydanticValidationError as exc:
        raise ValidationFailed(
            "An erasure names a person by email, phone or both, such as "
            '{"email": "anna@example.com"}.',
            pydantic_problems(exc),
        ) from exc
    return ErasureTarget.of(request.email, request.phone)


def carries(event: IntegrationEvent, target: ErasureTarget) -> bool:
    """Whether the event's payload, entity id, Idempotency-Key, result or last error
    holds the value."""
    error = event.last_error.message if event.last_error else None
    fields = (event.payload, event.entity_id, event.idempotency_key, event.result, error)
    return any(redact(value, target)[1] for value in fields)


def _erase_in_event(
    event: IntegrationEvent, target: ErasureTarget, at: str
) -> ErasureTarget | None:
    """Rewrite the person's data in the event; None if it carries none, else the
    person as this event knows them (their record's phone beside the e-mail), for its
    attempts. Once the event is known to carry them, their masked forms go too."""
    if not carries(event, target):
        return None
    target = target.widened(event.payload)
    payload, in_payload = redact(event.payload, target, masked_too=True)
    event.entity_id, _ = redact(event.entity_id, target, masked_too=True)
    event.idempotency_key, _ = redact(event.idempotency_key, target, masked_too=True)
    event.result, _ = redact(event.result, target, masked_too=True)
    message = event.last_error.message if event.last_error else None
    error, in_error = redact(message, target, masked_too=True)
    if in_payload and isinstance(payload, dict):
        payload[ERASED_KEY] = {"at": at, "reason": "personal data erased on request"}
    event.payload = payload
    if event.last_error is not None and in_error:
        event.last_error = LastError(event.last_error.kind, error, event.last_error.http_status)
    return target


def _erased_attempt(attempt: Attempt, target: ErasureTarget, masked_too: bool) -> bool:
    calls, in_calls = redact(attempt.calls, target, masked_too)
    error = attempt.error
    message, in_error = redact(error.message if error else None, target, masked_too)
    if not (in_calls or in_error):
        return False
    attempt.calls = calls
    if error is not None and in_error:
        attempt.error = LastError(error.kind, message, error.http_status)
    return True


class PrivacyService:
    def __init__(
        self,
        integrations: IntegrationStore,
        events: EventStore,
        stored: PersonalDataStore,
        audit: AuditLog,
        now: Callable[[], datetime],
    ) -> None:
        self._integrations = integrations
        self._events = events
        self._stored = stored
        self._audit = audit
        self._now = now

    async def erase(self, document: Any, caller: Caller) -> ErasureReport:
        """Erase the person `document` names from everything stored; see the module."""
        target = parse_request(document)
        report = ErasureReport(fingerprints=_fingerprints(target))
        integrations = await self._integrations.list()
        found = await self._find(integrations, target, report)
        for integration in integrations:
            matched = await self._rewrite_events(
                integration, found.get(integration.id, []), target, report
            )
            await self._rewrite_attempts(integration, matched, target, report)
        await self._rewrite_other_rows(target, report)
        await self._rewrite_blobs(target, report)
        await self._audit.record(
            caller,
            ACCOUNT_TRAIL,  # erasures belong to no one integration (GET /v1/audit)
            AuditAction.DATA_ERASED,
            after=report.to_json(),
            event_ids=report.event_ids,
        )
        log.info("erasure %s: %s", report.fingerprints, report.to_json())
        return report

    async def _find(
        self, integrations: list[Integration], target: ErasureTarget, report: ErasureReport
    ) -> dict[str, list[str]]:
        """The ids of the events carrying the value, per integration; a 409 naming the
        ones still on their way, before anything is written."""
        found: dict[str, list[str]] = {}
        busy: list[IntegrationEvent] = []
        for integration in integrations:
            report.integrations_scanned += 1
            shards = integration.partition_shards
            async for page in self._stored.event_pages(integration.id, shards):
                report.events_scanned += len(page)
                for event in page:
                    if not carries(event, target):
                        continue
                    if event.status in IN_FLIGHT:
                        busy.append(event)
                    found.setdefault(integration.id, []).append(event.id)
        if busy:
            named = ", ".join(
                f"{event.id} of {event.integration_id} ({event.status.value})"
                for event in busy[:NAMED_IN_CONFLICT]
            )
            more = (
                f" and {len(busy) - NAMED_IN_CONFLICT} more"
                if len(busy) > NAMED_IN_CONFLICT
                else ""
            )
            raise Conflict(
                f"Events carrying this data are still being delivered: {named}{more}. A "
                "worker may hold their data; nothing was erased. Erase again once they "
                "have finished (usually within minutes)."
            )
        return found

    async def _rewrite_events(
        self,
        integration: Integration,
        event_ids: list[str],
        target: ErasureTarget,
        report: ErasureReport,
    ) -> dict[str, ErasureTarget]:
        """Rewrite each event; the person as each event knows them, by event id."""
        shards = integration.partition_shards
        at = iso(self._now()) or ""
        known: dict[str, ErasureTarget] = {}

        for event_id in event_ids:

            async def rewrite(event_id: str = event_id) -> bool | None:
                event = await self._events.get(integration.id, event_id, shards)
                widened = None if event is None else _erase_in_event(event, target, at)
                if event is None or widened is None:
                    return None  # gone, or rewritten meanwhile
                known[event_id] = widened
                return await self._stored.rewrite_event(event, shards)

            try:
                blob = await on_fresh_copy(
                    rewrite, attempts=WRITE_ATTEMPTS, busy=lambda: StaleWrite("busy")
                )
            except StaleWrite:
                report.complete = False
                continue
            if blob is None:
                continue
            report.events_rewritten += 1
            report.blobs_rewritten += int(blob)
            report.event_ids.append(event_id)
        return known

    async def _rewrite_attempts(
        self,
        integration: Integration,
        known: dict[str, ErasureTarget],
        target: ErasureTarget,
        report: ErasureReport,
    ) -> None:
        shards = integration.partition_shards
        async for page in self._stored.attempt_pages(integration.id, shards):
            for attempt in page:
                person = known.get(attempt.event_id)
                if _erased_attempt(attempt, person or target, masked_too=person is not None):
                    await self._stored.rewrite_attempt(integration.id, shards, attempt)
                    report.attempts_rewritten += 1

    async def _rewrite_other_rows(self, target: ErasureTarget, report: ErasureReport) -> None:
        async for page in self._stored.other_rows():
            for row in page:
                if target.found_in(row.partition_key) or target.found_in(row.row_key):
                    await self._write_row(row, report, delete=True)
                    continue
                changed: dict[str, Any] = {}
                for name, value in row.properties.items():
                    if isinstance(value, str):
                        text, found = redact_stored_text(value, target)
                        if found:
                            changed[name] = text
                if changed:
                    row.properties = changed
                    await self._write_row(row, report, delete=False)

    async def _write_row(self, row: StoredRow, report: ErasureReport, *, delete: bool) -> None:
        try:
            await self._stored.rewrite_row(row, delete=delete)
        except StaleWrite:
            report.complete = False  # changed while read: the next run takes it
            return
        if delete:
            report.other_rows_deleted += 1
        else:
            report.other_rows_rewritten += 1

    async def _rewrite_blobs(self, target: ErasureTarget, report: ErasureReport) -> None:
        async for blob in self._stored.blobs():
            text, found = redact_stored_text(blob.text, target)
            if not found:
                continue
            blob.text = text
            try:
                await self._stored.rewrite_blob(blob)
            except StaleWrite:
                report.complete = False
                continue
            report.blobs_rewritten += 1


def _fingerprints(target: ErasureTarget) -> dict[str, str]:
    prints = {}
    if target.emails:
        prints["email"] = fingerprint(target.emails[0])
    if target.phones:
        prints["phone"] = fingerprint(target.phones[0])
    return prints
