"""Hostile input never reaches a 500 or a stored event: strict JSON, bounded in every
dimension, and identifiers of printable characters only."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from shared.domain.errors import RequestError, ValidationFailed
from shared.services.inbound import InboundRequest
from shared.services.json_input import (
    MAX_DEPTH,
    MAX_INTEGER_DIGITS,
    MAX_KEY_CHARS,
    MAX_STRING_CHARS,
    read_json,
)
from shared.services.validation import check_body, validate_inbound
from tests.unit.fakes import World

INVENTORY: dict[str, Any] = {
    "action": "inventory.set",
    "data": {"items": [{"sku": "CHAIR-UNO-BLK", "quantity": 42, "warehouseId": "wh-01"}]},
}


def refused(body: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        read_json(body)
    assert caught.value.status == 400
    return caught.value


def paths(error: RequestError) -> list[str]:
    return [problem.path for problem in error.details]


# --- the strict reader ----------------------------------------------------------------


def test_plain_json_reads_as_json() -> None:
    body = json.dumps(INVENTORY).encode()
    assert read_json(body) == INVENTORY
    assert read_json(b"\xef\xbb\xbf" + body) == INVENTORY  # a UTF-8 byte order mark
    assert read_json(b'["\\ud83d\\ude00", -1.5e3, true, null]') == ["😀", -1500.0, True, None]


def test_a_key_given_twice_is_refused_with_its_path() -> None:
    error = refused(b'{"action": "inventory.set", "action": "order.create", "data": {}}')
    assert "'action' is given twice" in error.message
    assert paths(error) == ["action"]
    nested = refused(b'{"data": {"items": [{"sku": "A", "sku": "B"}]}}')
    assert paths(nested) == ["data.items[0].sku"]


def test_an_integer_of_thousands_of_digits_is_refused() -> None:
    error = refused(b'{"data": {"items": [{"quantity": ' + b"9" * 5000 + b"}]}}")
    assert paths(error) == ["data.items[0].quantity"]
    assert "5,000 digits" in error.message and str(MAX_INTEGER_DIGITS) in error.message
    assert read_json(b"-" + b"9" * MAX_INTEGER_DIGITS) == -int("9" * MAX_INTEGER_DIGITS)
    refused(b"9" * (MAX_INTEGER_DIGITS + 1))


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_refused(constant: bytes) -> None:
    assert paths(refused(b'{"price": ' + constant + b"}")) == ["price"]


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"0." + b"1" * 100])
def test_numbers_no_parser_keeps_are_refused(number: bytes) -> None:
    assert paths(refused(b"[" + number + b"]")) == ["[0]"]


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_a_body_nested_thousands_deep_is_refused_quickly(opening: bytes) -> None:
    closing = b"]" if opening == b"[" else b"}"
    body = opening * 5000 + b"1" + closing * 5000
    started = time.perf_counter()
    error = refused(body)
    assert time.perf_counter() - started < 0.5
    assert f"more than {MAX_DEPTH} levels" in error.message


def test_nesting_up_to_the_limit_is_read_and_brackets_in_strings_do_not_count() -> None:
    assert read_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    refused(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    inside = b'{"note": "' + b"[{" * 1000 + b'"}'
    assert read_json(inside) == {"note": "[{" * 1000}


def test_an_unterminated_string_of_escaped_quotes_is_refused_quickly() -> None:
    started = time.perf_counter()
    refused(b'"' + b'\\"' * 200_000)
    assert time.perf_counter() - started < 1.0


def test_strings_and_keys_over_their_limits_are_refused() -> None:
    assert read_json(b'{"a": "' + b"x" * MAX_STRING_CHARS + b'"}')
    assert paths(refused(b'{"a": ["' + b"x" * (MAX_STRING_CHARS + 1) + b'"]}')) == ["a[0]"]
    long_key = b"k" * (MAX_KEY_CHARS + 1)
    error = refused(b'{"' + long_key + b'": 1}')
    assert error.message.startswith("The key")


def test_an_unpaired_surrogate_is_refused() -> None:
    assert paths(refused(b'{"sku": "A\\ud800"}')) == ["sku"]
    refused(b'{"\\udc00": 1}')


@pytest.mark.parametrize(
    "body", [b"", b"\xff\xfe{}", b'{"a": 1,}', b"{'a': 1}", b'{"a": 1} {"b": 2}', b"[1, 2"]
)
def test_malformed_bodies_are_refused_as_not_json(body: bytes) -> None:
    assert "not valid JSON" in refused(body).message


# --- inbound, through the service: 400 and nothing stored ------------------------------


async def push_raw(world: World, key: str, body: bytes) -> RequestError:
    with pytest.raises(RequestError) as caught:
        await world.inbound.accept(InboundRequest(f"Bearer {key}", "application/json", body, None))
    assert caught.value.status == 400, caught.value
    assert not world.events.rows and not world.bus.sent
    return caught.value


async def test_hostile_inbound_bodies_get_400_and_store_nothing() -> None:
    world = World()
    _, key = await world.integration()
    digits = b'{"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": '
    await push_raw(world, key, digits + b"1" * 5000 + b"}]}}")
    await push_raw(world, key, b"[" * 5000 + b"]" * 5000)
    twice = (
        b'{"action": "order.update", "entityId": "ord_1", "data": {"status": "shipped"}, '
        b'"action": "order.create"}'
    )
    error = await push_raw(world, key, twice)
    assert paths(error) == ["action"]
    await push_raw(world, key, b'{"action": "inventory.set", "data": {"items": NaN}}')


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"items": [{"sku": "CHAIR\x00", "quantity": 1}]}, "data.items[0].sku"),
        ({"items": [{"sku": "A\nB", "quantity": 1}]}, "data.items[0].sku"),
        (
            {"items": [{"sku": "A", "quantity": 1, "warehouseId": "wh\t1"}]},
            "data.items[0].warehouseId",
        ),
        ({"items": [{"sku": "A\u202eB", "quantity": 1}]}, "data.items[0].sku"),
        ({"items": [{"sku": "A\u200bB", "quantity": 1}]}, "data.items[0].sku"),
    ],
)
def test_control_characters_in_stock_identifiers_are_refused(
    document: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_inbound({"action": "inventory.set", "data": document}, max_items=10)
    assert paths(caught.value) == [path]
    assert "control or invisible characters" in caught.value.details[0].message


def test_control_characters_in_order_customer_and_entity_ids_are_refused() -> None:
    order = {
        "externalId": "ERP-1\r\nX-Injected: 1",
        "customer": {"email": "anna\x00@example.com"},
        "lineItems": [{"sku": "A", "quantity": 1, "unitPrice": 100}],
    }
    with pytest.raises(ValidationFailed) as caught:
        validate_inbound({"action": "order.create", "data": order}, max_items=10)
    assert set(paths(caught.value)) == {"data.externalId", "data.customer.email"}
    for entity_id in ["ord_1\x00", "..", "ord\u2028"]:
        update = {"action": "order.update", "entityId": entity_id, "data": {"status": "shipped"}}
        with pytest.raises(ValidationFailed) as caught:
            validate_inbound(update, max_items=10)
        assert paths(caught.value) == ["entityId"]


def test_ordinary_identifiers_still_pass() -> None:
    items = [
        {"sku": "CHAIR UNO/BLK #2", "quantity": 1, "warehouseId": "wh-01"},
        {"sku": "STOL-ÅSA.v2", "quantity": 2},
    ]
    validated = validate_inbound({"action": "inventory.set", "data": {"items": items}}, 10)
    assert [item.sku for item in validated.data.items] == ["CHAIR UNO/BLK #2", "STOL-ÅSA.v2"]  # type: ignore[attr-defined]


def test_check_body_uses_the_strict_reader() -> None:
    with pytest.raises(ValidationFailed):
        check_body(b'{"a": 1, "a": 2}', "application/json", 100)
