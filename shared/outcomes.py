"""What one platform exchange means: applied, worth retrying, or rejected for good.

Transient: no response (network, timeout), 408/425/429, any 5xx. Permanent: any other
4xx (the platform rejected the data). A permanent message names what the event tried
to do and the platform's reason, so the data owner can fix it:
"Cannot create order ERP-ORDER-789: SKU 'X' does not exist (lineItems[0].sku)".
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from shared.clock import utcnow
from shared.errors import is_transient_status
from shared.masking import mask_email_text
from shared.models import LastError, PlatformExchange


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    error: LastError | None = None
    retry_after_seconds: float | None = None

    @property
    def transient(self) -> bool:
        return self.error is not None and self.error.kind == "transient"


def classify(exchange: PlatformExchange, what: str) -> Outcome:
    """`what` is the action's own phrase, e.g. "create order ERP-ORDER-789"."""
    if exchange.status is None:
        reason = exchange.error or "no response"
        message = f"Could not {what}: {reason} It will be retried."
        return Outcome(False, LastError("transient", mask_email_text(message), None))
    if 200 <= exchange.status < 300:
        return Outcome(True)
    reason = _platform_reason(exchange.response_body)
    if is_transient_status(exchange.status):
        message = f"Could not {what}: the platform answered {exchange.status} ({reason})."
        return Outcome(
            False,
            LastError("transient", mask_email_text(message), exchange.status),
            retry_after_seconds=_retry_after(exchange.response_headers),
        )
    message = f"Cannot {what}: {reason}"
    return Outcome(False, LastError("permanent", mask_email_text(message), exchange.status))


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
