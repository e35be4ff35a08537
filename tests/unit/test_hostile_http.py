"""Hostile requests through the HTTP layer (`http_api.serve`, on fakes): each gets a
4xx with a sentence, never a 500 and never a 503 from a key storage refuses."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import http_api
from shared.api.http_api import ApiRequest, ApiResponse
from tests.unit.fakes import World, unit_settings

ADMIN = "admin-secret"
EVENT_ID = "0190a4f2-3c1d-7abc-8def-0123456789ab"


@pytest.fixture
async def world() -> World:
    return World(settings=unit_settings(MANAGEMENT_TOKEN=ADMIN))


async def send(
    world: World, method: str, template: str, body: bytes = b"", **params: str
) -> ApiResponse:
    headers = {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"}
    return await http_api.serve(world.services, template, ApiRequest(method, headers, body, params))


def refused(answer: ApiResponse, status: int = 400) -> dict[str, Any]:
    assert answer.status == status, answer.body
    body: dict[str, Any] = answer.body
    assert body["message"], body
    return body


async def test_a_filter_naming_a_path_instead_of_an_integration_is_400(world: World) -> None:
    for template in ("v1/integrations/events/filter", "v1/integrations/events/counts"):
        body = refused(await send(world, "POST", template, b'{"integrationId": "../../etc"}'))
        assert [d["path"] for d in body["details"]] == ["integrationId"]


async def test_a_bulk_retry_of_nulls_is_400(world: World) -> None:
    integration, _ = await world.integration()
    answer = await send(
        world, "POST", "v1/integrations/{id}/events/retry", b"[null, null]", id=integration.id
    )
    assert "must be a JSON object" in refused(answer)["message"]


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"7", b"null", b"[null, null]"])
async def test_management_bodies_that_are_not_objects_are_400(world: World, body: bytes) -> None:
    integration, _ = await world.integration()
    for method, template in [
        ("POST", "v1/integrations"),
        ("PATCH", "v1/integrations/{id}"),
        ("POST", "v1/integrations/events/filter"),
        ("POST", "v1/integrations/events/counts"),
        ("POST", "v1/integrations/{id}/events/retry"),
    ]:
        answer = await send(world, method, template, body, id=integration.id)
        assert "must be a JSON object" in refused(answer)["message"], template


@pytest.mark.parametrize("bad", ["..", "a/b", "int_1\x00", "a#b", "x" * 300])
async def test_malformed_ids_in_routes_are_404(world: World, bad: str) -> None:
    integration, _ = await world.integration()
    for method, template, params in [
        ("GET", "v1/integrations/{id}", {"id": bad}),
        ("GET", "v1/integrations/{id}/audit", {"id": bad}),
        ("GET", "v1/integrations/{id}/events/{eventId}", {"id": bad, "eventId": EVENT_ID}),
        ("GET", "v1/integrations/{id}/events/{eventId}", {"id": integration.id, "eventId": bad}),
        (
            "POST",
            "v1/integrations/{id}/events/{eventId}/retry",
            {"id": integration.id, "eventId": bad},
        ),
        ("GET", "v1/integrations/{id}/jobs/{jobId}", {"id": integration.id, "jobId": bad}),
        ("POST", "v1/integrations/{id}/jobs/{jobId}/cancel", {"id": bad, "jobId": "job_1"}),
    ]:
        answer = await send(world, method, template, b"", **params)
        refused(answer, 404)


HOSTILE_BODIES = {
    "a key twice": b'{"integrationId": "int_1", "status": "failed", "status": "queued"}',
    "thousands of digits": b'{"integrationId": "int_1", "limit": ' + b"9" * 5000 + b"}",
    "thousands of levels": b'{"integrationId": "int_1", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "NaN": b'{"integrationId": "int_1", "limit": NaN}',
    "not UTF-8": b'{"integrationId": "int_\xff"}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
async def test_management_bodies_are_read_strictly(world: World, name: str) -> None:
    integration, _ = await world.integration()
    for method, template in [
        ("POST", "v1/integrations"),
        ("PATCH", "v1/integrations/{id}"),
        ("POST", "v1/integrations/events/filter"),
        ("POST", "v1/integrations/events/counts"),
        ("POST", "v1/integrations/{id}/events/retry"),
    ]:
        answer = await send(world, method, template, HOSTILE_BODIES[name], id=integration.id)
        assert refused(answer)["error"] == "validation_failed", template
    assert not world.jobs.jobs
