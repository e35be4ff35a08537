"""Erasing a person's data: events, attempts, other rows and blobs rewritten, the
delivery state kept, the erasure audited without the value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.domain.audit import ACCOUNT_TRAIL
from shared.domain.erasure import ERASED, ERASED_KEY, ErasureTarget, redact
from shared.domain.errors import Conflict, ValidationFailed
from shared.domain.models import EventStatus
from tests.unit.fakes import ADMIN, World

EMAIL = "Anna.Svensson@Example.com"
PHONE = "+46701234567"


def order(email: str = EMAIL, phone: str = PHONE, ref: str = "ERP-ORDER-789") -> dict[str, Any]:
    customer = {"email": email, "firstName": "Anna", "lastName": "Svensson", "phone": phone}
    line = {"sku": "CHAIR-UNO-BLK", "quantity": 1, "unitPrice": 4990}
    return {
        "action": "order.create",
        "data": {"externalId": ref, "customer": customer, "lineItems": [line]},
    }


def upsert(email: str = EMAIL) -> dict[str, Any]:
    data = {"email": email, "firstName": "Anna", "phone": PHONE}
    return {"action": "customer.upsert", "data": data}


def stock() -> dict[str, Any]:
    item = {"sku": "CHAIR-UNO-BLK", "quantity": 42, "warehouseId": "wh-01"}
    return {"action": "inventory.set", "data": {"items": [item]}}


def holds_person(value: Any, masked_too: bool = True) -> bool:
    """Whether any form of EMAIL or PHONE is in the value's JSON text."""
    text = json.dumps(value, default=str).lower()
    forms = {EMAIL.lower(), PHONE, "46701234567", "a***@example.com", "+46*******67"}
    if not masked_too:
        forms -= {"a***@example.com", "+46*******67"}
    return any(form.lower() in text for form in forms)


async def world_with_events() -> tuple[World, dict[str, str]]:
    """An order (succeeded), a customer upsert the platform refused quoting the
    e-mail and phone (failed, for a person), an unrelated stock event (succeeded), and
    another person's order (succeeded)."""
    world = World()
    _, key = await world.integration()
    ids = {}
    ids["order"] = await world.push(key, order())
    world.platform.answer(
        201, {"id": "ord_1", "customerId": "cus_1", "customer": {"email": EMAIL.lower()}}
    )
    await world.deliver()
    ids["upsert"] = await world.push(key, upsert())
    world.platform.answer(
        422,
        {"message": f"Customer {EMAIL} has phone {PHONE} registered to another customer"},
    )
    await world.deliver()
    ids["stock"] = await world.push(key, stock())
    world.platform.answer(200, {"ok": True})
    await world.deliver()
    ids["other"] = await world.push(
        key, order("joanna@example.com", "+46709999999", ref="ERP-ORDER-790")
    )
    world.platform.answer(201, {"id": "ord_2"})
    await world.deliver()
    return world, ids


async def test_an_erasure_by_email_rewrites_every_event_and_attempt_carrying_it() -> None:
    world, ids = await world_with_events()
    before = {name: world.event(event_id) for name, event_id in ids.items()}
    assert holds_person(await world.attempts(ids["upsert"]))

    report = await world.privacy.erase({"email": "  anna.svensson@EXAMPLE.com "}, ADMIN)

    assert (report.events_rewritten, report.attempts_rewritten) == (2, 2)
    assert report.complete and report.events_scanned == 4
    for name in ("order", "upsert"):
        event = world.event(ids[name])
        assert not holds_person(event.payload) and not holds_person(event.to_json())
        assert not holds_person([a.to_json() for a in await world.attempts(ids[name])])
        assert event.payload is not None and ERASED_KEY in event.payload
        # its place in its life is as it was
        for field in ("status", "attempts", "next_retry_at", "dead_lettered", "created_at"):
            assert getattr(event, field) == getattr(before[name], field)
    customer = world.event(ids["order"]).payload["data"]["customer"]  # type: ignore[index]
    assert customer == {f: ERASED for f in ("email", "firstName", "lastName", "phone")}
    order_data = world.event(ids["order"]).payload["data"]  # type: ignore[index]
    assert order_data["externalId"] == "ERP-ORDER-789" and order_data["lineItems"]
    failed = world.event(ids["upsert"])
    assert failed.status is EventStatus.FAILED and failed.last_error is not None
    assert ERASED in failed.last_error.message
    # the phone went too: it stood next to the e-mail in the platform's message
    assert "46701234567" not in failed.last_error.message
    # others' data stays
    assert world.event(ids["stock"]) == before["stock"]
    assert world.event(ids["other"]).payload == before["other"].payload


