"""Erasing one person's data from stored records: what matches them, and the rewrite.

A person is named by an e-mail address, a phone number, or both (`ErasureTarget`).
Matching is forgiving of form, strict about identity:
- an e-mail matches in any letter case, inside text, and URL-encoded
  (`anna%40example.com`), but not inside a longer address (`joanna@example.com`);
- a phone number matches whatever its formatting: "+46 70-123 45 67",
  "+46701234567", "0046 (70) 123 45 67" and the number 46701234567 are one number
  (its digits; a leading + or 00 is not a digit). A national form ("070-123 45 67")
  has other digits: erase it by giving that form too.

`redact` rewrites a JSON-like value: every match in text becomes `ERASED`, and where
an object carries a match directly (a customer record), its personal fields go with
it: names, phone numbers, e-mail addresses and address lines next to it.

    target = ErasureTarget.of(email="Anna@Example.com", phone=None)
    redact({"customer": {"email": "anna@example.com", "firstName": "Anna"}, "sku": "X"}, target)
    -> ({"customer": {"email": "[erased]", "firstName": "[erased]"}, "sku": "X"}, True)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from shared.domain.masking import ADDRESS_KEYS, NAME_KEYS, PHONE_KEYS, mask_email_text

ERASED = "[erased]"
# Set at the top of an erased event's payload (a key no inbound document may carry):
# the worker fails such an event for good instead of sending what is left of it.
ERASED_KEY = "erased"
EMAIL_KEYS = {"email", "emailaddress", "mail", "contactemail", "customeremail"}
PERSON_KEYS = (
    EMAIL_KEYS
    | PHONE_KEYS
    | NAME_KEYS
    | ADDRESS_KEYS
    | {"name", "city", "birthdate", "dateofbirth", "personalnumber", "ssn"}
)
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 7, 15
# A run of digits as a phone number is written: separators between the digits.
PHONE_RUN = re.compile(r"\+?\d(?:[ \t().\-/]{0,3}\d)*")
# A character that would make a match part of a longer address in front of it (the
# common ones: '/' or '=' before an address are a path or a query, not the address).
_LOCAL_CHAR = r"[\w.+\-]"


def normal_email(value: str) -> str:
    return value.strip().lower()


def phone_digits(value: str) -> str:
    """The number's digits; an international prefix (+ or 00) is not part of them."""
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits[2:] if value.strip().startswith("00") else digits


def fingerprint(value: str) -> str:
    """A one-way hash prefix of a normalised value: the audit trail can say which
    erasure this was (the same value gives the same prefix) without holding it."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ErasureTarget:
    """A person's e-mail addresses (lower case) and phone numbers (digits)."""

    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    _email: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _masked_email: re.Pattern[str] = field(init=False, repr=False, compare=False)

    @classmethod
    def of(cls, email: str | None, phone: str | None) -> ErasureTarget:
        return cls(
            (normal_email(email),) if email else (),
            (phone_digits(phone),) if phone else (),
        )

    def __post_init__(self) -> None:
        forms: set[str] = set()
        for email in self.emails:
            forms |= {email, quote(email, safe=""), quote(email, safe="@")}
        never = r"(?!x)x"
        alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        pattern = rf"(?<!{_LOCAL_CHAR})(?:{alternatives})(?![\w\-]|\.\w)" if forms else never
        object.__setattr__(self, "_email", re.compile(pattern, re.IGNORECASE))
        masked = "|".join(re.escape(mask_email_text(email)) for email in self.emails) or never
        object.__setattr__(self, "_masked_email", re.compile(masked, re.IGNORECASE))

    def widened(self, value: Any) -> ErasureTarget:
        """This person with the other e-mail addresses and phone numbers their records
        in `value` hold (a customer record carrying the e-mail names the phone too), so
        a message quoting the phone beside that record goes as well."""
        emails, phones = set(self.emails), set(self.phones)
        for record in _records_carrying(value, self):
            for key, item in record.items():
                name = _normalized(str(key))
                if isinstance(item, str) and name in EMAIL_KEYS and "@" in item:
                    emails.add(normal_email(item))
                elif isinstance(item, str | int) and name in PHONE_KEYS:
                    digits = phone_digits(str(item))
                    if MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
                        phones.add(digits)
        if emails == set(self.emails) and phones == set(self.phones):
            return self
        return ErasureTarget(tuple(sorted(emails)), tuple(sorted(phones)))

    # --- text ----------------------------------------------------------------------
    def found_in(self, text: str, masked_too: bool = False) -> bool:
        return self.redact_text(text, masked_too) != text

    def redact_text(self, text: str, masked_too: bool = False) -> str:
        """The text with every match replaced by ERASED. `masked_too` also takes the
        masked forms the communication log stored ("a***@example.com", "+46*******67"),
        for records already known to be this person's."""
        text = self._email.sub(ERASED, text)
        if masked_too:
            text = self._masked_email.sub(ERASED, text)
            if any(_fits_masked_phone(text, phone) for phone in self.phones):
                return ERASED
        if self.phones:
            text = PHONE_RUN.sub(self._phone_run, text)
        return text

    def _phone_run(self, run: re.Match[str]) -> str:
        digits = "".join(ch for ch in run.group(0) if ch.isdigit())
        return ERASED if any(phone in digits for phone in self.phones) else run.group(0)

    def matches_leaf(self, value: Any, masked_too: bool) -> bool:
        if isinstance(value, str):
            return self.found_in(value, masked_too)
        if isinstance(value, int) and not isinstance(value, bool):
            return any(phone in str(value) for phone in self.phones)
        return False


