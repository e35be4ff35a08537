"""Properties: whatever bytes arrive, reading and validating them either succeeds or
raises one of the product's request errors (a 4xx), never anything else (a 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actions import SUPPORTED_ACTIONS
from shared.domain.errors import RequestError, ValidationFailed
from shared.services.json_input import MAX_DEPTH, read_json
from shared.services.validation import check_body, validate_inbound

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Small, fixed budgets and no example database: the same run everywhere, no files.
budget = settings(max_examples=300, deadline=None, database=None)

# Pieces JSON is made of, and the pieces that break parsers, shuffled together.
TOKENS = [
    b"{", b"}", b"[", b"]", b'"', b"\\", b":", b",", b" ", b"\n", b"0", b"1", b"-", b"+",
    b"e", b".", b"true", b"null", b"NaN", b"Infinity", b'"a"', b'"action"', b"\\u0000",
    b"\\ud800", b"\\udc00", b"\\u", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"9" * 30,
    b'"inventory.set"', b'"data"', b'"items"', b'"sku"', b"\x00",
]  # fmt: skip
json_ish = st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)
# Bodies shaped like the inbound envelope, with anything in its fields.
envelopes = st.fixed_dictionaries(
    {"action": st.sampled_from(SUPPORTED_ACTIONS) | st.text(max_size=10), "data": documents},
    optional={"entityId": documents, "extra": documents},
)


def read_or_refuse(body: bytes) -> Any:
    try:
        return read_json(body)
    except ValidationFailed as refused:
        assert refused.status == 400 and refused.message and refused.details
        return refused


@budget
@given(body=st.binary(max_size=200))
def test_random_bytes_are_read_or_refused(body: bytes) -> None:
    read_or_refuse(body)


@budget
@given(body=json_ish)
def test_json_ish_bytes_are_read_or_refused(body: bytes) -> None:
    read_or_refuse(body)


@budget
@given(document=documents)
def test_documents_within_the_limits_read_back_as_written(document: Any) -> None:
    body = json.dumps(document).encode()
    found = read_or_refuse(body)
    if not isinstance(found, ValidationFailed):
        assert found == json.loads(body)


@budget
@given(depth=st.integers(min_value=0, max_value=3 * MAX_DEPTH), open_=st.sampled_from("[{"))
def test_nesting_is_read_up_to_the_limit_and_refused_beyond(depth: int, open_: str) -> None:
    opening, closing = ("[", "]") if open_ == "[" else ('{"k":', "}")
    body = (opening * depth + "0" + closing * depth).encode()
    found = read_or_refuse(body)
    assert isinstance(found, ValidationFailed) == (depth > MAX_DEPTH)


def accept(body: bytes) -> None:
    """The inbound path up to the event: read, then validate."""
    try:
        validate_inbound(check_body(body, "application/json", 1_000_000), max_items=1000)
    except RequestError as refused:
        assert 400 <= refused.status < 500


@budget
@given(document=envelopes)
def test_any_envelope_is_validated_or_refused(document: dict[str, Any]) -> None:
    accept(json.dumps(document).encode())


@budget
@given(body=json_ish)
def test_json_ish_bodies_are_validated_or_refused(body: bytes) -> None:
    accept(body)
