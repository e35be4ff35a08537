"""The OpenAPI document stays true: it is what scripts/build_openapi.py writes, valid
OpenAPI 3.1, describes exactly the routes function_app declares, and every example in
it validates against its schema (the inbound ones are also accepted by the API's own
validation and are the reference document's bodies, verbatim)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from actions import ACTIONS
from scripts import build_openapi
from shared.api.routes import ROUTES
from shared.services.queries import EventFilter
from shared.services.validation import validate_inbound
from tests.unit.conftest import HttpFunction

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "shared" / "api" / "web" / "openapi.json"
REFERENCE = ROOT.parent / "shared" / "reference" / "custom-inbound-api.txt"
DOC_URI = "urn:integrations-api:openapi"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def load_document() -> dict[str, Any]:
    return dict(json.loads(DOCUMENT.read_text()))


def validator_for(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A validator of the schema at `pointer` inside the document ($refs resolve in it)."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"}, registry=registry, format_checker=FormatChecker()
    )


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def examples_in(node: Any, pointer: str = "") -> Iterator[tuple[str, str, Any]]:
    """(where, schema pointer, example value) for every example next to a schema: media
    types' `examples`/`example` and parameters' `example`."""
    if isinstance(node, dict):
        if "schema" in node:
            schema_at = f"{pointer}/schema"
            for name, item in (node.get("examples") or {}).items():
                yield f"{pointer}/examples/{escape(name)}", schema_at, item["value"]
            if "example" in node:
                yield f"{pointer}/example", schema_at, node["example"]
        for key, value in node.items():
            yield from examples_in(value, f"{pointer}/{escape(str(key))}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from examples_in(value, f"{pointer}/{index}")


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


@pytest.fixture(scope="module")
def declared_routes(http_functions: list[HttpFunction]) -> set[tuple[str, str]]:
    """(path, method) of every HTTP function in function_app.py."""
    return {
        ("/" + function.route, method.lower())
        for function in http_functions
        for method in function.methods
    }


def test_the_committed_document_is_what_the_script_writes() -> None:
    assert DOCUMENT.read_text() == build_openapi.render(), (
        "shared/api/web/openapi.json is out of date: run `python -m scripts.build_openapi`"
    )


def test_the_document_is_valid_openapi_3_1() -> None:
    document = load_document()
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_documented_route_is_declared_and_every_declared_route_documented(
    declared_routes: set[tuple[str, str]],
) -> None:
    documented = {(path, method) for path, method, _ in operations(load_document())}
    assert documented - declared_routes == set(), "documented but not declared"
    assert declared_routes - documented == set(), "declared but not documented"


def test_every_operation_says_who_may_call_it() -> None:
    for path, method, operation in operations(load_document()):
        where = f"{method.upper()} {path}"
        security = operation.get("security")
        assert security is not None, where
        if path.startswith("/integrations/custom/"):
            assert security == [{"integrationApiKey": []}], where
        elif security == [{}]:
            assert path in {"/health", "/dashboard", "/dashboard/{file}", "/openapi.json"}, where
        else:
            assert security == [{"managementToken": []}], where
            role = operation["x-required-role"]
            assert f"Role: **{role}**" in operation["description"], where
            assert {"401", "403"} <= set(operation["responses"]), where


def test_every_error_response_has_the_error_shape() -> None:
    document = load_document()
    for name, response in document["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name
    error = document["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "message", "details"}
    problem = document["components"]["schemas"]["FieldProblem"]
    assert set(problem["properties"]) == {"path", "message"}


def test_every_example_validates_against_its_schema() -> None:
    document = load_document()
    found = list(examples_in(document))
    assert len(found) > 40
    for where, schema_at, value in found:
        errors = list(validator_for(document, schema_at).iter_errors(value))
        assert not errors, f"{where}: {[e.message for e in errors]}"


def test_the_schemas_reject_what_the_api_rejects() -> None:
    """A sample of bad bodies, to show the validation above is not vacuous."""
    document = load_document()
    inbound = validator_for(document, "/components/schemas/InboundRequest")
    assert not inbound.is_valid({"action": "stock.set", "data": {}})
    assert not inbound.is_valid({"action": "order.update", "data": {"status": "shipped"}})
    bad_quantity = {"action": "inventory.set", "data": {"items": [{"sku": "A", "quantity": 4.5}]}}
    assert not inbound.is_valid(bad_quantity)
    typo = {"action": "price.set", "data": {"items": [{"sku": "A", "sellingprice": 1}]}}
    assert not inbound.is_valid(typo)
    error = validator_for(document, "/components/schemas/Error")
    assert not error.is_valid({"message": "no code"})


def inbound_examples(document: dict[str, Any]) -> dict[str, Any]:
    operation = document["paths"]["/integrations/custom/inbound"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    return {name: item["value"] for name, item in examples.items()}


def test_one_inbound_example_per_action_each_accepted_by_the_api_validation() -> None:
    examples = inbound_examples(load_document())
    assert set(examples) == set(ACTIONS)
    for name, body in examples.items():
        assert body["action"] == name
        validated = validate_inbound(body, max_items=1000)
        assert validated.action.name == name


def reference_bodies(text: str) -> list[dict[str, Any]]:
    """Every complete JSON request body with an `action` in the reference text."""
    decoder, bodies = json.JSONDecoder(), []
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "action" in value and isinstance(value.get("data"), dict):
            bodies.append(value)
    return bodies


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference documents are not beside")
def test_the_inbound_examples_are_the_reference_documents_bodies_verbatim() -> None:
    reference = {body["action"]: body for body in reference_bodies(REFERENCE.read_text())}
    assert set(reference) == set(ACTIONS)
    assert inbound_examples(load_document()) == reference


# The model each route validates its body with, from the route table; the bulk
# retry's body is an EventFilter whose integration comes from the path.
MODELS: dict[str, type[BaseModel]] = {
    route.operation_id: route.body.schema
    for route in ROUTES
    if route.body and not isinstance(route.body.schema, str)
} | {"retryEvents": EventFilter}


def test_every_management_request_example_is_accepted_by_its_model() -> None:
    seen = set()
    for _, _, operation in operations(load_document()):
        body = operation.get("requestBody")
        if not body or operation["operationId"] == "pushEvent":
            continue
        model = MODELS[operation["operationId"]]
        for item in body["content"]["application/json"]["examples"].values():
            value = dict(item["value"])
            if operation["operationId"] == "retryEvents":
                value["integrationId"] = "int_from_the_path"  # as start_bulk adds it
            model.model_validate(value)
        seen.add(operation["operationId"])
    assert seen == set(MODELS)
