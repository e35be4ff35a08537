"""The route table is the one account of the API: function_app.py declares exactly its
routes, each function hands its own template to the table, and every management route
refuses a token below its role (and one that is missing or unknown) before its handler
runs."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from shared.api import http_api
from shared.api.http_api import ApiRequest, ApiResponse
from shared.api.routes import BY_TEMPLATE, ROUTES, Access, Route
from shared.domain.models import Role
from tests.unit.conftest import HttpFunction
from tests.unit.fakes import World, unit_settings

TOKENS = {Role.READER: "reader-secret", Role.OPERATOR: "operator-secret", Role.ADMIN: "admin-s"}
SETTINGS = {
    "READER_TOKEN": TOKENS[Role.READER],
    "OPERATOR_TOKEN": TOKENS[Role.OPERATOR],
    "MANAGEMENT_TOKEN": TOKENS[Role.ADMIN],
}
ROLES = [Role.READER, Role.OPERATOR, Role.ADMIN]
SETTING_ADMIN = "admin (MANAGEMENT_TOKEN setting)"


def test_function_app_declares_exactly_the_tables_routes(
    http_functions: list[HttpFunction],
) -> None:
    declared = {(m, f.route) for f in http_functions for m in f.methods}
    assert declared == set(BY_TEMPLATE)
    assert len(BY_TEMPLATE) == len(ROUTES), "a (method, path) is in the table twice"


async def test_each_function_serves_the_route_it_is_declared_with(
    http_functions: list[HttpFunction], monkeypatch: pytest.MonkeyPatch
) -> None:
    import function_app

    served: list[str] = []

    async def record(services: Any, template: str, request: ApiRequest) -> ApiResponse:
        served.append(template)
        return ApiResponse(204, b"")

    monkeypatch.setattr(http_api, "serve", record)
    monkeypatch.setattr(function_app, "container", lambda: None)
    for function in http_functions:
        method = sorted(function.methods)[0]
        await function.user_function(func.HttpRequest(method, "http://host/x", body=b""))
        assert served.pop() == function.route, function.user_function.__name__


def _call(route: Route, token: str | None) -> ApiRequest:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    params = {
        "id": "int_0000000000000000",
        "eventId": "e",
        "jobId": "j",
        "file": "x",
        "tokenId": "tok_0000000000000000",
    }
    return ApiRequest(route.method, headers, b"", params)


MANAGEMENT = [route for route in ROUTES if route.access is Access.MANAGEMENT]


@pytest.mark.parametrize("route", MANAGEMENT, ids=lambda route: route.operation_id)
async def test_every_management_route_refuses_every_role_below_its_own(route: Route) -> None:
    world = World(settings=unit_settings(**SETTINGS))
    assert route.role is not None and 401 in route.documented_errors
    for role in ROLES:
        answer = await http_api.serve(world.services, route.path, _call(route, TOKENS[role]))
        if role.allows(route.role):
            assert answer.status not in (401, 403), (role, answer.body)
        else:
            assert answer.status == 403, (role, answer.body)
            assert f"needs the {route.role.value} role" in answer.body["message"]
    for token in (None, "not-a-token"):
        answer = await http_api.serve(world.services, route.path, _call(route, token))
        assert answer.status == 401, answer.body


# Queries sent as POST because their filters are bodies: they change nothing.
READ_ONLY_POSTS = {"filterEvents", "countEvents", "eventFlow"}


def test_every_route_that_changes_something_needs_more_than_reading() -> None:
    for route in MANAGEMENT:
        if route.method != "GET" and route.operation_id not in READ_ONLY_POSTS:
            assert route.role in (Role.OPERATOR, Role.ADMIN), route.operation_id


# --- the audit trail, through the routes ---------------------------------------------------
async def _ask(
    world: World, template: str, method: str, params: dict[str, str], **extra: Any
) -> ApiResponse:
    headers = {"authorization": f"Bearer {TOKENS[Role.ADMIN]}", **extra.pop("headers", {})}
    request = ApiRequest(method, headers, extra.pop("body", b""), params, extra.pop("query", {}))
    return await http_api.serve(world.services, template, request)


async def test_the_audit_route_pages_newest_first_and_names_who_and_from_where() -> None:
    world = World(settings=unit_settings(**SETTINGS))
    created = await _ask(
        world,
        "v1/integrations",
        "POST",
        {},
        body=b'{"service": "custom", "name": "ERP"}',
        headers={
            "content-type": "application/json",
            "x-actor": "Ada",
            # the client's own claim first, then the entry Azure's front end appends
            "x-forwarded-for": "192.0.2.1, [2001:db8::7]:51234",
        },
    )
    assert created.status == 201, created.body
    integration = {"id": created.body["id"]}
    for n in range(4):
        world.clock.advance(1)
        changed = await _ask(
            world,
            "v1/integrations/{id}",
            "PATCH",
            integration,
            body=f'{{"name": "ERP {n}"}}'.encode(),
            headers={"x-forwarded-for": "203.0.113.9:443"},
        )
        assert changed.status == 200, changed.body

    pages: list[list[dict[str, Any]]] = []
    token: str | None = None
    while True:
        query = {"limit": "2"} | ({"continuationToken": token} if token else {})
        answer = await _ask(world, "v1/integrations/{id}/audit", "GET", integration, query=query)
        assert answer.status == 200, answer.body
        pages.append(answer.body["entries"])
        token = answer.body["continuationToken"]
        if token is None:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    entries = [entry for page in pages for entry in page]
    assert [e["after"]["name"] for e in entries] == ["ERP 3", "ERP 2", "ERP 1", "ERP 0", "ERP"]
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    newest, first = entries[0], entries[-1]
    assert (newest["action"], newest["actor"], newest["role"], newest["address"]) == (
        "integration.changed",
        SETTING_ADMIN,
        "admin",
        "203.0.113.9",
    )
    assert newest["before"] == {"name": "ERP 2"} and newest["eventIds"] == []
    # the identity, never the name a request typed in X-Actor
    assert (first["action"], first["actor"], first["address"]) == (
        "integration.created",
        SETTING_ADMIN,
        "2001:db8::7",
    )
    assert set(first) == {
        "at", "actor", "role", "address", "action", "before", "after", "eventIds", "jobId"
    }  # fmt: skip
    assert created.body["apiKey"] not in json.dumps(entries)

    default = await _ask(world, "v1/integrations/{id}/audit", "GET", integration)
    assert len(default.body["entries"]) == 5 and default.body["continuationToken"] is None


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"limit": "0"}, "limit must be a whole number from 1 to 200"),
        ({"limit": "500"}, "limit must be a whole number from 1 to 200"),
        ({"limit": "many"}, "limit must be a whole number from 1 to 200"),
        ({"continuationToken": "not-ours"}, "continuationToken is not one this API issued"),
    ],
)
async def test_a_malformed_limit_or_token_is_a_400_with_a_sentence(
    query: dict[str, str], words: str
) -> None:
    world = World(settings=unit_settings(**SETTINGS))
    integration, _ = await world.integration()
    answer = await _ask(
        world, "v1/integrations/{id}/audit", "GET", {"id": integration.id}, query=query
    )
    assert answer.status == 400, answer.body
    assert answer.body["error"] == "validation_failed" and words in answer.body["message"]
    route = BY_TEMPLATE[("GET", "v1/integrations/{id}/audit")]
    assert 400 in route.documented_errors
