"""Time and identifiers: one place decides their formats."""

from __future__ import annotations

import os
import secrets
import uuid
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and a Z, the format every API answer uses."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def new_event_id(now: datetime | None = None) -> str:
    """A UUIDv7: its first 48 bits are the creation time in ms, so an event id alone
    locates the event's row (the row key is derived from that time)."""
    ms = epoch_ms(now or utcnow())
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFFFFFFFFFF) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & 0x3FFFFFFFFFFFFFFF  # rand_b
    return str(uuid.UUID(int=value))


def event_id_time_ms(event_id: str) -> int:
    """The creation time (epoch ms) a UUIDv7 event id carries; ValueError if not one."""
    parsed = uuid.UUID(event_id)
    if parsed.version != 7:
        raise ValueError("not a version 7 UUID")
    return parsed.int >> 80


def new_integration_id() -> str:
    return "int_" + secrets.token_hex(8)
