"""The flow of events over a window, for a chart: how many events took each step per
minute (windows up to six hours) or per hour (up to 31 days), for one integration or
all together. Read-only, and cheap however many events there are: it reads the
counters' rows of the window (buckets times writers), never the events.

    await flow.flow({"integrationId": "int_3f…", "from": "2026-03-01T09:00:00Z"})
    Flow(integration_id="int_3f…", granularity=MINUTE, start=…09:00, end=…12:00,
         buckets=[(…09:00, {RECEIVED: 40, SUCCEEDED: 38, …}), …],
         totals={RECEIVED: 7200, …})

The counts are written by each instance every `FLOW_FLUSH_SECONDS`, so the newest
buckets fill in within that time (see `shared.services.flow_counter` for what else is
not exact).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.domain.errors import FieldProblem, ValidationFailed
from shared.domain.flow import MAX_WINDOW, FlowStep, Granularity, bucket_starts, granularity_for
from shared.services.identifiers import RequestTime
from shared.services.management import parse_body, require_integration
from shared.services.ports import FlowCounterStore, IntegrationStore

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DEFAULT_WINDOW = timedelta(hours=1)


class FlowRequest(BaseModel):
    """A window of the flow; without an integration, all integrations together.
    `to` defaults to now, `from` to an hour before `to`; times without a zone are UTC."""

    model_config = ConfigDict(extra="forbid")

    integrationId: Text | None = None
    # "from" is a Python keyword, hence the alias
    from_: RequestTime | None = Field(None, alias="from")
    to: RequestTime | None = None

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        end = _utc(self.to) if self.to else now
        start = _utc(self.from_) if self.from_ else end - DEFAULT_WINDOW
        if start >= end:
            raise ValidationFailed(
                "'from' must be before 'to'.", [FieldProblem("from", "must be before 'to'")]
            )
        if end - start > MAX_WINDOW:
            longest = f"at most {MAX_WINDOW.days} days before 'to'"
            raise ValidationFailed(
                f"The window is longer than {MAX_WINDOW.days} days; ask for a shorter one.",
                [FieldProblem("from", longest)],
            )
        return start, end


@dataclass(frozen=True)
class Flow:
    """Counts per step in each bucket of a window (every bucket present, zeros too)."""

    integration_id: str | None
    granularity: Granularity
    start: datetime
    end: datetime
    buckets: list[tuple[datetime, dict[FlowStep, int]]]
    totals: dict[FlowStep, int]


class FlowService:
    def __init__(
        self,
        integrations: IntegrationStore,
        counts: FlowCounterStore,
        now: Callable[[], datetime],
    ) -> None:
        self._integrations = integrations
        self._counts = counts
        self._now = now

    async def flow(self, document: Any) -> Flow:
        """Counts per step and bucket over the window; 400 for a bad window, 404 for an
        unknown integration."""
        request = parse_body(FlowRequest, document)
        start, end = request.window(self._now())
        if request.integrationId is not None:
            await require_integration(self._integrations, request.integrationId)
        granularity = granularity_for(start, end)
        starts = bucket_starts(start, end, granularity)
        rows = await self._counts.read(
            request.integrationId, granularity, starts[0], starts[-1] + granularity.length
        )
        per_bucket: dict[datetime, Counter[FlowStep]] = {s: Counter() for s in starts}
        for row in rows:
            if row.key.start in per_bucket:
                per_bucket[row.key.start].update(row.counts)
        totals: Counter[FlowStep] = sum(per_bucket.values(), Counter())
        return Flow(
            integration_id=request.integrationId,
            granularity=granularity,
            start=start,
            end=end,
            buckets=[(s, _counts(per_bucket[s])) for s in starts],
            totals=_counts(totals),
        )


def _counts(counter: Counter[FlowStep]) -> dict[FlowStep, int]:
    return {step: counter.get(step, 0) for step in FlowStep}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
