"""What one platform exchange means: applied, worth retrying, or rejected for good.

Transient: no response (network, timeout), 408/425/429, any 5xx. Permanent: any other
4xx (the platform rejected the data). A permanent message names what the event tried
to do and the platform's reason, so the data owner can fix it:
"Cannot create order ERP-ORDER-789: SKU 'X' does not exist (lineItems[0].sku)".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from shared.domain.clock import iso, utcnow
from shared.domain.errors import is_transient_status
from shared.domain.masking import mask_email_text
from shared.domain.models import ErrorKind, LastError, PlatformExchange


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    error: LastError | None = None
    retry_after_seconds: float | None = None

    @property
    def transient(self) -> bool:
        return self.error is not None and self.error.kind is ErrorKind.TRANSIENT


def classify(exchange: PlatformExchange, what: str) -> Outcome:
    """`what` is the action's own phrase, e.g. "create order ERP-ORDER-789"."""
    if exchange.status is None:
        reason = exchange.error or "no response"
        message = f"Could not {what}: {reason} It will be retried."
        return Outcome(False, LastError(ErrorKind.TRANSIENT, mask_email_text(message), None))
    if 200 <= exchange.status < 300:
        return Outcome(True)
    reason = _platform_reason(exchange.response_body)
    if is_transient_status(exchange.status):
        message = f"Could not {what}: the platform answered {exchange.status} ({reason})."
        return Outcome(
            False,
            LastError(ErrorKind.TRANSIENT, mask_email_text(message), exchange.status),
            retry_after_seconds=_retry_after(exchange.response_headers),
        )
    message = f"Cannot {what}: {reason}"
    return Outcome(False, LastError(ErrorKind.PERMANENT, mask_email_text(message), exchange.status))


# Platform error codes meaning "a record this event names does not exist (yet)".
MISSING_RECORD_CODES = frozenset({"unknown_sku"})
DEPENDENCY_RETRY_SECONDS = 5.0


def names_a_missing_record(exchange: PlatformExchange) -> bool:
    """The platform rejected the data only because a record it names does not exist."""
    body = exchange.response_body
    return (
        exchange.status == 422
        and isinstance(body, dict)
        and body.get("error") in MISSING_RECORD_CODES
    )


def awaiting_earlier_record(outcome: Outcome, until: datetime) -> Outcome:
    """A missing record turned into a short, bounded wait. Under per-record ordering the
    event that creates it (a `product.upsert`) may travel on another session and arrive
    a moment later; once `until` has passed, the rejection stands."""
    assert outcome.error is not None
    message = (
        f"{outcome.error.message.rstrip('.')}. Events are ordered per record, so the event "
        f"that creates it may still be on its way; retried until {iso(until)}, then it "
        "waits for a person."
    )
    return Outcome(
        False,
        LastError(ErrorKind.TRANSIENT, message, outcome.error.http_status),
        retry_after_seconds=DEPENDENCY_RETRY_SECONDS,
    )


def _platform_reason(body: Any) -> str:
    if isinstance(body, dict) and body.get("message"):
        reason = str(body["message"]).rstrip(".")
        paths = [
            str(d.get("path"))
            for d in body.get("details") or []
            if isinstance(d, dict) and d.get("path")
        ]
        if paths and not any(path in reason for path in paths):
            reason += " (" + ", ".join(paths[:5]) + ")"
        return reason
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return "no reason given"


def _retry_after(headers: dict[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None
