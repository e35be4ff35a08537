"""Property: no e-mail address in any input survives masking, wherever it sits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.domain.masking import mask, mask_email_text

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Words around the address never contain '@', so any address in the output came from it.
# No example database: the property runs the same everywhere and writes no files.
quick = settings(max_examples=100, deadline=None, database=None)
words = st.text(alphabet=st.sampled_from("abc XYZ,:;()<>[]\"'\n0123456789"), max_size=20)


def places(address: str, before: str, after: str) -> list[Any]:
    text = f"{before} {address} {after}"
    return [
        text,
        {"message": text},
        {"customer": {"email": address, "notes": [text]}},
        [{"items": [text, 1, None]}],
        {address: {"orders": 2}},  # maps keyed by e-mail, as bulk answers often are
    ]


@quick
@given(address=st.emails(), before=words, after=words)
def test_no_email_address_survives_masking(address: str, before: str, after: str) -> None:
    local = address.rpartition("@")[0]
    for value in places(address, before, after):
        masked = json.dumps(mask(value), ensure_ascii=False)
        assert "***@" in masked
        if len(local.lstrip("'`")) <= 1:
            # A one-character local part (after the quotes that may open an address)
            # keeps that character by design; with `*` it even reads as the address.
            continue
        assert address not in masked
        assert f"{local}@" not in masked
        assert f"{local}***@" not in masked


@quick
@given(address=st.emails())
def test_at_most_the_first_character_of_the_local_part_shows(address: str) -> None:
    local = address.rpartition("@")[0]
    masked = mask_email_text(f"To: <{address}>")
    assert masked.startswith("To: <") and "***@" in masked, masked
    shown = masked[len("To: <") : masked.index("***@")]
    # the first character, after any quotes that open the address (a local part made
    # of quote characters only shows one of them)
    assert local.startswith(shown), masked
    assert len(shown.lstrip("'`")) == (0 if not local.strip("'`") else 1), masked


@settings(max_examples=40, deadline=None, database=None)
@given(
    value=st.recursive(
        st.none() | st.integers() | words,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner),
        max_leaves=8,
    )
)
def test_values_without_sensitive_data_are_unchanged(value: Any) -> None:
    assert mask(value) == value


# Personal values and the shapes around them: keys come from an alphabet the values
# never use, so any value found in the output came through unmasked.
PERSONAL_KEYS = {
    "phone": "phone",
    "mobilePhone": "phone",
    "firstName": "name",
    "last_name": "name",
    "address": "address",
    "postalCode": "address",
}
personal_values = {
    "phone": st.from_regex(r"\+?[0-9]{7,14}", fullmatch=True)
    | st.integers(min_value=10**6, max_value=10**14),
    "name": st.text(alphabet=st.sampled_from("ABCDEFÅÖabcdefåö -"), min_size=2, max_size=20)
    .map(str.strip)
    .filter(lambda name: len(name) >= 2),
    "address": st.text(alphabet=st.sampled_from("ABCabc0123456789 ,."), min_size=1, max_size=30),
}
neutral_keys = st.text(alphabet=st.sampled_from("xyz"), min_size=1, max_size=3)


def wrapped(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The value as it is, or inside lists and objects, a few levels deep."""
    return st.recursive(
        value,
        lambda inner: (
            st.lists(inner, min_size=1, max_size=3)
            | st.dictionaries(neutral_keys, inner, min_size=1, max_size=3)
        ),
        max_leaves=6,
    )


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data(), key=st.sampled_from(sorted(PERSONAL_KEYS)), depth=st.integers(0, 3))
def test_no_personal_value_survives_under_its_key_whatever_the_shape(
    data: st.DataObject, key: str, depth: int
) -> None:
    shape = data.draw(wrapped(personal_values[PERSONAL_KEYS[key]]))
    document: Any = {key: shape}
    for level in range(depth):  # and the personal key itself deep in a payload
        document = {"x" * (level + 1): [document]}
    masked = mask(document)
    found = [leaf for leaf in leaves(masked) if isinstance(leaf, str)]
    for value in leaves(shape):
        text = str(value)
        assert not any(text in leaf for leaf in found), (text, masked)
    assert all(not isinstance(leaf, int | float) for leaf in leaves(masked))
