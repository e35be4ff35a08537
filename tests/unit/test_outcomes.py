"""What one platform exchange means: applied, worth retrying, or rejected for good."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from shared.domain.clock import utcnow
from shared.domain.models import PlatformExchange
from shared.domain.outcomes import classify
from tests.unit.fakes import START

WHAT = "create order ERP-ORDER-789"


def exchange(
    status: int | None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    error: str | None = None,
) -> PlatformExchange:
    return PlatformExchange(
        method="POST",
        url="https://platform.test/v1/orders",
        request_headers={},
        request_body={},
        started_at=START,
        duration_ms=3.0,
        status=status,
        response_headers=headers or {},
        response_body=body,
        error=error,
    )


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_is_success(status: int) -> None:
    outcome = classify(exchange(status, {"id": "ord_1"}), WHAT)
    assert outcome.succeeded and outcome.error is None and not outcome.transient


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_timeouts_throttling_and_5xx_are_transient(status: int) -> None:
    outcome = classify(exchange(status, {"message": "Busy"}), WHAT)
    assert not outcome.succeeded and outcome.transient
    assert outcome.error is not None
    assert outcome.error.http_status == status
    assert outcome.error.message == f"Could not {WHAT}: the platform answered {status} (Busy)."


def test_no_response_is_transient_with_the_reason() -> None:
    outcome = classify(exchange(None, error="The platform did not answer in time (timeout)."), WHAT)
    assert outcome.transient and outcome.error is not None
    assert outcome.error.http_status is None
    assert "did not answer in time" in outcome.error.message
    assert outcome.error.message.startswith(f"Could not {WHAT}")
    assert "retried" in outcome.error.message


def test_retry_after_in_seconds() -> None:
    outcome = classify(exchange(429, {}, {"Retry-After": "17"}), WHAT)
    assert outcome.retry_after_seconds == 17.0
    lower = classify(exchange(503, {}, {"retry-after": "2.5"}), WHAT)
    assert lower.retry_after_seconds == 2.5


def test_retry_after_as_an_http_date() -> None:
    when = format_datetime(utcnow() + timedelta(seconds=120), usegmt=True)
    outcome = classify(exchange(503, {}, {"Retry-After": when}), WHAT)
    assert outcome.retry_after_seconds is not None
    assert 110 <= outcome.retry_after_seconds <= 121


@pytest.mark.parametrize("value", ["soon", "", "-5"])
def test_unusable_or_negative_retry_after(value: str) -> None:
    seconds = classify(exchange(429, {}, {"Retry-After": value}), WHAT).retry_after_seconds
    assert seconds in (None, 0.0)
    if value == "-5":
        assert seconds == 0.0  # never in the past


def test_a_past_http_date_means_now() -> None:
    when = format_datetime(utcnow() - timedelta(hours=1), usegmt=True)
    assert classify(exchange(503, {}, {"Retry-After": when}), WHAT).retry_after_seconds == 0.0


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_rejections_are_permanent_and_name_what_failed_and_why(status: int) -> None:
    body = {
        "error": "unknown_sku",
        "message": "SKU 'X' does not exist",
        "details": [{"path": "lineItems[0].sku", "message": "SKU 'X' does not exist"}],
    }
    outcome = classify(exchange(status, body), WHAT)
    assert not outcome.succeeded and not outcome.transient
    assert outcome.error is not None
    assert outcome.error.kind == "permanent"
    assert outcome.error.http_status == status
    assert outcome.error.message == (
        "Cannot create order ERP-ORDER-789: SKU 'X' does not exist (lineItems[0].sku)"
    )
    assert outcome.retry_after_seconds is None


def test_a_path_already_in_the_reason_is_not_repeated() -> None:
    body = {"message": "items[0].sku is unknown.", "details": [{"path": "items[0].sku"}]}
    outcome = classify(exchange(422, body), "set stock for 'X'")
    assert outcome.error is not None
    assert outcome.error.message == "Cannot set stock for 'X': items[0].sku is unknown"


def test_text_and_empty_reasons() -> None:
    text = classify(exchange(400, "  Bad things happened  "), WHAT)
    assert text.error is not None and text.error.message == f"Cannot {WHAT}: Bad things happened"
    empty = classify(exchange(404, None), WHAT)
    assert empty.error is not None and empty.error.message == f"Cannot {WHAT}: no reason given"


def test_e_mail_addresses_in_reasons_are_masked() -> None:
    body = {"message": "Customer anna@example.com is blocked"}
    outcome = classify(exchange(409, body), "upsert customer anna@example.com")
    assert outcome.error is not None
    assert "anna@example.com" not in outcome.error.message
    assert "a***@example.com is blocked" in outcome.error.message
