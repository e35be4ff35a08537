"""Accepting an inbound request: authenticate, validate, record as queued, enqueue.

The event and its due-time check are written before the message is sent, so a
crash between the writes and the send loses nothing: the timer finds the check,
sees the event still queued and sends it. The 202 goes out only after both writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from opentelemetry.trace import SpanKind

from shared import telemetry
from shared.config import Settings
from shared.domain import lifecycle
from shared.domain.clock import event_id_time_ms, from_epoch_ms, new_event_id
from shared.domain.errors import (
    NotFound,
    Throttled,
    TransientError,
    Unprocessable,
    ValidationFailed,
)
from shared.domain.flow import FlowStep
from shared.domain.models import EventStatus, Integration, IntegrationEvent, OrderingScope
from shared.domain.retry import policy_for
from shared.domain.throttle import RateLimiter
from shared.services.auth import authenticate_integration
from shared.services.flow_counter import FlowCounter
from shared.services.identifiers import EVENT_ID
from shared.services.key_usage import KeyUsage
from shared.services.ports import (
    EventStore,
    IdempotencyRecord,
    IdempotencyStore,
    IntegrationStore,
    MessageBus,
    StaleWrite,
)
from shared.services.validation import ValidatedRequest, check_body, validate_inbound

log = logging.getLogger("integrations.inbound")


@dataclass(frozen=True)
class InboundRequest:
    authorization: str | None
    content_type: str | None
    body: bytes
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Accepted:
    message_id: str
    replayed: bool = False


def session_for(integration: Integration, request: ValidatedRequest, shards: int) -> str:
    """Per-integration FIFO by default. Per-record FIFO on a bounded set of session
    shards otherwise: the record's key is hashed over `shards` sessions, so each
    record's events stay in order, different records proceed in parallel, and each
    session carries many messages. (One session per record would drain at about
    maxConcurrentSessions / sessionIdleTimeout per instance on Azure, because the
    Service Bus extension holds a session until it has been idle that long.)"""
    if integration.ordering_scope is OrderingScope.INTEGRATION:
        return integration.id
    key = request.action.ordering_key(request.data, request.entity_id)
    return entity_session(integration.id, key, shards)


def entity_session(integration_id: str, ordering_key: str, shards: int) -> str:
    digest = hashlib.sha256(ordering_key.encode()).digest()
    return f"{integration_id}:{int.from_bytes(digest[:4], 'big') % max(shards, 1):02d}"


class InboundService:
    def __init__(
        self,
        settings: Settings,
        integrations: IntegrationStore,
        events: EventStore,
        idempotency: IdempotencyStore,
        bus: MessageBus,
        now: Callable[[], datetime],
        flow: FlowCounter | None = None,
    ) -> None:
        self._flow = flow
        self._settings = settings
        self._integrations = integrations
        self._events = events
        self._idempotency = idempotency
        self._bus = bus
        self._now = now
        # Each key's last use, written at most once per window, never per request.
        self._key_usage = KeyUsage(integrations)
        rate = settings.inbound_requests_per_second
        self._limiter = RateLimiter(rate) if rate > 0 else None
        # The sender's questions have a budget of their own: polling never slows a push.
        self._lookups = RateLimiter(rate) if rate > 0 else None

    async def accept(self, request: InboundRequest) -> Accepted:
        with telemetry.span("inbound accept", kind=SpanKind.SERVER):
            accepted = await self._accept(request)
        if self._flow is not None:
            await self._flow.flush_if_due()
        return accepted

    async def _accept(self, request: InboundRequest) -> Accepted:
        integration = await self._authenticate(request.authorization)
        self._check_rate(self._limiter, integration)
        document = check_body(request.body, request.content_type, self._settings.max_body_bytes)
        validated = validate_inbound(document, self._settings.max_items_per_event)
        now = self._now()
        event_id = new_event_id(now)
        key = _clean_key(request.idempotency_key)
        if key:
            body_hash = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
            earlier = await self._idempotency.claim(
                integration.id, key, IdempotencyRecord(event_id, body_hash, now)
            )
            if earlier is not None:
                if earlier.body_hash != body_hash:
                    raise Unprocessable(
                        f"Idempotency-Key '{key}' was already used with a different body "
                        f"(event {earlier.event_id}). Use a new key for new data."
                    )
                shards = integration.partition_shards
                if await self._events.get(integration.id, earlier.event_id, shards):
                    return Accepted(earlier.event_id, replayed=True)
                # The first request claimed the key and died before recording its event
                # (it never answered 202): finish that acceptance under the same id.
                event_id = earlier.event_id
                now = from_epoch_ms(event_id_time_ms(event_id))
        # The claim is never released: if recording fails half-way (the write may have
        # landed), the client's resend with the same key finishes this acceptance under
        # the same id instead of creating a second event.
        try:
            event = await self._record(integration, validated, document, event_id, key, now)
        except StaleWrite:
            # A resend finishing a claim while the first request was still recording:
            # that request recorded the event and sends it (or the timer does).
            return Accepted(event_id, replayed=True)
        if self._flow is not None:
            self._flow.tally(event.integration_id, FlowStep.RECEIVED, self._now())
        try:
            await self._bus.send(lifecycle.queue_message(event, integration.partition_shards))
        except TransientError:
            # Recorded and indexed: the timer sends it once the queue is reachable.
            log.warning("send of event %s failed; the timer will retry it", event.id)
        telemetry.ACCEPTED.add(
            1, {"integration.id": event.integration_id, "event.action": event.action}
        )
        telemetry.log_event("accepted", event)
        return Accepted(event.id)

    async def sent_event(self, authorization: str | None, message_id: str) -> IntegrationEvent:
        """One of the sender's own messages, asked with the integration's key: two point
        reads (the key's integration, then the event in that integration's partitions).
        Another integration's message is not found there, so it is a 404 like an id that
        never existed: ids cannot be probed across integrations."""
        integration = await self._authenticate(authorization)
        self._check_rate(self._lookups, integration)
        event = None
        if EVENT_ID.fullmatch(message_id):
            shards = integration.partition_shards
            event = await self._events.get(integration.id, message_id, shards)
        if event is None:
            raise NotFound(
                f"No message {message_id[:100]!r} from this integration. Use the messageId "
                "the 202 answer gave, with the same integration's API key."
            )
        return event

    async def _authenticate(self, authorization: str | None) -> Integration:
        return await authenticate_integration(
            self._integrations, authorization, now=self._now(), usage=self._key_usage
        )

    def _check_rate(self, limiter: RateLimiter | None, integration: Integration) -> None:
        if limiter is not None and (wait := limiter.retry_after(integration.id)):
            raise Throttled(
                f"Integration '{integration.name}' sends more than "
                f"{self._settings.inbound_requests_per_second:g} requests per second; "
                "slow down and retry after the Retry-After seconds.",
                retry_after_seconds=max(1, math.ceil(wait)),
            )

    async def _record(
        self,
        integration: Integration,
        validated: ValidatedRequest,
        document: dict[str, object],
        event_id: str,
        key: str | None,
        now: datetime,
    ) -> IntegrationEvent:
        policy = policy_for(
            self._settings,
            validated.action.name,
            max_attempts=integration.retry_max_attempts,
            base_delay=integration.retry_base_delay_seconds,
        )
        shards = integration.partition_shards
        # From the clock, not from `now`: finishing an earlier acceptance keeps its old
        # creation time, and a check due at once could be read before the event exists.
        check_at = self._now() + timedelta(seconds=self._settings.enqueue_grace_seconds)
        event = IntegrationEvent(
            id=event_id,
            integration_id=integration.id,
            action=validated.action.name,
            entity_id=validated.entity_id or validated.action.default_entity_id(validated.data),
            status=EventStatus.QUEUED,
            created_at=now,
            updated_at=now,
            session_id=session_for(integration, validated, self._settings.entity_ordering_shards),
            max_attempts=policy.max_attempts,
            payload=document,
            idempotency_key=key,
            trace_context=telemetry.current_trace_headers() or None,
            check_at=check_at,
        )
        await self._events.add(event, shards)
        return event


def _clean_key(key: str | None) -> str | None:
    if key is None or not key.strip():
        return None
    key = key.strip()
    if len(key) > 200:
        raise ValidationFailed("The Idempotency-Key header is longer than 200 characters.")
    return key
