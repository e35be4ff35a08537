"""The route table is the one account of the API: function_app.py declares exactly its
routes, each function hands its own template to the table, and every management route
refuses a token below its role (and one that is missing or unknown) before its handler
runs."""

from __future__ import annotations

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
    params = {"id": "int_0000000000000000", "eventId": "e", "jobId": "j", "file": "x"}
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


def test_every_route_that_changes_something_needs_more_than_reading() -> None:
    for route in MANAGEMENT:
        if route.method != "GET" and route.operation_id not in ("filterEvents", "countEvents"):
            assert route.role in (Role.OPERATOR, Role.ADMIN), route.operation_id
