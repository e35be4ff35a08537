"""The running API serves its OpenAPI document, answers only with the statuses it
declares, in the shapes it declares, and enforces the roles it declares."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.api.routes import ROUTES, Access
from tests.conftest import ADMIN, OPERATOR, READER, Stack
from tests.unit.test_openapi import escape, load_document, operations, validator_for

pytestmark = pytest.mark.e2e
TOKENS = {"reader": READER, "operator": OPERATOR, "admin": ADMIN}
LOWER = {"operator": "reader", "admin": "operator"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_document()


def conforms(document: dict[str, Any], template: str, method: str, answer: httpx.Response) -> Any:
    """The answer's status is documented for the route and its JSON body fits the schema."""
    where = f"{method.upper()} {template} answered {answer.status_code}"
    responses = document["paths"][template][method]["responses"]
    declared = responses.get(str(answer.status_code))
    assert declared is not None, f"{where}, which is not documented: {answer.text[:300]}"
    pointer = f"/paths/{escape(template)}/{method}/responses/{answer.status_code}"
    if "$ref" in declared:
        pointer = declared["$ref"].removeprefix("#")
        declared = document["components"]["responses"][pointer.rsplit("/", 1)[1]]
    media = answer.headers.get("content-type", "").split(";")[0].strip()
    assert media in declared["content"], f"{where} as {media}"
    if media == "application/json":
        body = answer.json()
        schema_at = f"{pointer}/content/application~1json/schema"
        errors = [e.message for e in validator_for(document, schema_at).iter_errors(body)]
        assert not errors, f"{where}: {errors}"
        return body
    return answer.text