async def test_an_erasure_by_phone_matches_any_formatting() -> None:
    world, ids = await world_with_events()

    report = await world.privacy.erase({"phone": "+46 (70) 123-45 67"}, ADMIN)

    assert report.events_rewritten == 2
    assert not holds_person(world.event(ids["order"]).payload)
    assert not holds_person(world.event(ids["upsert"]).to_json(), masked_too=False)


def test_a_target_matches_forms_and_not_longer_addresses() -> None:
    target = ErasureTarget.of("anna@example.com", "0046 70-123 45 67")
    text = (
        "ANNA@EXAMPLE.COM, /c/anna%40example.com, joanna@example.com, anna@example.com.au, "
        "call 46701234567 or +46 70 123 45 67; order 789"
    )
    assert target.redact_text(text) == (
        f"{ERASED}, /c/{ERASED}, joanna@example.com, anna@example.com.au, "
        f"call {ERASED} or {ERASED}; order 789"
    )
    assert redact({"contact": {"tel": 46701234567}}, target) == (
        {"contact": {"tel": ERASED}},
        True,
    )


async def test_an_event_on_its_way_is_refused_and_nothing_is_written() -> None:
    world, ids = await world_with_events()
    _, key = await world.integration()
    queued = await world.push(key, upsert())
    as_stored = world.event(ids["order"])

    with pytest.raises(Conflict) as refused:
        await world.privacy.erase({"email": EMAIL}, ADMIN)

    assert queued in refused.value.message and "queued" in refused.value.message
    assert world.event(ids["order"]).payload == as_stored.payload
    assert world.jobs.trail(ACCOUNT_TRAIL) == []


async def test_an_erased_event_sent_again_fails_for_good_without_a_platform_call() -> None:
    world, ids = await world_with_events()
    await world.privacy.erase({"email": EMAIL}, ADMIN)
    calls = len(world.platform.calls)
    world.events.change(ids["upsert"], status=EventStatus.QUEUED)  # a person resubmitted it

    status = await world.deliver(world.messages_for(ids["upsert"])[-1])

    assert status == "failed" and len(world.platform.calls) == calls
    event = world.event(ids["upsert"])
    assert event.last_error is not None and "erased" in event.last_error.message
    assert event.next_retry_at is None


async def test_the_erasure_is_audited_with_counts_and_without_the_value() -> None:
    world, ids = await world_with_events()

    report = await world.privacy.erase({"email": EMAIL, "phone": PHONE}, ADMIN)

    (entry,) = world.jobs.trail(ACCOUNT_TRAIL)
    assert entry.actor == ADMIN.actor and entry.after is not None
    assert entry.after["eventsRewritten"] == report.events_rewritten == 2
    assert set(entry.event_ids) == {ids["order"], ids["upsert"]}
    assert set(entry.after["fingerprints"]) == {"email", "phone"}
    assert not holds_person(entry.to_json(), masked_too=False)
    assert not holds_person(report.to_json(), masked_too=False)


