"""Manual resubmission by a person: one event, or every event matching a filter.

A bulk resubmission is a job record advanced page by page (by the request that
starts it and then by the timer), so it survives restarts, shows progress and can be
cancelled. Every resubmission is audited: who, when, which events; so are a bulk job's
start (with its filter), each page it resubmits, and its cancellation.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from shared.domain import lifecycle
from shared.domain.audit import AuditAction, AuditEntry
from shared.domain.errors import Conflict, NotFound, TransientError
from shared.domain.flow import FlowStep
from shared.domain.jobs import BulkJob, JobStatus
from shared.domain.models import EventStatus, IntegrationEvent
from shared.services.audit import AuditLog
from shared.services.auth import Caller
from shared.services.conflicts import on_fresh_copy
from shared.services.flow_counter import FlowCounter
from shared.services.identifiers import (
    require_event_id,
    require_integration_id,
    require_job_id,
)
from shared.services.json_input import json_object
from shared.services.management import parse_body, require_integration
from shared.services.ports import EventStore, IntegrationStore, JobStore, StaleWrite
from shared.services.queries import EventFilter
from shared.services.recovery import RecoveryService

log = logging.getLogger("integrations.resubmission")

PAGE_SIZE = 100
# The timer or a runner touching the same record meanwhile is rare: a few fresh reads settle it.
FRESH_COPY_ATTEMPTS = 5
# Long enough for a page of resubmissions; after it, a runner that died lets the timer
# take the page up again (events it resubmitted are no longer failed: not twice).
JOB_LEASE = timedelta(minutes=5)


class ResubmissionService:
    def __init__(
        self,
        integrations: IntegrationStore,
        events: EventStore,
        jobs: JobStore,
        recovery: RecoveryService,
        audit: AuditLog,
        now: Callable[[], datetime],
        flow: FlowCounter | None = None,
    ) -> None:
        self._audit = audit
        self._flow = flow
        self._integrations = integrations
        self._events = events
        self._jobs = jobs
        self._recovery = recovery
        self._now = now

    async def _shards(self, integration_id: str) -> int:
        return (await require_integration(self._integrations, integration_id)).partition_shards

    async def resubmit_one(
        self, integration_id: str, event_id: str, caller: Caller
    ) -> IntegrationEvent:
        shards = await self._shards(integration_id)
        require_event_id(integration_id, event_id)
        event = await self._resubmit_fresh(integration_id, event_id, shards, strict=True)
        assert event is not None
        await self._audit.record(
            caller,
            integration_id,
            AuditAction.EVENT_RESUBMITTED,
            before={"status": EventStatus.FAILED.value},
            after={"status": event.status.value},
            event_ids=[event.id],
        )
        return event

    async def _resubmit_fresh(
        self, integration_id: str, event_id: str, shards: int, *, strict: bool
    ) -> IntegrationEvent | None:
        """Read the event and resubmit it; the timer may touch it meanwhile, so a stale
        write is retried on a fresh copy. Returns None for an event that is not failed
        (strict: raises 404/409 instead)."""

        async def resubmit_fresh_copy() -> IntegrationEvent | None:
            event = await self._events.get(integration_id, event_id, shards)
            if event is None:
                if strict:
                    raise NotFound(f"No event '{event_id}' in integration '{integration_id}'.")
                return None
            if event.status is not EventStatus.FAILED:
                if strict:
                    raise Conflict(
                        f"Event {event_id} is {event.status.value}; only failed events can "
                        "be resubmitted."
                    )
                return None
            # One with a retry still due is only retried sooner: no new step in its flow.
            waited_for_a_person = event.next_retry_at is None
            lifecycle.requeue(event, self._now(), resubmission=True)
            await self._recovery.send(event, shards, self._now())
            if waited_for_a_person and self._flow is not None:
                self._flow.tally(integration_id, FlowStep.RESUBMITTED, self._now())
            return event

        return await on_fresh_copy(
            resubmit_fresh_copy,
            attempts=FRESH_COPY_ATTEMPTS,
            busy=lambda: Conflict(f"Event {event_id} is changing right now; try again shortly."),
        )

    async def start_bulk(self, integration_id: str, document: Any, caller: Caller) -> BulkJob:
        require_integration_id(integration_id)
        given = json_object(document, example='{"status": "failed"}')
        request = parse_body(EventFilter, {**given, "integrationId": integration_id})
        await self._shards(integration_id)
        now = self._now()
        job = BulkJob(
            id="job_" + secrets.token_hex(8),
            integration_id=integration_id,
            filter=request.model_dump(mode="json", by_alias=True, exclude_none=True),
            requested_by=caller.actor,
            created_at=now,
            updated_at=now,
            # created held by this request, so the timer leaves the first page to it
            lease_until=now + JOB_LEASE,
        )
        await self._jobs.save_job(job)
        await self._audit.record(
            caller,
            integration_id,
            AuditAction.EVENTS_RESUBMITTED,
            after={"filter": job.filter, "status": job.status.value},
            job_id=job.id,
        )
        try:
            await self._advance_held(job, PAGE_SIZE)
        except (TransientError, Conflict) as exc:
            # The job is recorded: the timer runs its page again, and its progress shows.
            log.warning("first page of job %s postponed: %s", job.id, exc)
        return job

    async def job(self, integration_id: str, job_id: str) -> BulkJob:
        require_integration_id(integration_id)
        job = await self._jobs.get_job(integration_id, require_job_id(integration_id, job_id))
        if job is None:
            raise NotFound(f"No resubmission job '{job_id}' in integration '{integration_id}'.")
        return job

    async def cancel(self, integration_id: str, job_id: str, caller: Caller) -> BulkJob:
        cancelled = False

        async def cancel_fresh_copy() -> BulkJob:
            # A runner may record a page meanwhile: the fresh copy is cancelled.
            nonlocal cancelled
            job = await self.job(integration_id, job_id)
            cancelled = job.status is JobStatus.RUNNING
            if cancelled:
                job.status, job.updated_at = JobStatus.CANCELLED, self._now()
                await self._jobs.save_job(job)
            return job

        job = await on_fresh_copy(
            cancel_fresh_copy,
            attempts=FRESH_COPY_ATTEMPTS,
            busy=lambda: Conflict(f"Job {job_id} is changing right now; try again in a moment."),
        )
        if cancelled:  # cancelling a job that had already ended changes nothing
            await self._audit.record(
                caller,
                integration_id,
                AuditAction.JOB_CANCELLED,
                before={"status": JobStatus.RUNNING.value},
                after={"status": job.status.value},
                job_id=job.id,
            )
        return job

    async def advance_all(self) -> int:
        """One page of every running job (the timer calls this)."""
        jobs = await self._jobs.running_jobs()
        for job in jobs:
            try:
                await self.advance(job)
            except (TransientError, Conflict) as exc:
                # The page let go of the job (or, if storage would not let it, its
                # hold runs out): a later run takes it up; the other jobs go on.
                log.warning("page of job %s postponed: %s", job.id, exc)
        return len(jobs)

    async def advance(self, job: BulkJob, page_size: int = PAGE_SIZE) -> None:
        """One page of the job, unless another runner (the request that started it, or
        another timer run) holds it: two runners on one page would count it twice."""
        now = self._now()
        if job.status is not JobStatus.RUNNING or (job.lease_until and job.lease_until > now):
            return
        job.lease_until = now + JOB_LEASE
        try:
            await self._jobs.save_job(job)
        except StaleWrite:
            return  # another runner took it, or a person cancelled it, since it was read
        await self._advance_held(job, page_size)

    async def _advance_held(self, job: BulkJob, page_size: int) -> None:
        held = job.lease_until
        done: list[str] = []
        try:
            request = parse_body(EventFilter, job.filter)
            shards = await self._shards(job.integration_id)
            query = request.to_query(shards, page_size, job.continuation_token)
            page = await self._events.query(query)
            for summary in page.events:
                event = await self._resubmit_fresh(
                    job.integration_id, summary.id, shards, strict=False
                )
                job.matched += 1
                if event is None:
                    job.skipped += 1
                    continue
                done.append(event.id)
                job.resubmitted += 1
        except (TransientError, Conflict):
            # Its progress so far is kept and audited, and the page runs again from its
            # start: the events it did resubmit are no longer failed, so each event is
            # resubmitted (and counted as such) once.
            await self._audit_page(job, done)
            with contextlib.suppress(TransientError, Conflict):
                await self._release(job, held)
            raise
        job.continuation_token = page.continuation_token
        if not page.continuation_token:
            job.status = JobStatus.COMPLETED
        await self._release(job, held)
        await self._audit_page(job, done)

    async def _audit_page(self, job: BulkJob, done: list[str]) -> None:
        if not done:
            return
        # The job's own step, on behalf of the person who started it (no request: no
        # role or address of its own).
        entry = AuditEntry(
            integration_id=job.integration_id,
            at=self._now(),
            action=AuditAction.JOB_PROGRESSED,
            actor=job.requested_by,
            event_ids=done,
            job_id=job.id,
        )
        await self._audit.write(entry)

    async def _release(self, job: BulkJob, held: datetime | None) -> None:
        """Records the page's progress and lets go of the job. While it is held only a
        cancellation changes it: that is kept, with the progress of the page. A runner
        whose hold ran out and was taken over writes nothing: the job is the other's."""
        job.lease_until = None
        for _ in range(5):
            job.updated_at = self._now()
            try:
                await self._jobs.save_job(job)
                return
            except StaleWrite:
                fresh = await self._jobs.get_job(job.integration_id, job.id)
                if fresh is None:
                    return
                if fresh.lease_until != held:
                    log.warning(
                        "job %s was taken over; this page's progress is not counted", job.id
                    )
                    return
                job.etag = fresh.etag
                if fresh.status is JobStatus.CANCELLED:
                    job.status = JobStatus.CANCELLED
        raise Conflict(f"Job {job.id} is changing right now; its next page will catch up.")
