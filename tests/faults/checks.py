"""What a finished fault run left behind, compared with what its clients were told."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import Stack
from tests.faults.erp import Sender, all_events
from tests.faults.workload import Expected

RESUBMITTED = re.compile(r"~r\d+(~|$)")  # lifecycle.platform_idempotency_key's generations


@dataclass
class Outcomes:
    """The stored events against the events the clients got a 202 for."""

    expected: Expected = field(default_factory=Expected)
    statuses: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    wrong: list[dict[str, Any]] = field(default_factory=list)
    settled_right: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)  # accepted and seed events

    def describe_wrong(self) -> list[tuple[Any, ...]]:
        return [
            (e["action"], e["status"], e["attempts"], e["lastError"], e.get("skippedReason"))
            for e in self.wrong[:5]
        ]


def read_outcomes(stack: Stack, senders: list[Sender]) -> Outcomes:
    """Every stored event: none lost, none extra, each with the outcome its data calls
    for (invalid on purpose: failed for good; otherwise applied, or skipped as stale);
    and the platform state the accepted events must produce, in their send order."""
    outcomes = Outcomes()
    for sender in senders:
        stored = all_events(stack, sender.id)
        known = set(sender.accepted) | set(sender.seeded)
        outcomes.extra += sorted(set(stored) - known)
        outcomes.known |= known
        outcomes.expected.seeded(sender.workload)
        for event_id, pushed in sender.accepted.items():
            outcomes.expected.record(pushed.body, pushed.order, pushed.invalid)
            event = stored.get(event_id)
            if event is None:
                outcomes.lost.append(event_id)
                continue
            outcomes.statuses[event["status"]] += 1
            want = ("failed",) if pushed.invalid else ("success", "skipped")
            if event["status"] not in want or (
                pushed.invalid and event["lastError"]["kind"] != "permanent"
            ):
                outcomes.wrong.append(event)
            else:
                outcomes.settled_right.add(event_id)
    return outcomes


def foreign_keys(applied: dict[str, int], events: set[str]) -> list[str]:
    """Platform keys that belong to no event the clients sent."""
    return [key for key in applied if key.partition("~")[0] not in events]


def second_keys(applied: dict[str, int]) -> list[str]:
    """Platform keys of a second generation: one submission has one key per call,
    `<eventId>`, or `<eventId>~<operationId>` for an event's second operation (see
    `Action.call_key`); only a person's resubmission may start another
    (`<eventId>~r1`), and nothing is resubmitted in a fault run."""
    return [key for key in applied if RESUBMITTED.search(key)]