def test_the_document_is_served(stack: Stack, document: dict[str, Any]) -> None:
    answer = stack.http.get(stack.api + "/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == document


def test_live_answers_have_the_documented_statuses_and_shapes(
    stack: Stack, document: dict[str, Any]
) -> None:
    def check(template: str, method: str, answer: httpx.Response, status: int) -> Any:
        assert answer.status_code == status, answer.text
        return conforms(document, template, method, answer)

    one = "/v1/integrations/{id}"
    created = check(
        "/v1/integrations",
        "post",
        stack.admin(
            "POST", "/v1/integrations/", json={"service": "custom", "name": "OpenAPI walk"}
        ),
        201,
    )
    iid, key = created["id"], created["apiKey"]
    check("/v1/integrations", "get", stack.admin("GET", "/v1/integrations"), 200)
    check(one, "get", stack.admin("GET", f"/v1/integrations/{iid}"), 200)
    check(one, "patch", stack.admin("PATCH", f"/v1/integrations/{iid}", json={"name": "x"}), 200)
    check(one, "patch", stack.admin("PATCH", f"/v1/integrations/{iid}", json={"nme": "x"}), 400)
    check(one, "get", stack.admin("GET", "/v1/integrations/int_missing"), 404)

    inbound = "/integrations/custom/inbound"
    operation = document["paths"][inbound]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    ids = {}
    for name, item in examples.items():
        ids[name] = check(inbound, "post", stack.push(key, item["value"]), 202)["messageId"]
    check(inbound, "post", stack.push(key, {"action": "stock.set", "data": {}}), 400)
    check(inbound, "post", stack.push("avvyr_int_live_unknown", examples["price.set"]), 401)
    not_json = stack.http.post(
        stack.api + inbound, content=b"a=1", headers={"Authorization": f"Bearer {key}"}
    )
    check(inbound, "post", not_json, 415)

    detail = "/v1/integrations/{id}/events/{eventId}"
    for name, event_id in ids.items():
        stack.wait_for(iid, event_id, ("success", "failed"))
        body = check(
            detail, "get", stack.admin("GET", f"/v1/integrations/{iid}/events/{event_id}"), 200
        )
        assert body["attemptLog"], name
    check(detail, "get", stack.admin("GET", f"/v1/integrations/{iid}/events/nope"), 404)

    filtered = stack.admin("POST", "/v1/integrations/events/filter", json={"integrationId": iid})
    assert len(check("/v1/integrations/events/filter", "post", filtered, 200)["events"]) == 7
    counts = stack.admin("POST", "/v1/integrations/events/counts", json={"integrationId": iid})
    check("/v1/integrations/events/counts", "post", counts, 200)
    bad = stack.admin(
        "POST", "/v1/integrations/events/filter", json={"integrationId": iid, "limit": 0}
    )
    check("/v1/integrations/events/filter", "post", bad, 400)

    # order.update names an order the platform does not have: it fails for good.
    failed, succeeded = ids["order.update"], ids["price.set"]
    assert stack.event(iid, failed)["status"] == "failed"
    retry = "/v1/integrations/{id}/events/{eventId}/retry"
    check(retry, "post", stack.admin("POST", f"/v1/integrations/{iid}/events/{failed}/retry"), 202)
    stack.wait_for(iid, failed, ("failed",))
    conflict = stack.admin("POST", f"/v1/integrations/{iid}/events/{succeeded}/retry")
    check(retry, "post", conflict, 409)

    bulk = stack.admin("POST", f"/v1/integrations/{iid}/events/retry", json={"status": "failed"})
    job = check("/v1/integrations/{id}/events/retry", "post", bulk, 202)
    job_path = f"/v1/integrations/{iid}/jobs/{job['id']}"
    check("/v1/integrations/{id}/jobs/{jobId}", "get", stack.admin("GET", job_path), 200)
    cancel = stack.admin("POST", job_path + "/cancel")
    check("/v1/integrations/{id}/jobs/{jobId}/cancel", "post", cancel, 200)
    missing_job = stack.admin("GET", f"/v1/integrations/{iid}/jobs/job_missing")
    check("/v1/integrations/{id}/jobs/{jobId}", "get", missing_job, 404)

    trail = check(
        "/v1/integrations/{id}/audit",
        "get",
        stack.admin("GET", f"/v1/integrations/{iid}/audit"),
        200,
    )
    assert {entry["action"] for entry in trail["entries"]} >= {
        "event.resubmitted",
        "events.resubmitted",
    }
    # The local host passes the TCP peer on as X-Forwarded-For, as Azure's front end does.
    asked = [entry for entry in trail["entries"] if entry["role"] is not None]
    assert asked and {entry["address"] for entry in asked} <= {"127.0.0.1", "::1"}, asked
    first = check(
        "/v1/integrations/{id}/audit",
        "get",
        stack.admin("GET", f"/v1/integrations/{iid}/audit?limit=1"),
        200,
    )
    assert len(first["entries"]) == 1 and first["continuationToken"]
    bad = stack.admin("GET", f"/v1/integrations/{iid}/audit?limit=0")
    check("/v1/integrations/{id}/audit", "get", bad, 400)
    regenerated = stack.admin("POST", f"/v1/integrations/{iid}/regenerate-key")
    check("/v1/integrations/{id}/regenerate-key", "post", regenerated, 200)
    disabled = stack.admin("PATCH", f"/v1/integrations/{iid}", json={"enabled": False})
    check(one, "patch", disabled, 200)
    new_key = regenerated.json()["apiKey"]
    check(inbound, "post", stack.push(new_key, examples["price.set"]["value"]), 403)

    check("/health", "get", stack.http.get(stack.api + "/health"), 200)
    check("/dashboard", "get", stack.http.get(stack.api + "/dashboard"), 200)
    page_file = "/dashboard/{file}"
    check(page_file, "get", stack.http.get(stack.api + "/dashboard/dashboard.js"), 200)
    check(page_file, "get", stack.http.get(stack.api + "/dashboard/dashboard.html"), 404)
    check("/openapi.json", "get", stack.http.get(stack.api + "/openapi.json"), 200)


def fill(template: str) -> str:
    return (
        template.replace("{id}", "int_missing")
        .replace("{eventId}", "01968b49-ed00-7d41-9a2b-3c4d5e6f7a8b")
        .replace("{jobId}", "job_missing")
        .replace("{tokenId}", "tok_0000000000000000")
    )


def test_each_management_route_needs_the_role_it_declares(
    stack: Stack, document: dict[str, Any]
) -> None:
    """No token: 401; the role below the declared one: 403; the declared role gets past
    authorization (the ids do not exist, so mostly 404), always a documented status."""
    checked = 0
    for template, method, operation in operations(document):
        role = operation.get("x-required-role")
        if not role:
            continue
        body: dict[str, Any] | None = {} if "requestBody" in operation else None
        path = fill(template)
        calls = [(None, 401), (TOKENS[LOWER[role]], 403)] if role in LOWER else [(None, 401)]
        for token, status in calls:
            answer = stack.call(method.upper(), path, token, json=body)
            assert answer.status_code == status, f"{method} {template}: {answer.text}"
            conforms(document, template, method, answer)
        allowed = stack.call(method.upper(), path, TOKENS[role], json=body)
        assert allowed.status_code not in (401, 403), f"{method} {template}: {allowed.text}"
        conforms(document, template, method, allowed)
        checked += 1
    assert checked == sum(1 for route in ROUTES if route.access is Access.MANAGEMENT)