def _fits_masked_phone(text: str, phone: str) -> bool:
    """Whether `text` is this number as `masking.mask_phone` shows it: its head and its
    last two digits, stars between."""
    if "*" not in text:
        return False
    head, _, tail = text.strip().partition("*")
    tail = tail.lstrip("*")
    head_digits, tail_digits = phone_digits(head), phone_digits(tail)
    return (
        bool(tail_digits)
        and "*" not in tail
        and phone.startswith(head_digits)
        and phone.endswith(tail_digits)
    )


def _records_carrying(value: Any, target: ErasureTarget) -> list[dict[str, Any]]:
    """The objects in `value` that hold a match directly."""
    if isinstance(value, list):
        return [record for item in value for record in _records_carrying(item, target)]
    if not isinstance(value, dict):
        return []
    found = [value] if any(target.matches_leaf(v, False) for v in value.values()) else []
    return found + [record for item in value.values() for record in _records_carrying(item, target)]


def redact(value: Any, target: ErasureTarget, masked_too: bool = False) -> tuple[Any, bool]:
    """A rewritten copy of a JSON-like value, and whether anything in it matched."""
    if isinstance(value, dict):
        carries = any(target.matches_leaf(item, masked_too) for item in value.values())
        changed = False
        rewritten: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            new_key = target.redact_text(name, masked_too)
            if carries and _normalized(name) in PERSON_KEYS and item is not None:
                new_item, item_changed = ERASED, item != ERASED
            else:
                new_item, item_changed = redact(item, target, masked_too)
            changed = changed or item_changed or new_key != name
            rewritten[new_key] = new_item
        return rewritten, changed
    if isinstance(value, list):
        items = [redact(item, target, masked_too) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    if isinstance(value, str):
        text = target.redact_text(value, masked_too)
        return text, text != value
    if target.matches_leaf(value, masked_too):
        return ERASED, True
    return value, False


def redact_stored_text(text: str, target: ErasureTarget) -> tuple[str, bool]:
    """A stored property or blob that may hold JSON: rewritten as JSON when it parses
    (so a customer record goes whole), else as text."""
    if not target.found_in(text):
        return text, False
    try:
        document = json.loads(text)
    except ValueError:
        return target.redact_text(text), True
    rewritten, _ = redact(document, target)
    result = json.dumps(rewritten, separators=(",", ":"))
    # What JSON escaping hid from the parse (a value written as \\u0040) goes as text.
    return target.redact_text(result), True


def was_erased(payload: Any) -> bool:
    """Whether an event's stored payload has had personal data erased from it."""
    return isinstance(payload, dict) and ERASED_KEY in payload


def _normalized(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")
