"""The event lifecycle's transitions, message ids and platform idempotency keys."""

from __future__ import annotations

from datetime import timedelta

from shared.domain import lifecycle
from shared.domain.models import ErrorKind, EventStatus, IntegrationEvent, LastError
from shared.domain.retry import RetryPolicy
from tests.unit.fakes import FakeClock, make_event, make_integration

TRANSIENT = LastError(ErrorKind.TRANSIENT, "Could not set stock: 503.", 503)
PERMANENT = LastError(ErrorKind.PERMANENT, "Cannot set stock: SKU 'X' does not exist", 422)
POLICY = RetryPolicy(max_attempts=3, base_delay=10, max_delay=100)
LEASE = timedelta(seconds=300)


def new_event() -> tuple[IntegrationEvent, FakeClock]:
    clock = FakeClock()
    integration, _ = make_integration(clock)
    return make_event(integration, clock), clock


def test_only_queued_or_processing_events_may_run() -> None:
    event, _ = new_event()
    allowed = {status for status in EventStatus if _with(event, status)}
    assert allowed == {EventStatus.QUEUED, EventStatus.PROCESSING}


def _with(event: IntegrationEvent, status: EventStatus) -> bool:
    event.status = status
    return lifecycle.may_process(event)


def test_final_statuses() -> None:
    assert {s for s in EventStatus if s.is_final} == {EventStatus.SUCCESS, EventStatus.SKIPPED}


def test_an_attempt_starts_then_succeeds() -> None:
    event, clock = new_event()
    lifecycle.start_attempt(event, clock(), LEASE)
    assert (event.status, event.attempts, event.processing_started_at) == (
        EventStatus.PROCESSING,
        1,
        clock(),
    )
    event.last_error = TRANSIENT
    lifecycle.succeed(event, {"levels": []}, clock.advance(1))
    assert event.status is EventStatus.SUCCESS
    assert event.result == {"levels": []}
    assert event.last_error is None and event.processing_started_at is None
    assert event.updated_at == clock()


def test_a_permanent_failure_waits_for_a_person() -> None:
    event, clock = new_event()
    lifecycle.start_attempt(event, clock(), LEASE)
    lifecycle.fail(event, PERMANENT, POLICY, clock())
    assert event.status is EventStatus.FAILED
    assert event.next_retry_at is None and not event.dead_lettered
    assert event.last_error == PERMANENT


def test_a_transient_failure_is_retried_later() -> None:
    event, clock = new_event()
    lifecycle.start_attempt(event, clock(), LEASE)
    lifecycle.fail(event, TRANSIENT, POLICY, clock(), retry_after=7)
    assert event.status is EventStatus.FAILED
    assert event.next_retry_at is not None
    assert clock() + timedelta(seconds=7) <= event.next_retry_at <= clock() + timedelta(seconds=10)
    assert not event.dead_lettered


def test_exhausted_transient_failures_are_dead_lettered() -> None:
    event, clock = new_event()
    event.attempts = 2
    lifecycle.start_attempt(event, clock(), LEASE)
    lifecycle.fail(event, TRANSIENT, POLICY, clock())
    assert event.status is EventStatus.FAILED
    assert event.next_retry_at is None and event.dead_lettered
    assert event.last_error is not None
    assert event.last_error.message.startswith(TRANSIENT.message)
    assert "Gave up after 3 attempts" in event.last_error.message
    assert event.last_error.http_status == 503


def test_postponing_counts_no_attempt() -> None:
    event, clock = new_event()
    until = clock() + timedelta(seconds=30)
    lifecycle.postpone(event, until, TRANSIENT, clock())
    assert (event.status, event.attempts, event.next_retry_at) == (EventStatus.FAILED, 0, until)


def test_skip_and_dead_letter() -> None:
    event, clock = new_event()
    lifecycle.skip(event, "superseded", clock())
    assert (event.status, event.skipped_reason, event.next_retry_at) == (
        EventStatus.SKIPPED,
        "superseded",
        None,
    )
    other, _ = new_event()
    other.next_retry_at = clock()
    lifecycle.dead_letter(other, "worker crashed", clock())
    assert other.status is EventStatus.FAILED and other.dead_lettered
    assert other.next_retry_at is None
    assert other.last_error == LastError(ErrorKind.TRANSIENT, "worker crashed", None)


