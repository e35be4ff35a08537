"""Hostile input never reaches a 500 or a stored event: strict JSON, bounded in every
dimension, and identifiers of printable characters only."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from shared.domain.errors import NotFound, RequestError, TransientError, ValidationFailed
from shared.domain.jobs import BulkJob
from shared.domain.models import Integration
from shared.services.inbound import InboundRequest
from shared.services.json_input import (
    MAX_DEPTH,
    MAX_INTEGER_DIGITS,
    MAX_KEY_CHARS,
    MAX_STRING_CHARS,
    read_json,
)
from shared.services.validation import check_body, validate_inbound
from tests.unit.fakes import ADMIN, OPERATOR, FakeIntegrationStore, FakeJobStore, World

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


# --- management: malformed ids never reach storage; bodies must be objects -------------

# What Table Storage refuses in a key; the adapter turns the refusal into a
# TransientError, which the API answers as 503 "briefly unavailable".
TABLE_REFUSES = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


class TableLikeIntegrations(FakeIntegrationStore):
    async def get(self, integration_id: str) -> Integration | None:
        if TABLE_REFUSES.search(integration_id):
            raise TransientError("Storage is unavailable: HttpResponseError")
        return await super().get(integration_id)


class TableLikeJobs(FakeJobStore):
    async def get_job(self, integration_id: str, job_id: str) -> BulkJob | None:
        if TABLE_REFUSES.search(integration_id + job_id):
            raise TransientError("Storage is unavailable: HttpResponseError")
        return await super().get_job(integration_id, job_id)


@pytest.fixture
async def table_like() -> tuple[World, str]:
    world = World(integrations=TableLikeIntegrations(), jobs=TableLikeJobs())
    integration, _ = await world.integration()
    return world, integration.id


BAD_IDS = ["../../etc", "int_1/../x", "int_1\x00", "int_a#b", "", " ", "int_" + "a" * 200]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_a_malformed_integration_id_in_a_filter_is_400(
    table_like: tuple[World, str], bad: str
) -> None:
    world, _ = table_like
    for query in (world.queries.filter, world.queries.counts):
        with pytest.raises(ValidationFailed) as caught:
            await query({"integrationId": bad})
        assert paths(caught.value) == ["integrationId"]


@pytest.mark.parametrize("field", ["entityId", "action", "search"])
async def test_control_characters_in_filter_fields_are_400(
    table_like: tuple[World, str], field: str
) -> None:
    world, integration_id = table_like
    with pytest.raises(ValidationFailed) as caught:
        await world.queries.filter({"integrationId": integration_id, field: "A\x00B"})
    assert paths(caught.value) == [field]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_a_malformed_integration_id_in_a_route_is_404(
    table_like: tuple[World, str], bad: str
) -> None:
    world, _ = table_like
    event_id = "0190a4f2-3c1d-7abc-8def-0123456789ab"
    calls = [
        world.management.get(bad),
        world.management.patch(bad, {"enabled": False}, ADMIN),
        world.management.regenerate_key(bad, ADMIN),
        world.queries.detail(bad, event_id),
        world.resubmission.resubmit_one(bad, event_id, OPERATOR),
        world.resubmission.start_bulk(bad, {}, OPERATOR),
        world.resubmission.job(bad, "job_0123456789abcdef"),
        world.resubmission.cancel(bad, "job_0123456789abcdef", OPERATOR),
    ]
    for call in calls:
        with pytest.raises(NotFound) as caught:
            await call
        assert caught.value.status == 404 and "\x00" not in caught.value.message


@pytest.mark.parametrize(
    "bad", ["../x", "not-an-event", "0190A4F2-3C1D-7ABC-8DEF-0123456789AB", "a\x00"]
)
async def test_a_malformed_event_id_in_a_route_is_404(
    table_like: tuple[World, str], bad: str
) -> None:
    world, integration_id = table_like
    for call in (
        world.queries.detail(integration_id, bad),
        world.resubmission.resubmit_one(integration_id, bad, OPERATOR),
    ):
        with pytest.raises(NotFound):
            await call


@pytest.mark.parametrize("bad", ["../x", "job_1/2", "job_\x00", "job_a#b", "x"])
async def test_a_malformed_job_id_in_a_route_is_404(
    table_like: tuple[World, str], bad: str
) -> None:
    world, integration_id = table_like
    for call in (
        world.resubmission.job(integration_id, bad),
        world.resubmission.cancel(integration_id, bad, OPERATOR),
    ):
        with pytest.raises(NotFound):
            await call


NOT_OBJECTS: list[Any] = [[None, None], [], "failed", 7, 1.5, True, None]


@pytest.mark.parametrize("body", NOT_OBJECTS)
async def test_a_bulk_retry_body_that_is_not_an_object_is_400(
    table_like: tuple[World, str], body: Any
) -> None:
    world, integration_id = table_like
    with pytest.raises(ValidationFailed) as caught:
        await world.resubmission.start_bulk(integration_id, body, OPERATOR)
    assert "must be a JSON object" in caught.value.message
    assert paths(caught.value) == ["body"]
    assert not world.jobs.jobs


@pytest.mark.parametrize("body", NOT_OBJECTS)
async def test_management_bodies_that_are_not_objects_are_400(
    table_like: tuple[World, str], body: Any
) -> None:
    world, integration_id = table_like
    for call in (
        world.management.create(body, ADMIN),
        world.management.patch(integration_id, body, ADMIN),
        world.queries.filter(body),
        world.queries.counts(body),
    ):
        with pytest.raises(ValidationFailed) as caught:
            await call
        assert "must be a JSON object" in caught.value.message


async def test_well_formed_ids_still_read(table_like: tuple[World, str]) -> None:
    world, integration_id = table_like
    assert (await world.management.get(integration_id)).id == integration_id
    await world.queries.filter({"integrationId": f" {integration_id} "})
    with pytest.raises(NotFound, match="int_0123456789abcdef"):
        await world.queries.counts({"integrationId": "int_0123456789abcdef"})
