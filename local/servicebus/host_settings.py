"""The Service Bus extension's settings, read from `host.json` as the Functions host reads them.

One place turns `extensions.serviceBus` into a `ServiceBusSettings`; an absent value takes the
extension's own default (`ServiceBusOptions` in Microsoft.Azure.WebJobs.Extensions.ServiceBus),
so the local host never runs kinder than Azure would with the same file. Keys are
case-insensitive and timespans use .NET's `[-][d.]hh:mm[:ss[.fffffff]]`, as in host.json:

    >>> parse_timespan("00:00:02")
    datetime.timedelta(seconds=2)
    >>> ServiceBusSettings.from_host_json().session_idle_timeout  # doctest: +SKIP
    datetime.timedelta(seconds=2)

A setting the local host cannot model (more than one call per session, settling in the function,
dynamic concurrency) is refused rather than run with different semantics.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from local.settings_loader import ROOT

log = logging.getLogger("local.host")

# .NET's Timeout.InfiniteTimeSpan (-1 ms): "renew for as long as the handler runs".
INFINITE = timedelta.max
_TIMESPAN = re.compile(
    r"(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2})"
    r"(?::(?P<s>\d{1,2})(?:\.(?P<frac>\d{1,7}))?)?"
)
# The extension's documented defaults. An unset sessionIdleTimeout falls back to the client's
# TryTimeout (ServiceBusRetryOptions), 60 seconds unless clientRetryOptions.tryTimeout says else.
DEFAULT_TRY_TIMEOUT = timedelta(seconds=60)


def parse_timespan(text: str) -> timedelta:
    """A host.json timespan: "00:00:10", "1.02:00:00" (a day and two hours), "00:00:00.5";
    "-00:00:00.001" is .NET's infinite timespan and becomes `INFINITE`."""
    value = text.strip()
    if value.lstrip("-").isdigit():  # TimeSpan.Parse reads a bare integer as days
        return timedelta(days=int(value))
    match = _TIMESPAN.fullmatch(value)
    if match is None:
        raise ValueError(f"{text!r} is not a timespan like '00:00:10'")
    span = timedelta(
        days=int(match["days"] or 0),
        hours=int(match["h"]),
        minutes=int(match["m"]),
        seconds=int(match["s"] or 0),
        microseconds=int((match["frac"] or "0").ljust(7, "0")) // 10,
    )
    if match["sign"]:
        span = -span
    return INFINITE if span == -timedelta(milliseconds=1) else span


@dataclass(frozen=True)
class ServiceBusSettings:
    """What the extension does with a Service Bus trigger, per instance.

    The session trigger runs `max_concurrent_sessions` sessions at once, each until
    `session_idle_timeout` passes with no new message; a trigger without sessions (the
    dead-letter queue's) runs `max_concurrent_calls` messages at once. Locks are renewed
    for up to `max_auto_lock_renewal_duration` (`INFINITE`: without limit).
    """

    max_concurrent_sessions: int = 8
    session_idle_timeout: timedelta = DEFAULT_TRY_TIMEOUT
    max_concurrent_calls: int = field(default_factory=lambda: 16 * (os.cpu_count() or 1))
    max_concurrent_calls_per_session: int = 1
    max_auto_lock_renewal_duration: timedelta = timedelta(minutes=5)
    prefetch_count: int = 0
    auto_complete_messages: bool = True

    def __post_init__(self) -> None:
        for name in ("max_concurrent_sessions", "max_concurrent_calls"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.session_idle_timeout <= timedelta(0):
            raise ValueError("sessionIdleTimeout must be positive")
        if self.max_auto_lock_renewal_duration < timedelta(0):
            raise ValueError("maxAutoLockRenewalDuration must not be negative (or infinite)")
        if self.prefetch_count < 0:
            raise ValueError("prefetchCount must not be negative")
        # Refused rather than run differently: several calls per session would break the
        # per-session order the local queue keeps, and without auto-complete the function
        # itself would have to settle, which Python functions here do not.
        if self.max_concurrent_calls_per_session != 1:
            raise ValueError("maxConcurrentCallsPerSession other than 1 is not modelled locally")
        if not self.auto_complete_messages:
            raise ValueError("autoCompleteMessages: false is not modelled locally")

    @classmethod
    def from_host_json(cls, path: Path = ROOT / "host.json") -> ServiceBusSettings:
        host = _lower_keys(json.loads(path.read_text()))
        if _lower_keys(host.get("concurrency", {})).get("dynamicconcurrencyenabled"):
            raise ValueError("concurrency.dynamicConcurrencyEnabled is not modelled locally")
        bus = _lower_keys(_lower_keys(host.get("extensions", {})).get("servicebus", {}))
        retry = _lower_keys(bus.get("clientretryoptions", {}))
        try_timeout = _timespan(retry, "trytimeout", DEFAULT_TRY_TIMEOUT)
        settings = cls(
            max_concurrent_sessions=int(bus.get("maxconcurrentsessions", 8)),
            session_idle_timeout=_timespan(bus, "sessionidletimeout", try_timeout),
            max_concurrent_calls=int(bus.get("maxconcurrentcalls", 16 * (os.cpu_count() or 1))),
            max_concurrent_calls_per_session=int(bus.get("maxconcurrentcallspersession", 1)),
            max_auto_lock_renewal_duration=_timespan(
                bus, "maxautolockrenewalduration", timedelta(minutes=5)
            ),
            prefetch_count=int(bus.get("prefetchcount", 0)),
            auto_complete_messages=str(bus.get("autocompletemessages", True)).lower() == "true",
        )
        if settings.prefetch_count:
            log.warning("prefetchCount %d is not modelled locally", settings.prefetch_count)
        return settings


def _lower_keys(section: Any) -> dict[str, Any]:
    """Configuration keys are case-insensitive for the Functions host."""
    if not isinstance(section, dict):
        raise ValueError(f"expected a JSON object in host.json, got {section!r}")
    return {str(key).lower(): value for key, value in section.items()}


def _timespan(section: dict[str, Any], key: str, default: timedelta) -> timedelta:
    value = section.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError(f"host.json {key}: write timespans as strings like '00:00:10'")
    return parse_timespan(value)
