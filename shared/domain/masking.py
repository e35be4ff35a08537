"""Masking of sensitive data before anything is stored or shown: the rules, in one place.

- credentials (Authorization, cookies, API keys, tokens, passwords): removed;
- e-mail addresses, anywhere, even inside text: `a***@example.com`;
- phone numbers: `+46*******67`;
- personal names (firstName, lastName, …): `A***`;
- address lines and postal codes: `***`;
- any field named in the MASKED_FIELDS setting: `***`.

A value under a personal-data key is masked whatever its shape: every string and
number in a list or object under `phone` is masked as a phone number.

    mask({"email": "anna@example.com", "phone": "+46701234567"})
    -> {"email": "a***@example.com", "phone": "+46*******67"}
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

REMOVED = "[removed]"
CREDENTIAL_KEYS = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-functions-key",
    "ocp-apim-subscription-key",
    "apikey",
    "api_key",
    "token",
    "accesstoken",
    "access_token",
    "refreshtoken",
    "refresh_token",
    "password",
    "secret",
    "clientsecret",
}
NAME_KEYS = {"firstname", "lastname", "middlename", "fullname", "contactname", "customername"}
ADDRESS_KEYS = {
    "address",
    "address1",
    "address2",
    "addressline1",
    "addressline2",
    "street",
    "streetaddress",
    "line1",
    "line2",
    "postalcode",
    "postcode",
    "zip",
    "zipcode",
}
PHONE_KEYS = {"phone", "phonenumber", "mobile", "mobilephone", "telephone"}
# The local part takes every character RFC 5322 allows unquoted (o'brien, a=b, x!y), so
# no part of it is left in front of the mask; quotes around an address stay readable.
_LOCAL = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]"
EMAIL_PATTERN = re.compile(rf"(['`]*{_LOCAL}){_LOCAL}*@([A-Za-z0-9.\-]+\.[A-Za-z]{{2,}})")
DEFAULT_BODY_LIMIT = 8_192


def mask_email_text(text: str) -> str:
    """Every e-mail address inside a string, masked; the rest left as it is."""
    return EMAIL_PATTERN.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def mask_phone(value: str) -> str:
    digits = sum(ch.isdigit() for ch in value)
    if digits <= 4:
        return "***"
    keep_head = 3 if value.startswith("+") else 2
    return value[:keep_head] + "*" * (len(value) - keep_head - 2) + value[-2:]


def _initial(value: str) -> str:
    return (value[:1] + "***") if value else value


def _hidden(value: str) -> str:
    return "***"


# The rule for every value under a personal-data key, by its normalized name.
LeafRule = Callable[[str], str]


def _personal_rule(normalized: str) -> LeafRule | None:
    if normalized in PHONE_KEYS:
        return mask_phone
    if normalized in NAME_KEYS:
        return _initial
    if normalized in ADDRESS_KEYS:
        return _hidden
    return None


def _is_credential(key: str) -> bool:
    return key.lower() in CREDENTIAL_KEYS or _normalized(key) in CREDENTIAL_KEYS


def _normalized(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


def _mask_value(key: str, value: Any, extra: frozenset[str]) -> Any:
    if _is_credential(key):
        return REMOVED
    if key.lower() in extra:
        return "***" if value is not None else None
    rule = _personal_rule(_normalized(key))
    if rule is not None:
        return _mask_under(value, rule, extra)
    if isinstance(value, dict | list):
        return mask(value, extra)
    if not isinstance(value, str):
        return value
    return mask_email_text(value)


def _mask_under(value: Any, rule: LeafRule, extra: frozenset[str]) -> Any:
    """A value under a personal-data key, whatever its shape: every string and number
    in it masked with that key's rule (`{"phone": ["+46701234567"]}` as well as
    `{"phone": "+46701234567"}`); credentials and MASKED_FIELDS inside still go."""
    if isinstance(value, dict):
        masked = {}
        for key, item in value.items():
            name = str(key)
            if _is_credential(name):
                shown: Any = REMOVED
            elif name.lower() in extra:
                shown = "***" if item is not None else None
            else:
                shown = _mask_under(item, rule, extra)
            masked[mask_email_text(name)] = shown
        return masked
    if isinstance(value, list):
        return [_mask_under(item, rule, extra) for item in value]
    if isinstance(value, str):
        return rule(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return rule(str(value))
    return value  # null and true/false say nothing about a person


def mask(value: Any, extra_fields: Iterable[str] = ()) -> Any:
    """A masked deep copy of a JSON-like value (dicts, lists, strings, numbers)."""
    extra = (
        extra_fields
        if isinstance(extra_fields, frozenset)
        else frozenset(name.lower() for name in extra_fields)
    )
    if isinstance(value, dict):
        # keys too: answers keyed by e-mail address are common
        return {
            mask_email_text(str(key)): _mask_value(str(key), item, extra)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask(item, extra) for item in value]
    if isinstance(value, str):
        return mask_email_text(value)
    return value


def mask_headers(headers: dict[str, str], extra_fields: Iterable[str] = ()) -> dict[str, str]:
    """Headers with credentials dropped to a marker; other values masked as text."""
    masked = mask(dict(headers), extra_fields)
    return {str(k): str(v) for k, v in masked.items()}


def truncate(value: Any, limit: int = DEFAULT_BODY_LIMIT) -> Any:
    """The value itself when its JSON fits in `limit` characters, else a marked preview."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if text is None or len(text) <= limit:
        return value
    return {
        "truncated": True,
        "note": f"Body of {len(text):,} characters cut to the first {limit:,}.",
        "preview": text[:limit],
    }
