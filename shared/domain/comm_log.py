"""The communication log of an attempt: every platform call, masked before it is stored."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared.domain.clock import iso
from shared.domain.masking import mask, mask_headers, truncate
from shared.domain.models import Attempt, AttemptOutcome, IntegrationEvent, PlatformExchange
from shared.domain.outcomes import Outcome


def logged_call(exchange: PlatformExchange, masked_fields: Iterable[str]) -> dict[str, Any]:
    fields = frozenset(name.lower() for name in masked_fields)
    return {
        "method": exchange.method,
        "url": exchange.url,
        "startedAt": iso(exchange.started_at),
        "durationMs": exchange.duration_ms,
        "status": exchange.status,
        "error": exchange.error,
        "request": {
            "headers": mask_headers(exchange.request_headers, fields),
            "body": truncate(mask(exchange.request_body, fields)),
        },
        "response": {
            "headers": mask_headers(exchange.response_headers, fields),
            "body": truncate(mask(exchange.response_body, fields)),
        },
    }


def attempt_record(
    event: IntegrationEvent,
    started: datetime,
    finished: datetime,
    outcome: Outcome,
    exchanges: list[PlatformExchange],
    masked_fields: Iterable[str],
) -> Attempt:
    return Attempt(
        event_id=event.id,
        number=event.attempts,
        started_at=started,
        finished_at=finished,
        outcome=AttemptOutcome.SUCCESS if outcome.succeeded else AttemptOutcome.FAILED,
        error=outcome.error,
        calls=[logged_call(exchange, masked_fields) for exchange in exchanges],
        submission=event.resubmissions,
    )
