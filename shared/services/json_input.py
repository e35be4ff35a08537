"""Reading a request body as JSON, strictly: one meaning, bounded in every dimension.

Python's `json.loads` is lenient where an attacker profits: a key given twice keeps
the last value (another parser may keep the first, so one body means two things),
`NaN` and `Infinity` are accepted, a 5,000-digit integer or a body nested 5,000
levels deep raises errors that are not about the request at all (ValueError,
RecursionError), and a lone UTF-16 surrogate escape ("\\ud800") becomes a string
that no storage layer can encode. `read_json` refuses each of these with a
`ValidationFailed` (400) whose sentence a data owner can act on and whose detail
names the place in the body:

    read_json(b'{"action": "a", "action": "b"}')
    -> ValidationFailed("The key 'action' is given twice in one object; give each key once.",
                        [FieldProblem("action", "is given twice in one object; ...")])
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from shared.domain.errors import FieldProblem, ValidationFailed

# Every body this API takes is a few levels deep (an inbound order is 4); 64 is far
# beyond any honest document and far below the depth at which parsing, validating or
# masking a document would exhaust Python's stack.
MAX_DEPTH = 64
# An integer of up to 15 digits is exact as an IEEE double, so the platform, the
# dashboard's JavaScript and any parser on the way read the same number. The largest
# the actions take are money in minor units (at most 10^12, 13 digits) and quantities
# (at most 10^9).
MAX_INTEGER_DIGITS = 15
# A decimal number is written in a few dozen characters at most; a longer one is only
# precision no parser keeps.
MAX_DECIMAL_CHARS = 32
# Above every field's own limit (the longest, a product description, is 10,000), so a
# field's rule speaks first with its own words; no string of this API is longer.
MAX_STRING_CHARS = 32_768
# Field names are short words; a longer key is never one the API knows.
MAX_KEY_CHARS = 256

# What cannot nest: a JSON string (brackets inside it do not count) or a run of other
# characters. Possessive, the closing quote optional: an unterminated string runs to
# the end of the text instead of being tried again from each later quote (which would
# be quadratic in the length of a hostile body).
_NOT_NESTING = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[^"\[\]{}]++', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Values with nothing left to check once parsed.
_PLAIN = frozenset({int, float, bool, type(None)})


@dataclass(frozen=True)
class _Refused:
    """A number or constant the parser met that the API refuses: kept in its place in
    the document, so the walk after parsing can name where it is."""

    problem: str


class _DuplicateKeys(dict[str, Any]):
    """An object in which at least one key was given more than once (`duplicate`, the
    first such key)."""

    def __init__(self, pairs: list[tuple[str, Any]], duplicate: str) -> None:
        super().__init__(pairs)
        self.duplicate = duplicate


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    built = dict(pairs)
    if len(built) == len(pairs):
        return built
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return _DuplicateKeys(pairs, key)
        seen.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means one repeats")


def _integer(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        return _Refused(
            f"is a whole number of {digits:,} digits; at most {MAX_INTEGER_DIGITS} are accepted"
        )
    return int(text)


def _decimal(text: str) -> float | _Refused:
    if len(text) > MAX_DECIMAL_CHARS:
        return _Refused(
            f"is a number written in {len(text):,} characters; "
            f"at most {MAX_DECIMAL_CHARS} are accepted"
        )
    value = float(text)
    if math.isinf(value):
        return _Refused("is a number too large to represent")
    return value


def _constant(text: str) -> _Refused:
    return _Refused(f"is {text}, which is not a JSON number")


def _refuse(message: str, path: str, problem: str) -> ValidationFailed:
    return ValidationFailed(message, [FieldProblem(path, problem)])


def _decode(body: bytes) -> str:
    try:
        # A UTF-8 byte order mark is tolerated (some Windows tools write one).
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(
            f"The body is not valid JSON: it is not UTF-8 text (byte {exc.start:,} cannot "
            "start or continue a character). Send JSON encoded as UTF-8.",
            "body",
            "is not UTF-8",
        ) from exc


def _check_depth(text: str) -> None:
    """Nesting deeper than MAX_DEPTH is refused before parsing, without recursion."""
    brackets = _NOT_NESTING.sub("", text)
    if len(brackets) <= MAX_DEPTH:
        return  # too few to nest too deeply
    depth = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _refuse(
                    f"The body nests objects and lists more than {MAX_DEPTH} levels deep; "
                    "no request of this API needs more than a few.",
                    "body",
                    f"is nested more than {MAX_DEPTH} levels deep",
                )
        else:
            depth -= 1


# Where a value sits, built only when a problem is named: (parent, key) links.
_Where = tuple[Any, str | int] | None


def _path(where: _Where) -> str:
    """`data.items[3].sku`, as pydantic's problems are named; "body" for the whole."""
    parts: list[str | int] = []
    while where is not None:
        where, key = where
        parts.append(key)
    path = ""
    for key in reversed(parts):
        if isinstance(key, int):
            path += f"[{key}]"
        else:
            shown = key[:100]
            path += f".{shown}" if path else shown
    return path or "body"


