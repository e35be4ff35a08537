"""Properties: whatever JSON a management request's body holds, it is read into the
request's model or refused with a 400 naming the fields, and the refusal is an answer
that can be sent; never anything else (a 500)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel

from shared.api.http_api import error_answer
from shared.domain.clock import epoch_ms
from shared.domain.errors import ValidationFailed
from shared.domain.flow import bucket_starts, granularity_for
from shared.services.flow import FlowRequest
from shared.services.management import CreateIntegration, PatchIntegration, parse_body
from shared.services.queries import CountsRequest, EventFilter

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# A fixed budget and no example database: the same size of run everywhere, no files.
budget = settings(max_examples=200, deadline=None, database=None)
MODELS: list[type[BaseModel]] = [
    CreateIntegration,
    PatchIntegration,
    EventFilter,
    CountsRequest,
    FlowRequest,
]


def field_names(model: type[BaseModel]) -> list[str]:
    return sorted(info.alias or name for name, info in model.model_fields.items())


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ZONES = [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12, minutes=30))]
NEAR_VALID = [
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "custom", "failed",
    "int_0123456789abcdef", "integration", "record", "", " ", "\x00", "../x",
]  # fmt: skip
# What json.loads gives (NaN and Infinity included), and values near the valid ones:
# times with and without zones, at the ends of the calendar, ids, statuses, big numbers.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.datetimes(timezones=st.none() | st.sampled_from(ZONES)).map(lambda t: t.isoformat())
    | st.sampled_from(NEAR_VALID)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[type[BaseModel], Any]:
    model = draw(st.sampled_from(MODELS))
    keys = st.sampled_from(field_names(model)) | st.text(max_size=8)
    document = draw(st.dictionaries(keys, values, max_size=6) | values)
    return model, document


# Valid bodies but for their times: any time of the calendar, in any zone, as text or
# as a number (pydantic reads numbers as seconds or milliseconds since 1970).
times = (
    st.datetimes(timezones=st.none() | st.sampled_from(ZONES)).map(lambda t: t.isoformat())
    | st.sampled_from(NEAR_VALID[:2])
    | st.integers(min_value=-(10**16), max_value=10**16)
)
BASES: dict[type[BaseModel], dict[str, Any]] = {
    EventFilter: {"integrationId": "int_0123456789abcdef"},
    CountsRequest: {"integrationId": "int_0123456789abcdef"},
    FlowRequest: {},
}


@st.composite
def windows(draw: st.DrawFn) -> tuple[type[BaseModel], Any]:
    model = draw(st.sampled_from(sorted(BASES, key=lambda m: m.__name__)))
    extra = draw(st.fixed_dictionaries({}, optional={"from": times, "to": times}))
    return model, BASES[model] | extra


@budget
@given(body=bodies() | windows())
def test_a_management_body_is_read_or_refused_with_its_fields(
    body: tuple[type[BaseModel], Any],
) -> None:
    model, document = body
    try:
        parsed = parse_body(model, document)
    except ValidationFailed as refused:
        assert refused.status == 400 and refused.message and refused.details
        assert all(problem.path and problem.message for problem in refused.details)
        answer = error_answer(refused)
        assert answer.status == 400
        json.loads(answer.json_bytes())
    else:
        assert isinstance(parsed, model)
        usable(parsed)


def usable(request: BaseModel) -> None:
    """What the services make of a request they read: its times as storage keys (ms
    since 1970, 13 digits at most) and a chart's window with its buckets; a window
    the other way round or too long is a 400."""
    if isinstance(request, EventFilter | CountsRequest):
        for moment in (request.from_, request.to):
            assert moment is None or 0 <= epoch_ms(moment) < 10**13
    if isinstance(request, FlowRequest):
        try:
            start, end = request.window(NOW)
        except ValidationFailed as refused:
            assert refused.status == 400 and refused.details
            return
        assert bucket_starts(start, end, granularity_for(start, end))