async def test_other_rows_and_blobs_are_rewritten_or_deleted() -> None:
    world, _ = await world_with_events()
    store = world.personal_data
    store.tables["entityversions"] = {
        ("int~a", "digest1"): {"key": f"customer:{EMAIL.lower()}", "version": "v1"},
        ("int~b", "digest2"): {"key": "customer:joanna@example.com", "version": "v1"},
    }
    store.tables["jobs"] = {
        ("int", "job_1"): {"filter": json.dumps({"entityId": EMAIL}), "status": "completed"},
    }
    store.tables["oddity"] = {(f"p~{EMAIL}", "r"): {"n": 1}}
    store.blob_store[("payloads", "int/orphan.json")] = json.dumps(order())
    store.blob_store[("payloads", "int/other.json")] = json.dumps(stock())

    report = await world.privacy.erase({"email": EMAIL}, ADMIN)

    assert (report.other_rows_rewritten, report.other_rows_deleted) == (2, 1)
    assert report.blobs_rewritten == 1
    assert store.tables["entityversions"][("int~a", "digest1")] == {
        "key": f"customer:{ERASED}",
        "version": "v1",
    }
    assert json.loads(store.tables["jobs"][("int", "job_1")]["filter"]) == {"entityId": ERASED}
    assert store.tables["oddity"] == {}
    orphan = json.loads(store.blob_store[("payloads", "int/orphan.json")])
    assert orphan["data"]["customer"]["firstName"] == ERASED
    assert not holds_person(list(store.blob_store.values()))
    assert not holds_person([list(rows.items()) for rows in store.tables.values()])
    assert store.blob_store[("payloads", "int/other.json")] == json.dumps(stock())


async def test_a_second_erasure_finds_nothing_left() -> None:
    world, _ = await world_with_events()
    await world.privacy.erase({"email": EMAIL, "phone": PHONE}, ADMIN)

    again = await world.privacy.erase({"email": EMAIL, "phone": PHONE}, ADMIN)

    assert (again.events_rewritten, again.attempts_rewritten, again.blobs_rewritten) == (0, 0, 0)
    assert len(world.jobs.trail(ACCOUNT_TRAIL)) == 2  # each erasure is recorded


async def test_a_large_payload_kept_as_a_blob_is_counted() -> None:
    world = World()
    _, key = await world.integration()
    products = [
        {"sku": f"SKU-{n}", "name": "Chair", "description": ("x" * 9_000) + f" ask {EMAIL}"}
        for n in range(4)
    ]
    event_id = await world.push(key, {"action": "product.upsert", "data": {"products": products}})
    world.platform.answer(200, {"ok": True})
    await world.deliver()

    report = await world.privacy.erase({"email": EMAIL}, ADMIN)

    assert (report.events_rewritten, report.blobs_rewritten) == (1, 1)
    assert not holds_person(world.event(event_id).payload)


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({}, "body"),
        ({"email": "not-an-address"}, "email"),
        ({"phone": "12 34"}, "body"),
        ({"phone": "call me"}, "phone"),
        ({"email": EMAIL, "name": "Anna"}, "name"),
        ([EMAIL], "body"),
    ],
)
async def test_a_request_that_names_no_one_clearly_is_refused(document: Any, path: str) -> None:
    world = World()
    with pytest.raises(ValidationFailed) as refused:
        await world.privacy.erase(document, ADMIN)
    assert refused.value.details and refused.value.details[0].path == path
    assert world.jobs.trail(ACCOUNT_TRAIL) == []


async def test_an_attempt_under_way_when_its_event_is_erased_does_not_write_the_data_back() -> None:
    world, ids = await world_with_events()
    await world.privacy.erase({"email": EMAIL}, ADMIN)
    erased = world.event(ids["upsert"]).payload
    # The upsert is sent again with its data as it was (a retry read just before the
    # erasure): the erasure lands while the attempt runs.
    world.events.change(ids["upsert"], status=EventStatus.QUEUED, payload=upsert())
    world.events.after_get.append(lambda: world.events.change(ids["upsert"], payload=erased))
    world.platform.answer(201, {"id": "cus_1", "email": EMAIL})

    await world.deliver(world.messages_for(ids["upsert"])[-1])

    event = world.event(ids["upsert"])
    assert event.payload == erased and not holds_person(event.to_json())
    assert event.status is EventStatus.FAILED and event.last_error is not None
    assert "erased" in event.last_error.message
