"""What a failed event means and what a person can do about it, in plain words.

Computed once, here, and returned with the event's detail, so the dashboard and the
command-line tool say the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.domain.models import ErrorKind, EventStatus, IntegrationEvent

# Short words for the HTTP status the platform answered, shown beside the headline.
HTTP_WORDS = {
    400: "malformed request",
    401: "credentials refused",
    403: "access refused",
    404: "not found",
    408: "timed out",
    409: "conflict",
    422: "data not accepted",
    429: "too many requests",
    500: "platform error",
    502: "bad gateway",
    503: "platform unavailable",
    504: "gateway timeout",
}


@dataclass(frozen=True)
class Advice:
    kind: str  # past | transient | permanent: how the page colours it
    headline: str
    todo: str
    http: str | None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "headline": self.headline, "todo": self.todo, "http": self.http}


def advice_for(event: IntegrationEvent) -> Advice | None:
    """The advice for an event whose latest attempt failed (None if none did)."""
    error = event.last_error
    if error is None:
        return None
    status = error.http_status
    http = f"HTTP {status} · {HTTP_WORDS.get(status, 'error')}" if status else None
    if event.status is not EventStatus.FAILED:
        later = (
            "It succeeded afterwards."
            if event.status is EventStatus.SUCCESS
            else "It has been queued again."
        )
        return Advice("past", "An earlier attempt failed", later, http)
    if error.kind is ErrorKind.TRANSIENT:
        if event.next_retry_at is not None:
            return Advice(
                "transient",
                "Temporary problem: it is retried automatically",
                f"Attempt {event.attempts} of {event.max_attempts}; the next automatic attempt "
                "is at the time shown. Nothing to do unless it keeps failing.",
                http,
            )
        return Advice(
            "permanent",
            "The platform kept failing: automatic retries are used up",
            "Nothing was lost. Once the platform is healthy again, retry this event.",
            http,
        )
    if event.dead_lettered:
        return Advice(
            "permanent",
            "Delivery gave up on this event (dead-lettered)",
            "Nothing was lost: the event is kept here. Retry it once the cause is fixed.",
            http,
        )
    return Advice(
        "permanent",
        "The platform rejected this data",
        "It is not retried automatically. " + _after_rejection(error.message),
        http,
    )


def _after_rejection(message: str) -> str:
    """What a person can do about a rejection; the message says what is wrong."""
    if re.search(r"\bSKU\b", message, re.IGNORECASE):
        return (
            "The product is missing on the platform. Create it (push a product.upsert, or set "
            "its stock with inventory.set), or correct the SKU in the sending system, then "
            "retry this event."
        )
    if re.search(r"warehouse", message, re.IGNORECASE):
        return (
            "Say which warehouse is meant (warehouseId) in the sending system, then retry "
            "this event."
        )
    return (
        "Fix the data in the sending system or on the platform, then retry this event. "
        "Retrying without a fix fails the same way."
    )
