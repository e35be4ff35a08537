"""The shape of every secret this API hands out: a prefix that names what it is, the
id of the record it opens, a random part, and a checksum.

    avvyr_int_live_int_3f9a1c2b4d5e6f70_<43 random>_<6 checksum>    an integration's key
    avvyr_mgmt_tok_5a1b2c3d4e5f6a7b_<43 random>_<6 checksum>         a management token

The checksum is the CRC32 of everything before it, in base62, as GitHub's tokens
carry one: a mistyped or truncated secret is refused without a storage read, and a
secret scanner can tell a real leaked secret from a string that merely looks like
one. It proves nothing about who made the secret (anyone can compute a CRC32); the
stored SHA-256 of the whole secret does that.
"""

from __future__ import annotations

import secrets
import string
import zlib

ALPHABET = string.digits + string.ascii_letters  # base62
CHECKSUM_LENGTH = 6  # 62**6 > 2**32: every CRC32 fits
RANDOM_BYTES = 32  # 43 URL-safe characters


def checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def issue(prefix: str) -> str:
    """A new secret: `prefix`, a random part, and the checksum of both."""
    body = prefix + secrets.token_urlsafe(RANDOM_BYTES)
    return f"{body}_{checksum(body)}"


def checksum_holds(secret: str) -> bool:
    """True when the secret ends in the checksum of what comes before it."""
    body, _, given = secret.rpartition("_")
    return len(given) == CHECKSUM_LENGTH and bool(body) and checksum(body) == given