def _string_problem(text: str, limit: int) -> str | None:
    if len(text) > limit:
        return f"is {len(text):,} characters long; at most {limit:,} are accepted"
    if not text.isascii() and _SURROGATE.search(text):
        return "contains an unpaired UTF-16 surrogate escape (such as \\ud800 alone)"
    return None


def _problem_at(value: Any) -> str | None:
    """What is wrong with a scalar itself: a refused number, a bad string."""
    if isinstance(value, _Refused):
        return value.problem
    if isinstance(value, str):
        return _string_problem(value, MAX_STRING_CHARS)
    return None


def _check_values(document: Any) -> None:
    """Every key, string and number the parser met, walked without recursion."""
    if not isinstance(document, dict | list):
        if problem := _problem_at(document):
            _refuse_at(None, problem)
        return
    stack: list[tuple[Any, _Where]] = [(document, None)]
    while stack:
        container, where = stack.pop()
        if isinstance(container, _DuplicateKeys):
            _refuse_at(
                (where, container.duplicate),
                "is given twice in one object; give each key once",
                "The key",
            )
        if isinstance(container, dict):
            for key in container:
                if problem := _string_problem(key, MAX_KEY_CHARS):
                    _refuse_at((where, key), problem, "The key")
            members: Any = container.items()
        else:
            members = enumerate(container)
        for key, value in members:
            if isinstance(value, dict | list):
                stack.append((value, (where, key)))
            elif value.__class__ not in _PLAIN and (problem := _problem_at(value)):
                _refuse_at((where, key), problem)


def _refuse_at(where: _Where, problem: str, subject: str = "The value at") -> NoReturn:
    path = _path(where)
    raise ValidationFailed(f"{subject} '{path}' {problem}.", [FieldProblem(path, problem)])


def read_json(body: bytes) -> Any:
    """The body's JSON value, or a ValidationFailed (400) naming what is wrong and where."""
    text = _decode(body)
    _check_depth(text)
    try:
        document = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_decimal,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        reason = exc.msg.removesuffix(" starting at").lower()
        raise _refuse(
            f"The body is not valid JSON at line {exc.lineno}, column {exc.colno}: {reason}.",
            "body",
            reason,
        ) from exc
    except RecursionError as exc:  # the depth check makes this unreachable; kept as a guard
        raise _refuse(
            f"The body nests objects and lists more than {MAX_DEPTH} levels deep.",
            "body",
            "is nested too deeply",
        ) from exc
    _check_values(document)
    return document


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "a list"


def json_object(document: Any, example: str = '{"name": "My ERP"}') -> dict[str, Any]:
    """The document if it is a JSON object, as every management body is; else a 400
    that says what came instead."""
    if isinstance(document, dict):
        return document
    raise ValidationFailed(
        f"The body must be a JSON object, such as {example}; it is {_kind(document)}.",
        [FieldProblem("body", "must be a JSON object")],
    )
