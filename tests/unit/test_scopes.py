"""A token limited to some integrations sees nothing of the others: not by id, not by
filter, count or chart, not in the list, jobs or trails, and it cannot act beyond them.
Every management route of the table is tried, so a new route is held to its scope."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.api import http_api
from shared.api.http_api import ApiRequest, ApiResponse
from shared.api.routes import ROUTES, Access, Route, Scope
from shared.domain.models import Role
from shared.services.auth import Caller
from tests.unit.fakes import World, unit_settings

ADMIN = Caller(Role.ADMIN, "admin (MANAGEMENT_TOKEN setting)")
MANAGEMENT = [route for route in ROUTES if route.access is Access.MANAGEMENT]


async def scoped_world() -> tuple[World, str, str, str]:
    """A world with two integrations and an admin token limited to the first."""
    world = World(settings=unit_settings(MANAGEMENT_TOKEN="first-admin"))
    mine, _ = await world.integration()
    theirs, _ = await world.integration()
    issued = await world.services.tokens.create(
        {"name": "wms-admin", "role": "admin", "integrationIds": [mine.id]}, ADMIN
    )
    return world, issued.secret, mine.id, theirs.id


async def call(world: World, route: Route, secret: str, integration_id: str) -> ApiResponse:
    params = {
        "id": integration_id,
        "eventId": "01968b49-ed00-7d41-9a2b-3c4d5e6f7a8b",
        "jobId": "job_5a1b2c3d4e5f6a7b",
        "tokenId": "tok_5a1b2c3d4e5f6a7b",
    }
    body: dict[str, Any] = {"integrationId": integration_id}
    if route.operation_id == "createIntegration":
        body = {"service": "custom", "name": "x"}
    elif route.operation_id == "createToken":
        body = {"name": "x", "role": "reader"}
    headers = {"authorization": f"Bearer {secret}", "content-type": "application/json"}
    request = ApiRequest(route.method, headers, json.dumps(body).encode(), params)
    return await http_api.serve(world.services, route.path, request)


@pytest.mark.parametrize("route", MANAGEMENT, ids=lambda route: route.operation_id)
async def test_a_scoped_token_is_refused_outside_its_integrations(route: Route) -> None:
    world, secret, mine, theirs = await scoped_world()
    outside = await call(world, route, secret, theirs)
    if route.scope in (Scope.PATH, Scope.BODY, Scope.EVERY_INTEGRATION):
        assert outside.status == 403, (route.operation_id, outside.body)
        inside = await call(world, route, secret, mine)
        if route.scope is Scope.EVERY_INTEGRATION:
            assert inside.status == 403
        else:
            assert inside.status not in (401, 403), (route.operation_id, inside.body)
    elif route.scope is Scope.LISTED:
        assert outside.status == 200
        assert [item["id"] for item in outside.body["integrations"]] == [mine]
    else:
        assert route.scope is Scope.CALLER
        assert outside.status == 200, outside.body
        if route.operation_id == "whoAmI":
            assert outside.body["integrationIds"] == [mine]


async def test_the_refusal_reads_the_same_for_an_integration_that_does_not_exist() -> None:
    world, secret, _, theirs = await scoped_world()
    route = next(route for route in ROUTES if route.operation_id == "getIntegration")
    existing = await call(world, route, secret, theirs)
    missing = await call(world, route, secret, "int_ffffffffffffffff")
    assert existing.status == missing.status == 403
    assert existing.body["message"].replace(theirs, "?") == missing.body["message"].replace(
        "int_ffffffffffffffff", "?"
    )


async def test_the_chart_of_every_integration_together_is_refused_to_a_scoped_token() -> None:
    world, secret, mine, _ = await scoped_world()
    route = next(route for route in ROUTES if route.operation_id == "eventFlow")
    headers = {"authorization": f"Bearer {secret}", "content-type": "application/json"}
    everything = await http_api.serve(
        world.services, route.path, ApiRequest("POST", headers, b"{}", {})
    )
    assert everything.status == 403
    assert (await call(world, route, secret, mine)).status == 200


def test_every_management_route_says_which_integration_it_touches() -> None:
    for route in MANAGEMENT:
        assert route.scope is not None, route.operation_id
        if route.scope is Scope.PATH:
            assert "{id}" in route.path, route.operation_id
        if route.scope is Scope.EVERY_INTEGRATION:
            assert route.doing, route.operation_id