def test_requeue_keeps_the_budget_and_resubmission_resets_it() -> None:
    event, clock = new_event()
    event.attempts, event.dead_lettered = 2, True
    lifecycle.start_attempt(event, clock(), LEASE)
    lifecycle.fail(event, TRANSIENT, RetryPolicy(10, 1, 1), clock())
    retry_at = event.next_retry_at
    assert retry_at is not None
    lifecycle.requeue(event, clock())
    assert (event.status, event.attempts, event.dead_lettered, event.next_retry_at) == (
        EventStatus.QUEUED,
        3,
        True,
        None,
    )
    event.skipped_reason = "superseded"
    lifecycle.requeue(event, clock(), resubmission=True)
    assert (event.attempts, event.dead_lettered, event.resubmissions) == (0, False, 1)
    assert event.skipped_reason is None


def test_first_send_uses_the_event_id_every_re_enqueue_its_own() -> None:
    event, clock = new_event()
    ids = [lifecycle.message_id_for(event)]
    lifecycle.start_attempt(event, clock(), LEASE)
    assert lifecycle.message_id_for(event) == ids[0]  # an attempt is not a send
    lifecycle.fail(event, TRANSIENT, POLICY, clock())
    lifecycle.requeue(event, clock())
    ids.append(lifecycle.message_id_for(event))
    lifecycle.requeue(event, clock(), resubmission=True)
    ids.append(lifecycle.message_id_for(event))
    assert ids[0] == event.id
    assert len(set(ids)) == 3
    assert all(mid.startswith(event.id) for mid in ids)


def test_platform_key_is_shared_by_retries_and_resubmissions_after_unknown_outcomes() -> None:
    """A timeout may have been applied: a person's resubmission after it must keep the
    key, or the platform would apply the change a second time."""
    event, clock = new_event()
    keys = set()
    for _ in range(3):
        lifecycle.start_attempt(event, clock(), LEASE)
        lifecycle.fail(event, TRANSIENT, RetryPolicy(3, 1, 1), clock())
        keys.add(lifecycle.platform_idempotency_key(event))
    assert event.dead_lettered and keys == {event.id}
    lifecycle.requeue(event, clock(), resubmission=True)
    assert lifecycle.platform_idempotency_key(event) == event.id
    lifecycle.dead_letter(event, "worker crashed", clock())
    lifecycle.requeue(event, clock(), resubmission=True)
    assert lifecycle.platform_idempotency_key(event) == event.id


def test_a_resubmission_after_a_rejection_gets_a_fresh_platform_key() -> None:
    """The platform answered 4xx, so nothing was applied: ask the corrected world again
    instead of replaying the stored rejection."""
    event, clock = new_event()
    rejected = LastError(ErrorKind.PERMANENT, "SKU 'X' does not exist", 422)
    lifecycle.start_attempt(event, clock(), LEASE)
    lifecycle.fail(event, rejected, RetryPolicy(3, 1, 1), clock())
    lifecycle.requeue(event, clock(), resubmission=True)
    first = lifecycle.platform_idempotency_key(event)
    lifecycle.start_attempt(event, clock(), LEASE)
    lifecycle.fail(event, rejected, RetryPolicy(3, 1, 1), clock())
    lifecycle.requeue(event, clock(), resubmission=True)
    second = lifecycle.platform_idempotency_key(event)
    assert len({event.id, first, second}) == 3


def test_the_queue_message_points_at_the_event() -> None:
    event, _ = new_event()
    event.session_id = f"{event.integration_id}:inventory:A@*"
    message = lifecycle.queue_message(event, shards=4)
    assert message.message_id == event.id
    assert message.session_id == event.session_id
    assert message.body == {"eventId": event.id, "integrationId": event.integration_id, "shards": 4}
    assert message.properties == {"action": "inventory.set"}


def test_a_postponed_event_is_redelivered_under_a_new_message_id() -> None:
    # Service Bus duplicate detection (PT10M) would drop a re-send under the first id.
    event, clock = new_event()
    first = lifecycle.message_id_for(event)
    lifecycle.postpone(event, clock() + timedelta(seconds=16), TRANSIENT, clock())
    lifecycle.requeue(event, clock.advance(17))
    assert lifecycle.message_id_for(event) != first
