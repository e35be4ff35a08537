"""Second deliveries of settled events, put straight into the queue as a redelivery
would bring them: the worker must complete them without calling the platform."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from local.servicebus.session_queue import LocalSessionQueue
from shared.config import Settings
from shared.services.inbound import entity_session
from shared.services.validation import validate_inbound
from tests.conftest import Stack
from tests.faults.erp import Sender, all_events
from tests.faults.observe import HostLog, Sandbox, keys_of, messages_named, queue_path

DUPLICATES_PER_INTEGRATION = 25
PREFIX = "dup-"  # the message ids of the second deliveries


@dataclass
class Duplicates:
    """Second deliveries of settled events, and what the platform had seen of them."""

    events: list[str]
    requests_before: dict[str, int]
    log_mark: int

    def effects(self, stack: Stack, requests: dict[str, int]) -> dict[str, int]:
        """Once settled: none left undelivered, each seen by the worker as settled
        already, and no platform call made for any of them since they were sent."""
        after = HostLog(stack).since(self.log_mark)
        return {
            "duplicatesLeftInQueue": len(messages_named(stack, PREFIX)),
            "duplicatesSeenSettledByWorker": sum(
                1 for event in self.events if f"event {event} already " in after
            ),
            "duplicatesNotFoundByWorker": sum(
                1 for event in self.events if f"event {event} not found" in after
            ),
            "platformCallsByDuplicates": sum(
                requests[key] - self.requests_before.get(key, 0)
                for event in self.events
                for key in keys_of(event, requests)
            ),
        }


def deliver_twice(stack: Stack, senders: list[Sender], entity_ordered: set[int]) -> Duplicates:
    """A second message of already-settled events, each on its event's own session."""
    shards = _setting(stack, "EVENT_PARTITION_SHARDS")
    chosen: list[tuple[Sender, str]] = []
    for n, sender in enumerate(senders):
        accepted = dict(sender.accepted)  # the client is still pushing: read a copy
        events = all_events(stack, sender.id)
        settled = sorted(
            event_id
            for event_id in accepted
            if events.get(event_id, {}).get("status") in ("success", "skipped")
        )
        picked = random.Random(n).sample(settled, min(DUPLICATES_PER_INTEGRATION, len(settled)))
        chosen += [(sender, event_id) for event_id in picked]
    duplicates = Duplicates(
        [event_id for _, event_id in chosen],
        Sandbox(stack).keys()["requests"],
        HostLog(stack).mark(),
    )
    with LocalSessionQueue(queue_path(stack)) as queue:
        for sender, event_id in chosen:
            body = {"eventId": event_id, "integrationId": sender.id, "shards": shards}
            ordered = senders.index(sender) in entity_ordered
            session = _session(stack, sender, sender.accepted[event_id].body, ordered)
            assert queue.send(PREFIX + event_id, session, json.dumps(body).encode())
    return duplicates


def _session(stack: Stack, sender: Sender, body: dict[str, Any], entity_ordered: bool) -> str:
    """The session the product put the event on (see `shared.services.inbound.session_for`)."""
    if not entity_ordered:
        return sender.id
    request = validate_inbound(body, _setting(stack, "MAX_ITEMS_PER_EVENT"))
    key = request.action.ordering_key(request.data, request.entity_id)
    return entity_session(sender.id, key, _setting(stack, "ENTITY_ORDERING_SHARDS"))


def _setting(stack: Stack, name: str) -> int:
    """An integer setting of the stack: its environment's, else the product's default."""
    if name in stack.env:
        return int(stack.env[name])
    field = next(f for f in Settings.model_fields.values() if f.alias == name)
    return int(field.default)
