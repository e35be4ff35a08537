"""Nothing accepted is lost, nothing is applied twice, under the faults production brings,
and each fault is shown to have taken effect.

Several ERPs push a seeded workload through the local stack (one integration ordered
per record) while the platform fails at random, rate-limits below the product's pace,
goes down, and answers too slowly (after applying); storage stops and comes back; the
queue refuses sends; the Functions host is killed holding messages and restarted;
settled events are delivered a second time; clients resend with the same
Idempotency-Key. Each fault's own effect is asserted (429s answered and the keys
retried, storage errors met, sends failed and made later, replays of answers that came
too late, messages in flight at the kill, duplicates completed without a platform call),
then the platform's final state is compared with the state the clients' send order
gives, and nothing beyond it may exist: no extra event, no extra record, no second
platform key for one submission, no key used for two different calls.

Size: FAULT_EVENTS (default 5000). Figures are printed, and saved to
benchmarks/results/fault-injection.json only by a run that passed. Reproduce:
    FAULT_EVENTS=5000 .venv/bin/python -m pytest tests/faults -s
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

import pytest

from tests.conftest import ROOT, LocalAzurite, Stack, start_stack
from tests.faults.checks import foreign_keys, read_outcomes, second_keys
from tests.faults.erp import Sender, settle
from tests.faults.observe import Sandbox
from tests.faults.phases import PACE, RATE_LIMIT, Run, run_faults
from tests.faults.workload import Workload

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FAULT_EVENTS = int(os.environ.get("FAULT_EVENTS", "5000"))
INTEGRATIONS = 4
ENTITY_ORDERED = {1}  # integrations ordered per record, on session shards
SETTLE_SECONDS = 1200
SEND_SECONDS = 600 + FAULT_EVENTS * 0.4  # to push every event, outages included
RESULTS = ROOT / "benchmarks" / "results" / "fault-injection.json"


@pytest.fixture(scope="module")
def fault_stack(restartable_azurite: LocalAzurite, tmp_path_factory: pytest.TempPathFactory) -> Any:
    # Its own Azurite: a second stack's timer must not re-enqueue into its own queue
    # the events of the session stack that share a storage account with it; and the
    # test stops and restarts this one.
    stack = start_stack(
        tmp_path_factory.mktemp("faults"),
        restartable_azurite.connection_string,
        RETRY_MAX_ATTEMPTS="40",
        RETRY_BASE_DELAY_SECONDS="0.5",
        RETRY_MAX_DELAY_SECONDS="4",
        # the unknown SKUs sent on purpose are awaited briefly under per-record ordering
        ENTITY_DEPENDENCY_WAIT_SECONDS="20",
        PLATFORM_MAX_CALLS_PER_SECOND=str(PACE),
        CIRCUIT_COOLDOWN_SECONDS="1",
        CIRCUIT_MAX_COOLDOWN_SECONDS="4",
        LOCAL_QUEUE_LOCK_SECONDS="5",
        PROCESSING_LEASE_SECONDS="30",
        ENQUEUE_GRACE_SECONDS="10",
    )
    yield stack, restartable_azurite
    stack.stop()


def start_senders(stack: Stack, run_id: str) -> list[Sender]:
    senders = []
    for n in range(INTEGRATIONS):
        integration = stack.new_integration(f"Fault ERP {n}")
        if n in ENTITY_ORDERED:
            scope = stack.admin(
                "PATCH", f"/v1/integrations/{integration['id']}", json={"orderingScope": "entity"}
            )
            assert scope.status_code == 200, scope.text
        sender = Sender(stack, integration, Workload(f"{run_id}-{n}", seed=n))
        sender.seed()
        senders.append(sender)
    return senders


def test_nothing_lost_nothing_applied_twice_under_faults(
    fault_stack: tuple[Stack, LocalAzurite],
) -> None:
    stack, storage = fault_stack
    started = time.monotonic()
    senders = start_senders(stack, f"F{int(time.time()) % 100000}")
    run = Run(stack, storage, senders, ENTITY_ORDERED, FAULT_EVENTS)
    with ThreadPoolExecutor(INTEGRATIONS + 1) as pool:
        faulting = pool.submit(run_faults, run)
        parts: list[Future[Any]] = [
            pool.submit(sender.run, FAULT_EVENTS // INTEGRATIONS, run.stop) for sender in senders
        ]
        parts.append(faulting)  # last: its "a client failed" must not hide the client's error
        try:
            _, late = wait(parts, SEND_SECONDS, return_when=FIRST_EXCEPTION)
        finally:
            failed = [part for part in parts if part.done() and part.exception()]
            if failed or not all(part.done() for part in parts):
                run.stop.set()  # the others stop at their next step (also on Ctrl-C)
        for part in failed:
            part.result()  # raises its error
        assert not late, f"the clients did not send {FAULT_EVENTS} events in {SEND_SECONDS} s"
        figures_of_faults, seen = faulting.result()
    stack.faults(errorRate=0.0)
    sent_seconds = time.monotonic() - started
    settle(stack, senders, SETTLE_SECONDS, started)
    settle_seconds = time.monotonic() - started

    outcomes = read_outcomes(stack, senders)
    state, sandbox = stack.sandbox_state(), Sandbox(stack)
    keys, catch_up = sandbox.keys(), sandbox.stats()
    applied: dict[str, int] = state["idempotency"]  # type: ignore[assignment]
    mismatches = outcomes.expected.mismatches(state)
    extra_records = outcomes.expected.extra_records(state)
    keys_of_no_event = foreign_keys(applied, outcomes.known)
    second_generation = second_keys(applied)
    # and never one key for two different calls (the platform would replay the first
    # call's answer to the second and apply nothing)
    reused_keys = sorted(keys["replayedForOtherOperation"])
    applied_twice = {key: n for key, n in applied.items() if n > 1}

    accepted_ids = {event_id for sender in senders for event_id in sender.accepted}
    failed_sends = seen["failedSends"]
    delayed = keys["appliedThenDelayed"]
    effects = {
        "rateLimitedKeys": len(keys["rateLimited"]),
        "rateLimitedKeysAppliedLater": sum(1 for key in keys["rateLimited"] if key in applied),
        "appliedThenAnsweredTooLate": len(delayed),
        "ofThoseReplayedLater": sum(1 for key in delayed if keys["replayed"].get(key)),
        "failedSendsSettledRight": len(set(failed_sends) & outcomes.settled_right),
        "inFlightAtKillSettledRight": len(seen["inFlight"] & outcomes.settled_right),
    } | seen["duplicates"].effects(stack, keys["requests"])
    figures = {
        "eventsAccepted": len(accepted_ids),
        "integrations": INTEGRATIONS,
        "entityOrderedIntegrations": len(ENTITY_ORDERED),
        "statuses": dict(outcomes.statuses),
        "lost": len(outcomes.lost),
        "extraEvents": len(outcomes.extra),
        "stateMismatches": len(mismatches),
        "extraPlatformRecords": len(extra_records),
        "wrongOutcomes": len(outcomes.wrong),
        "platformKeysOfNoEvent": len(keys_of_no_event),
        "secondPlatformKeys": len(second_generation),
        "keysReusedForAnotherCall": len(reused_keys),
        "appliedTwiceBySandbox": len(applied_twice),  # the sandbox refuses it by itself
        "clientResends": sum(s.resends for s in senders),
        "clientIdempotentReplays": sum(s.replays for s in senders),
        "clientAnswers": dict(sum((s.answers for s in senders), Counter())),
        "faults": figures_of_faults,
        "faultEffects": effects,
        "catchUp": {
            "platformRateLimitPerSecond": RATE_LIMIT,
            "productPacePerSecond": PACE,
            "peakRequestsPerSecond": catch_up["peakRequestsPerSecond"],
            "requests": catch_up["requests"],
            "rateLimited": catch_up["rateLimited"],
        },
        "secondsToSend": round(sent_seconds, 1),
        "secondsToSettle": round(settle_seconds, 1),
        "reproduce": f"FAULT_EVENTS={FAULT_EVENTS} .venv/bin/python -m pytest tests/faults -s",
    }
    print("\nfault injection:", json.dumps(figures, indent=2), flush=True)

    # Nothing lost, nothing extra, nothing applied twice, the newest data wins.
    assert figures["eventsAccepted"] >= FAULT_EVENTS - INTEGRATIONS
    assert not outcomes.lost, outcomes.lost[:5]
    assert not outcomes.extra, outcomes.extra[:5]
    assert not outcomes.wrong, outcomes.describe_wrong()
    assert not mismatches, mismatches[:10]
    assert not extra_records, extra_records[:10]
    assert not keys_of_no_event, keys_of_no_event[:5]
    assert not second_generation, second_generation[:5]
    assert not reused_keys, reused_keys[:5]
    assert not applied_twice, list(applied_twice.items())[:5]
    # Each fault took effect.
    faults: dict[str, Any] = figures_of_faults
    assert faults["rateLimit"]["answered429"] > 0, "the platform never limited the product"
    assert effects["rateLimitedKeysAppliedLater"] > 0, "no key refused with 429 was retried"
    assert faults["storageDown"]["clientsAnswered503"] > 0, "no request met the storage outage"
    assert faults["queueDown"]["acceptSendsFailed"] > 0, "no send met the queue outage"
    assert set(failed_sends) <= accepted_ids, "an event whose send failed got no 202"
    assert effects["failedSendsSettledRight"] == faults["queueDown"]["acceptSendsFailed"]
    assert effects["appliedThenAnsweredTooLate"] > 0, "no answer came after the timeout"
    assert effects["ofThoseReplayedLater"] > 0, "no call whose answer was lost was replayed"
    assert faults["hostKilled"]["eventsInFlight"] > 0, "the kill hit no event in flight"
    assert effects["inFlightAtKillSettledRight"] == faults["hostKilled"]["eventsInFlight"]
    assert faults["duplicates"]["injected"] > 0
    assert effects["duplicatesLeftInQueue"] == 0, "a duplicate was never delivered"
    assert effects["duplicatesSeenSettledByWorker"] == faults["duplicates"]["injected"]
    assert effects["duplicatesNotFoundByWorker"] == 0
    assert effects["platformCallsByDuplicates"] == 0
    # After the outage the product drains at its own pace, under the platform's limit.
    assert catch_up["peakRequestsPerSecond"] <= RATE_LIMIT
    assert catch_up["rateLimited"] <= 0.01 * catch_up["requests"]

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
