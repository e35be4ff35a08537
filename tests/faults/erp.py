"""The ERPs of the fault suite: clients that push their events in order, and what the
product's API says about the events they pushed."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import Stack
from tests.faults.workload import Workload

PUSH_SECONDS = 120  # how long one event may take to be accepted, outages included


@dataclass(frozen=True)
class Pushed:
    """One accepted event as its client knows it: what it sent, and when (its position
    among the events this client sent)."""

    body: dict[str, Any]
    invalid: bool
    order: int


class Sender:
    """One ERP: pushes its events one after another, resending with the same
    Idempotency-Key until it gets a 202, as a well-behaved client does. Counts every
    answer by status, so a test can tell which outages the clients met."""

    def __init__(self, stack: Stack, integration: dict[str, str], workload: Workload) -> None:
        self.stack, self.integration, self.workload = stack, integration, workload
        self.http = httpx.Client(timeout=10)
        self.accepted: dict[str, Pushed] = {}
        self.seeded: list[str] = []
        self.answers: Counter[int | str] = Counter()
        self.sent = self.resends = self.replays = 0
        self.stop = threading.Event()  # set when any part of the run failed

    @property
    def id(self) -> str:
        return self.integration["id"]

    def push(self, body: dict[str, Any], key: str) -> str:
        headers = {"Authorization": f"Bearer {self.integration['apiKey']}", "Idempotency-Key": key}
        deadline = time.monotonic() + PUSH_SECONDS
        while True:
            try:
                answer = self.http.post(
                    self.stack.api + "/integrations/custom/inbound", json=body, headers=headers
                )
                self.answers[answer.status_code] += 1
                if answer.status_code == 202:
                    return str(answer.json()["messageId"])
                assert answer.status_code >= 500, answer.text  # only outages are retried
            except httpx.TransportError as exc:  # the host is being restarted, or slow
                self.answers[type(exc).__name__] += 1
            assert time.monotonic() < deadline, "the inbound endpoint stayed unavailable"
            assert not self.stop.is_set(), "stopped: another part of the run failed"
            self.resends += 1
            time.sleep(0.2)

    def seed(self) -> None:
        for n, body in enumerate(self.workload.seed_events()):
            event_id = self.push(body, f"{self.workload.prefix}-seed-{n}")
            status = self.stack.wait_for(self.id, event_id, ("success", "failed"), seconds=60)
            assert status["status"] == "success", status
            self.seeded.append(event_id)

    def run(self, count: int, stop: threading.Event) -> None:
        """Push `count` events, unless `stop` is set; sets it if this client fails, so
        nobody waits on it."""
        self.stop = stop
        try:
            rng = random.Random(self.workload.prefix)
            for n in range(count):
                assert not stop.is_set(), "stopped: another part of the run failed"
                body, invalid = self.workload.next_event()
                key = f"{self.workload.prefix}-{n}"
                message_id = self.push(body, key)
                if rng.random() < 0.03:  # the ERP did not see the answer and sends again
                    assert self.push(body, key) == message_id
                    self.replays += 1
                self.accepted[message_id] = Pushed(body, invalid, n)
                self.sent += 1
        except BaseException:
            stop.set()
            raise


def all_events(stack: Stack, integration_id: str) -> dict[str, dict[str, Any]]:
    """Every stored event of an integration, read page by page."""
    found, token = {}, None
    while True:
        body: dict[str, Any] = {"integrationId": integration_id, "limit": 500}
        if token:
            body["continuationToken"] = token
        answer = stack.admin("POST", "/v1/integrations/events/filter", json=body)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        found.update({event["id"]: event for event in page["events"]})
        token = page["continuationToken"]
        if not token:
            return found


def unsettled(stack: Stack, integration_id: str) -> Counter[str]:
    """Events not yet in a terminal state (queued, processing, or failed with a retry due).

    One pass over every event: pages keep their position while statuses change, so each
    event is read once (a query per status could miss one the timer moves between them).
    """
    count: Counter[str] = Counter()
    for event in all_events(stack, integration_id).values():
        if event["status"] in ("queued", "processing") or (
            event["status"] == "failed" and event["nextRetryAt"]
        ):
            count[event["status"]] += 1
    return count


def settle(stack: Stack, senders: list[Sender], seconds: float, started: float) -> None:
    """Wait until every event of every sender has reached a terminal state."""
    deadline = time.monotonic() + seconds
    while True:
        waiting = sum((unsettled(stack, sender.id) for sender in senders), Counter())
        if not +waiting:
            return
        assert time.monotonic() < deadline, f"events did not settle in {seconds:g} s: {waiting}"
        print(f"  {time.monotonic() - started:6.1f}s still settling: {dict(+waiting)}", flush=True)
        time.sleep(5)
