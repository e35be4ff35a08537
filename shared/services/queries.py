"""The read-only view of events for operations: filter, detail, counts. Never writes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.config import Settings
from shared.domain.advice import Advice, advice_for
from shared.domain.errors import NotFound
from shared.domain.masking import mask
from shared.domain.models import Attempt, EventStatus, IntegrationEvent
from shared.services.identifiers import FilterText, IntegrationId, RequestTime, require_event_id
from shared.services.management import parse_body, require_integration
from shared.services.ports import EventPage, EventQuery, EventStore, IntegrationStore

# Ids and text a filter matches: printable characters only (see actions.common).
Text = FilterText


class EventFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    integrationId: IntegrationId
    status: EventStatus | None = None
    action: Text | None = None
    entityId: Text | None = None
    search: Text | None = Field(None, description="Part of an entity id, case-insensitive.")
    deadLettered: bool | None = None
    # "from" is a Python keyword, hence the alias
    from_: RequestTime | None = Field(None, alias="from")
    to: RequestTime | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    continuationToken: Annotated[str, StringConstraints(max_length=2000)] | None = None

    def to_query(self, shards: int, limit: int, continuation_token: str | None) -> EventQuery:
        """The store's query for this filter, one page of `limit` from the token."""
        return EventQuery(
            integration_id=self.integrationId,
            shards=shards,
            status=self.status.value if self.status else None,
            action=self.action,
            entity_id=self.entityId,
            entity_id_contains=self.search,
            dead_lettered=self.deadLettered,
            created_from=self.from_,
            created_to=self.to,
            limit=limit,
            continuation_token=continuation_token,
        )


class CountsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    integrationId: IntegrationId
    from_: RequestTime | None = Field(None, alias="from")
    to: RequestTime | None = None


@dataclass(frozen=True)
class EventDetail:
    """One event as a person reads it: masked payload, every attempt, the advice."""

    event: IntegrationEvent
    payload: Any
    attempts: list[Attempt]
    advice: Advice | None


@dataclass(frozen=True)
class EventCounts:
    integration_id: str
    counts: dict[EventStatus, int]
    dead_lettered: int
    complete: bool  # False when the window held more events than a count reads


class QueryService:
    def __init__(self, settings: Settings, integrations: IntegrationStore, events: EventStore):
        self._settings = settings
        self._integrations = integrations
        self._events = events

    async def _shards(self, integration_id: str) -> int:
        return (await require_integration(self._integrations, integration_id)).partition_shards

    async def filter(self, document: Any) -> EventPage:
        request = parse_body(EventFilter, document)
        shards = await self._shards(request.integrationId)
        return await self._events.query(
            request.to_query(shards, request.limit, request.continuationToken)
        )

    async def detail(self, integration_id: str, event_id: str) -> EventDetail:
        shards = await self._shards(integration_id)
        event = await self._events.get(
            integration_id, require_event_id(integration_id, event_id), shards
        )
        if event is None:
            raise NotFound(f"No event '{event_id}' in integration '{integration_id}'.")
        attempts = await self._events.attempts(event.integration_id, event.id, shards)
        payload = mask(event.payload, self._settings.masked_fields)
        return EventDetail(event, payload, attempts, advice_for(event))

    async def counts(
        self, document: Any, page_limit: int = 500, max_pages: int = 40
    ) -> EventCounts:
        """Events per status in a time window (bounded: at most 20,000 events are read)."""
        request = parse_body(CountsRequest, document)
        shards = await self._shards(request.integrationId)
        counts: Counter[str] = Counter()
        token: str | None = None
        for _ in range(max_pages):
            page = await self._events.query(
                EventQuery(
                    integration_id=request.integrationId,
                    shards=shards,
                    created_from=request.from_,
                    created_to=request.to,
                    limit=page_limit,
                    continuation_token=token,
                )
            )
            counts.update(event.status.value for event in page.events)
            counts.update("deadLettered" for event in page.events if event.dead_lettered)
            token = page.continuation_token
            if not token:
                break
        return EventCounts(
            integration_id=request.integrationId,
            counts={status: counts.get(status.value, 0) for status in EventStatus},
            dead_lettered=counts.get("deadLettered", 0),
            complete=token is None,
        )
