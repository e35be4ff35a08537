"""Inbound validation: the contract's examples pass; every mistake gets a 4xx a person
can act on, with per-field paths."""

from __future__ import annotations

import json

import pytest

from actions import SUPPORTED_ACTIONS
from actions.examples import REFERENCE_EXAMPLES
from shared.domain.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from shared.services.validation import check_body, validate_inbound

CONTRACT_EXAMPLES = REFERENCE_EXAMPLES


def test_the_contract_lists_exactly_the_supported_actions() -> None:
    assert set(CONTRACT_EXAMPLES) == set(SUPPORTED_ACTIONS)


@pytest.mark.parametrize("name", sorted(CONTRACT_EXAMPLES))
def test_every_contract_example_is_accepted(name: str) -> None:
    document = CONTRACT_EXAMPLES[name]
    body = json.dumps(document).encode()
    parsed = check_body(body, "application/json; charset=utf-8", 1_000_000)
    validated = validate_inbound(parsed, max_items=1000)
    assert validated.action.name == name
    assert validated.entity_id == document.get("entityId")
    assert validated.raw_data == document["data"]
    # The parsed data keeps what was sent (nothing silently dropped).
    assert validated.data.model_dump(exclude_none=True) == document["data"]


def problems(error: ValidationFailed) -> dict[str, str]:
    return {problem.path: problem.message for problem in error.details}


def test_each_bad_field_is_named_by_its_path() -> None:
    document = {
        "action": "inventory.set",
        "data": {
            "items": [
                {"sku": "A", "quantity": 1},
                {"sku": "B", "quantity": "many"},
                {"sku": "", "quantity": -1},
            ]
        },
    }
    with pytest.raises(ValidationFailed) as caught:
        validate_inbound(document, max_items=1000)
    found = problems(caught.value)
    assert set(found) == {"data.items[1].quantity", "data.items[2].sku", "data.items[2].quantity"}
    assert found["data.items[1].quantity"] == "must be a whole number"
    assert "3 problem(s)" in caught.value.message
    assert caught.value.status == 400
    body = caught.value.to_json()
    assert body["error"] == "validation_failed"
    assert {"path": "data.items[1].quantity", "message": "must be a whole number"} in body[
        "details"
    ]  # type: ignore[operator]


def test_nested_paths_inside_an_order() -> None:
    document = json.loads(json.dumps(CONTRACT_EXAMPLES["order.create"]))
    document["data"]["customer"]["email"] = "not-an-address"
    document["data"]["lineItems"].append({"sku": "X", "quantity": 0, "unitPrice": 1})
    with pytest.raises(ValidationFailed) as caught:
        validate_inbound(document, max_items=1000)
    assert set(problems(caught.value)) == {"data.customer.email", "data.lineItems[1].quantity"}


def test_unknown_action_lists_the_supported_ones() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_inbound({"action": "stock.set", "data": {}}, max_items=10)
    assert "Unknown action 'stock.set'" in caught.value.message
    for name in SUPPORTED_ACTIONS:
        assert name in caught.value.message
    assert [p.path for p in caught.value.details] == ["action"]


def test_order_update_needs_an_entity_id() -> None:
    document = {"action": "order.update", "data": {"status": "shipped"}}
    with pytest.raises(ValidationFailed) as caught:
        validate_inbound(document, max_items=10)
    assert "needs 'entityId'" in caught.value.message
    assert problems(caught.value) == {"entityId": "is required for order.update"}
    # and with it, the same data passes
    assert validate_inbound({**document, "entityId": "ord_1"}, 10).entity_id == "ord_1"


def test_money_as_a_decimal_points_to_minor_units() -> None:
    document = json.loads(json.dumps(CONTRACT_EXAMPLES["price.set"]))
    document["data"]["items"][0]["sellingPrice"] = 49.90
    with pytest.raises(ValidationFailed) as caught:
        validate_inbound(document, max_items=10)
    message = problems(caught.value)["data.items[0].sellingPrice"]
    assert "minor units" in message and "4990" in message


def test_an_unknown_field_is_refused_with_its_value() -> None:
    document = json.loads(json.dumps(CONTRACT_EXAMPLES["inventory.set"]))
    document["data"]["items"][0]["qty"] = 5
    with pytest.raises(ValidationFailed) as caught:
        validate_inbound(document, max_items=10)
    message = problems(caught.value)["data.items[0].qty"]
    assert "not a known field" in message and "5" in message


def test_unknown_envelope_field_and_missing_data() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_inbound({"action": "inventory.set", "entity": "x"}, max_items=10)
    found = problems(caught.value)
    assert found["data"] == "is required"
    assert "not a known field" in found["entity"]


def test_a_body_that_is_not_an_object() -> None:
    with pytest.raises(ValidationFailed, match="JSON object"):
        validate_inbound([1, 2], max_items=10)


def test_too_many_items_is_413() -> None:
    items = [{"sku": f"S{n}", "quantity": n} for n in range(6)]
    document = {"action": "inventory.set", "data": {"items": items}}
    assert len(validate_inbound(document, max_items=6).raw_data["items"]) == 6
    with pytest.raises(PayloadTooLarge) as caught:
        validate_inbound(document, max_items=5)
    assert caught.value.status == 413
    assert "6 items" in caught.value.message and "limit is 5" in caught.value.message


def test_order_lines_count_as_items() -> None:
    document = json.loads(json.dumps(CONTRACT_EXAMPLES["order.create"]))
    document["data"]["lineItems"] *= 3
    with pytest.raises(PayloadTooLarge):
        validate_inbound(document, max_items=2)


def test_a_body_over_the_byte_limit_is_413() -> None:
    body = json.dumps(CONTRACT_EXAMPLES["inventory.set"]).encode()
    assert check_body(body, "application/json", len(body)) == CONTRACT_EXAMPLES["inventory.set"]
    with pytest.raises(PayloadTooLarge) as caught:
        check_body(body, "application/json", len(body) - 1)
    assert caught.value.status == 413


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_415(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        check_body(b"{}", content_type, 100)
    assert caught.value.status == 415
    assert "application/json" in caught.value.message


def test_json_suffix_media_types_are_json() -> None:
    assert check_body(b'{"a": 1}', "application/vnd.erp+json", 100) == {"a": 1}


@pytest.mark.parametrize("body", [b'{"action": "inventory.set",', b"\xff\xfe", b""])
def test_invalid_json_is_400(body: bytes) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_body(body, "application/json", 100)
    assert caught.value.status == 400
    assert "not valid JSON" in caught.value.message


def test_invalid_json_says_where() -> None:
    with pytest.raises(ValidationFailed, match="line 2, column"):
        check_body(b'{"a": 1,\n }', "application/json", 100)
