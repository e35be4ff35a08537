"""The running API against its own OpenAPI document: schemathesis generates requests for
every operation the served `/openapi.json` describes, valid ones and ones that break the
schema, and sends each with the credential the operation takes (every management route
with an admin, an operator and a reader token; the integration routes with an
integration's key; the public routes with none). Every answer must be no server error
(503 included: storage is up, so an outage answer is a bug here), a documented status,
a documented content type and, for JSON, a body the documented schema accepts.

The budget is fixed and the generation seeded, so a run tries the same requests
everywhere; what was sent and answered is printed at the end of the session
(tests/fuzz/conftest.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN, OPERATOR, READER, Stack

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import APIOperation, Case, GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Cases per operation, credential and generation mode (valid, then schema-breaking); a
# token below the operation's role only ever gets 403, so a few cases show that.
EXAMPLES, REFUSED_EXAMPLES = 25, 5
# An erasure reads every event of every integration (it is for the rare request of a
# person, see docs/privacy.md): on the suite's shared stack each one takes seconds, so it
# gets a few cases and the time a full scan takes, not the budget of a point read.
FULL_SCANS = {"erasePersonalData"}
FULL_SCAN_EXAMPLES, FULL_SCAN_SECONDS = 3, 180
SECONDS = 30
# Seeded per run (operation, credential, mode), so CI tries the same requests every time
# while each token gets requests of its own; no shrinking (a failure is reported with the
# request that caused it), so the run's length is bounded.
BUDGET = settings(
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    # Generating whole requests is slow and filters a lot by design.
    suppress_health_check=list(HealthCheck),
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MANAGEMENT, API_KEY = "managementToken", "integrationApiKey"
TOKENS = {"admin": ADMIN, "operator": OPERATOR, "reader": READER}
RANKS = {"reader": 0, "operator": 1, "admin": 2}
CONFIG = {
    # The test sends each operation's credential itself: left to generate the security
    # parameters, schemathesis would mostly drop or garble the token in schema-breaking
    # requests, and test 401s (documented, and covered in tests/e2e) instead of the route.
    "generation": {"with-security-parameters": False},
    # The failures name the request as sent, tokens included: these are the test's own.
    "output": {"sanitization": {"enabled": False}},
}


@dataclass
class Run:
    """What one operation with one credential was sent and answered."""

    operation: str
    credential: str
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    unbreakable: bool = False  # no schema-breaking request exists for the operation


Operation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Any]
RUNS: list[Run] = []  # read by the session's summary (tests/fuzz/conftest.py)


@pytest.fixture(scope="module")
def api_schema(stack: Stack) -> Any:
    config = schemathesis.Config.from_dict(CONFIG)
    return schemathesis.openapi.from_url(stack.api + "/openapi.json", config=config)


@dataclass(frozen=True)
class World:
    """Ids that exist, so that generated requests reach past the 404s too: an integration
    the management routes may change (rename, disable, regenerate its key), its events
    and a job; and another integration whose key the inbound routes use."""

    path_values: dict[str, str]
    key: str


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    managed = stack.new_integration("Fuzzed by management routes")
    sending = stack.new_integration("Fuzzed inbound")
    good = {
        "action": "inventory.set",
        "data": {"items": [{"sku": "FUZZ-1", "quantity": 1, "warehouseId": "w"}]},
    }
    event_id = stack.push(managed["apiKey"], good).json()["messageId"]
    message_id = stack.push(sending["apiKey"], good).json()["messageId"]
    stack.wait_for(managed["id"], event_id, ("success", "failed"))
    job = stack.admin("POST", f"/v1/integrations/{managed['id']}/events/retry", json={})
    assert job.status_code == 202, job.text
    values = {
        "id": managed["id"],
        "eventId": event_id,
        "jobId": job.json()["id"],
        "messageId": message_id,
    }
    return World(values, sending["apiKey"])


def schemes(operation: Operation) -> set[str]:
    return {name for need in operation.definition.raw.get("security", []) for name in need}


def credentials(operation: Operation, world: World) -> Iterator[tuple[str, str | None]]:
    """The credentials an operation takes: another route's credential is a 401 by
    design, so sending it would only repeat that."""
    found = schemes(operation)
    if MANAGEMENT in found:
        yield from TOKENS.items()
    elif API_KEY in found:
        yield "integration key", world.key
    else:
        yield "none", None


def cases(operation: Operation, mode: GenerationMode, world: World) -> st.SearchStrategy[AnyCase]:
    """Generated cases; where the path has parameters, half of them name ids that exist
    (all of them, or one, the others generated)."""
    generated = operation.as_strategy(generation_mode=mode)
    names = {parameter.name for parameter in operation.path_parameters}
    known = {name: value for name, value in world.path_values.items() if name in names}
    if not known:
        return generated
    choices = [known] + ([{name: value} for name, value in known.items()] if len(known) > 1 else [])
    existing = [operation.as_strategy(generation_mode=mode, path_parameters=c) for c in choices]
    return generated | st.one_of(existing)


def breakable(operation: Operation) -> bool:
    """Whether a request can break the schema: it has a body or a query, or a path or
    header value constrained beyond "any text" (an empty path segment cannot be sent,
    and the token is the test's). Otherwise only valid requests are generated."""
    if operation.body or list(operation.query):
        return True
    values = [*operation.path_parameters, *operation.headers]
    return any(
        set(value.definition.get("schema", {})) - {"type", "minLength"}
        for value in values
        if value.name.lower() != "authorization"
    )


def budget(operation: Operation, credential: str) -> int:
    role = operation.definition.raw.get("x-required-role")
    refused = role is not None and RANKS[credential] < RANKS[role]
    if refused:
        return REFUSED_EXAMPLES
    if operation.definition.raw.get("operationId") in FULL_SCANS:
        return FULL_SCAN_EXAMPLES
    return EXAMPLES


def fuzz(
    stack: Stack, operation: Operation, credential: str, token: str | None, world: World
) -> None:
    run = Run(operation.label, credential)
    RUNS.append(run)
    session = requests.Session()
    modes = [GenerationMode.POSITIVE]
    if breakable(operation):
        modes.append(GenerationMode.NEGATIVE)
    else:
        run.unbreakable = True
    for mode in modes:

        @seed(f"{operation.label} {credential} {mode.value}")
        @settings(BUDGET, max_examples=budget(operation, credential))
        @given(case=cases(operation, mode, world))
        def send(case: AnyCase) -> None:
            if token is not None:
                case.headers["Authorization"] = f"Bearer {token}"
            run.cases += 1
            seconds = (
                FULL_SCAN_SECONDS
                if operation.definition.raw.get("operationId") in FULL_SCANS
                else SECONDS
            )
            response = case.call(base_url=stack.api, session=session, timeout=seconds)
            run.statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        sent = run.cases
        try:
            send()
        except Unsatisfiable as failure:
            # No request breaking the schema can be sent (only path strings, which any
            # text fits, and no body; or nothing at all): only then, before any went out.
            if mode is GenerationMode.NEGATIVE and run.cases == sent:
                run.unbreakable = True
            else:
                run.failures.append(f"{mode.value}: {failure}")
        # Schemathesis raises its findings as an exception group; every operation runs
        # and the failures are listed at the end.
        except (Exception, BaseExceptionGroup) as failure:
            run.failures.append(f"{mode.value}: {failure}")
    session.close()


def test_every_operation_answers_as_documented(stack: Stack, api_schema: Any, world: World) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert operations, "the served document describes no operation"
    for operation in operations:
        for credential, token in credentials(operation, world):
            fuzz(stack, operation, credential, token, world)
    failures = [
        f"{run.operation} as {run.credential}: {text}" for run in RUNS for text in run.failures
    ]
    assert not failures, "\n\n".join(failures)
