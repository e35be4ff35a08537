"""Masking: what is sensitive never reaches storage or a screen in the clear."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from shared.domain.comm_log import logged_call
from shared.domain.masking import REMOVED, mask, mask_email_text, mask_headers, mask_phone, truncate
from shared.domain.models import PlatformExchange
from tests.unit.fakes import START, World, all_strings


def test_credentials_headers_are_removed_whatever_their_spelling() -> None:
    headers = {
        "Authorization": "Bearer avvyr_int_live_secret",
        "proxy-authorization": "Basic abc",
        "Cookie": "session=abc",
        "Set-Cookie": "session=abc",
        "X-Api-Key": "k1",
        "api-key": "k2",
        "x-functions-key": "k3",
        "Ocp-Apim-Subscription-Key": "k4",
        "Content-Type": "application/json",
        "Idempotency-Key": "abc-123",
    }
    masked = mask_headers(headers)
    removed = set(headers) - {"Content-Type", "Idempotency-Key"}
    assert {name for name, value in masked.items() if value == REMOVED} == removed
    assert masked["Content-Type"] == "application/json"
    assert masked["Idempotency-Key"] == "abc-123"
    assert not any("secret" in value or value == "k1" for value in masked.values())


def test_credential_fields_in_bodies_are_removed() -> None:
    body = {
        "password": "hunter2",
        "client_secret": "s1",
        "accessToken": "t1",
        "refresh-token": "t2",
        "token": "t3",
        "nested": {"apiKey": "k"},
    }
    masked = mask(body)
    assert masked == {
        "password": REMOVED,
        "client_secret": REMOVED,
        "accessToken": REMOVED,
        "refresh-token": REMOVED,
        "token": REMOVED,
        "nested": {"apiKey": REMOVED},
    }


def test_email_is_masked_anywhere_in_text() -> None:
    assert mask("anna@example.com") == "a***@example.com"
    text = "Customer anna.svensson@example.co.uk (cc: Bob+erp@sub.example.com) rejected"
    assert mask_email_text(text) == (
        "Customer a***@example.co.uk (cc: B***@sub.example.com) rejected"
    )
    assert mask({"message": text})["message"] == mask_email_text(text)
    assert mask({"email": "anna@example.com"}) == {"email": "a***@example.com"}
    quoted = "Customer 'anna.o'brien@example.com' is blocked"
    assert mask_email_text(quoted) == "Customer 'a***@example.com' is blocked"


def test_phone_numbers_keep_only_their_ends() -> None:
    assert mask({"phone": "+46701234567"}) == {"phone": "+46*******67"}
    assert mask({"mobilePhone": "0701234567"})["mobilePhone"] == "07******67"
    assert mask({"phone_number": "+46 70 123 45 67"})["phone_number"] == "+46***********67"
    assert mask_phone("1234") == "***"  # too short to show anything


def test_names_keep_their_initial() -> None:
    masked = mask({"firstName": "Anna", "lastName": "Svensson", "full_name": "Anna Svensson"})
    assert masked == {"firstName": "A***", "lastName": "S***", "full_name": "A***"}
    assert mask({"firstName": ""}) == {"firstName": ""}


def test_address_lines_and_postal_codes_are_hidden() -> None:
    address = {
        "addressLine1": "Storgatan 1",
        "address_line2": "lgh 1102",
        "street": "Storgatan",
        "postalCode": "111 22",
        "zip": "12345",
        "city": "Stockholm",
        "country": "SE",
    }
    masked = mask({"shipping": address})["shipping"]
    assert masked == {
        "addressLine1": "***",
        "address_line2": "***",
        "street": "***",
        "postalCode": "***",
        "zip": "***",
        "city": "Stockholm",
        "country": "SE",
    }


def test_masked_fields_setting_masks_extra_fields_case_insensitively() -> None:
    body = {"ssn": "19800101-1234", "Notes": {"x": 1}, "kept": "value", "empty": None}
    masked = mask(body, ["SSN", "notes", "empty"])
    assert masked == {"ssn": "***", "Notes": "***", "kept": "value", "empty": None}
    assert mask_headers({"X-Tenant": "acme"}, ["x-tenant"]) == {"X-Tenant": "***"}


def test_bulk_payloads_are_masked_in_every_item() -> None:
    customers = [
        {"email": f"person{n}@example.com", "firstName": f"Name{n}", "phone": "+4670123456{n}"}
        for n in range(3)
    ]
    orders = {
        "orders": [
            {"externalId": f"E{n}", "customer": customer, "lineItems": [{"sku": "A"}]}
            for n, customer in enumerate(customers)
        ]
    }
    masked = mask({"customers": customers, "batch": orders})
    text = json.dumps(masked)
    for customer in customers:
        assert customer["email"] not in text
        assert customer["firstName"] not in text
        assert customer["phone"] not in text
    assert masked["batch"]["orders"][2]["customer"]["email"] == "p***@example.com"
    assert masked["batch"]["orders"][2]["externalId"] == "E2"
    assert masked["batch"]["orders"][2]["lineItems"] == [{"sku": "A"}]


def test_mask_does_not_change_its_input_or_non_text_values() -> None:
    body = {"customer": {"email": "anna@example.com"}, "quantity": 3, "ok": True, "n": None}
    before = json.loads(json.dumps(body))
    masked = mask(body)
    assert body == before
    assert masked["quantity"] == 3 and masked["ok"] is True and masked["n"] is None


def test_truncation_keeps_small_bodies_and_marks_large_ones() -> None:
    small = {"items": [1, 2, 3]}
    assert truncate(small, limit=100) is small
    large = {"items": ["x" * 50 for _ in range(10)]}
    text = json.dumps(large, separators=(",", ":"))
    cut = truncate(large, limit=100)
    assert cut["truncated"] is True
    assert cut["preview"] == text[:100]
    assert f"{len(text):,} characters" in cut["note"] and "first 100" in cut["note"]
    assert truncate("y" * 101, limit=100)["preview"] == "y" * 100


def test_the_communication_log_is_masked_before_it_is_stored() -> None:
    exchange = PlatformExchange(
        method="POST",
        url="https://platform.test/v1/orders",
        request_headers={"Authorization": "Bearer platform-secret", "Idempotency-Key": "k"},
        request_body={"customer": {"email": "anna@example.com", "firstName": "Anna"}},
        started_at=START,
        duration_ms=12.5,
        status=422,
        response_headers={"Set-Cookie": "s=1"},
        response_body={"message": "Customer anna@example.com is blocked", "ssn": "1"},
    )
    logged = logged_call(exchange, ["SSN"])
    text = json.dumps(logged)
    assert "platform-secret" not in text and "anna@example.com" not in text
    assert logged["request"]["headers"]["Authorization"] == REMOVED
    assert logged["request"]["body"]["customer"] == {
        "email": "a***@example.com",
        "firstName": "A***",
    }
    assert logged["response"]["body"]["ssn"] == "***"
    assert logged["response"]["headers"]["Set-Cookie"] == REMOVED


def nested(value: Any, depth: int) -> Any:
    for n in range(depth):
        value = {f"level{n}": [value, {"note": "x"}]}
    return value


def test_deeply_nested_values_are_reached() -> None:
    masked = mask(nested({"email": "deep@example.com", "password": "p"}, 6))
    strings = list(all_strings(masked))
    assert "d***@example.com" in strings
    assert "deep@example.com" not in json.dumps(masked) and "p" not in strings


def test_values_under_a_personal_key_are_masked_whatever_their_shape() -> None:
    assert mask({"phone": ["+46701234567"]}) == {"phone": ["+46*******67"]}
    assert mask({"firstName": ["Anna"]}) == {"firstName": ["A***"]}
    assert mask({"phone": 46701234567}) == {"phone": "46*******67"}
    assert mask({"lastName": [None, True, ["Svensson", 7]]}) == {
        "lastName": [None, True, ["S***", "7***"]]
    }
    address = {"address": {"lines": ["Storgatan 1", "lgh 1102"], "number": 12, "city": "X"}}
    assert mask(address) == {"address": {"lines": ["***", "***"], "number": "***", "city": "***"}}
    phones = {"mobile": {"home": "+46701234567", "work": ["0701234567", 701234567]}}
    assert mask(phones) == {"mobile": {"home": "+46*******67", "work": ["07******67", "70*****67"]}}


def test_credentials_and_masked_fields_inside_a_personal_value_still_go() -> None:
    value = {"firstName": {"password": "hunter2", "nick": "Anna", "ssn": "19800101-1234"}}
    assert mask(value, ["ssn"]) == {
        "firstName": {"password": REMOVED, "nick": "A***", "ssn": "***"}
    }


def test_a_personal_list_in_a_stored_attempt_is_masked() -> None:
    exchange = PlatformExchange(
        method="POST",
        url="https://platform.test/v1/customers",
        request_headers={},
        request_body={"customers": [{"phone": ["+46701234567"], "firstName": ["Anna"]}]},
        started_at=START,
        duration_ms=3.0,
        status=200,
        response_headers={},
        response_body={"customer": {"lastName": {"current": "Svensson"}}},
    )
    text = json.dumps(logged_call(exchange, []))
    assert "+46701234567" not in text and "Anna" not in text and "Svensson" not in text


async def test_platform_answers_never_reach_the_python_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The masked communication log stored with the attempt is the one place a
    platform's answer is kept; log lines name the event, never the body."""
    world = World()
    _, key = await world.integration()
    marker = "ANSWER-BODY-7f3a"
    world.platform.answer(503, {"message": "Busy", "trace": marker, "phone": "+46701234567"})
    world.platform.answer(422, f"{marker} rejected for anna@example.com")
    document = {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 1}]}}
    with caplog.at_level(logging.DEBUG):
        await world.push(key, document)
        await world.deliver()
        await world.push(key, document)
        await world.deliver()
    assert caplog.records, "the attempts log their outcome"
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert marker not in text and "+46701234567" not in text, record
