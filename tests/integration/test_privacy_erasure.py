"""An erasure on Table and Blob storage (Azurite of this module's own): events carrying
a person's e-mail and phone in several places are pushed and processed through the
services as production wires them; after erasing by e-mail and then by phone, every
table and every blob container the account lists is read, and neither value is found
in any form, while the events are still there with their status."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio

from benchmarks.round_trips import HeldMessages
from shared import bootstrap
from shared.adapters.azure_storage import StorageClients
from shared.adapters.table_event_layout import INLINE_PAYLOAD_LIMIT
from shared.config import Settings
from shared.domain.audit import ACCOUNT_TRAIL
from shared.domain.models import EventStatus, Role
from shared.services.auth import Caller
from shared.services.inbound import InboundRequest

pytestmark = pytest.mark.azurite

ADMIN = Caller(Role.ADMIN, "admin:dpo", "203.0.113.9")
TOKEN = secrets.token_hex(4)
EMAIL = f"Anna.{TOKEN}@Example.com"
DIGITS = "4670" + "".join(secrets.choice("0123456789") for _ in range(7))
PHONE = "+" + DIGITS
SPACED = f"+{DIGITS[:2]} {DIGITS[2:4]}-{DIGITS[4:7]} {DIGITS[7:9]} {DIGITS[9:]}"


def forms() -> set[str]:
    """Every form of the two values a scan looks for, in lower case."""
    email = EMAIL.lower()
    return {email, quote(email, safe=""), DIGITS, SPACED.lower()}


def platform(request: httpx.Request) -> httpx.Response:
    """Orders and products apply, a customer without a phone too; a customer with one is
    refused quoting the e-mail and phone, as a platform's message may."""
    body = json.loads(request.content or b"{}")
    if request.url.path.endswith("/orders"):
        customer = body.get("customer", {})
        return httpx.Response(
            201, json={"id": "ord_1", "customerId": "cus_1", "customer": customer}
        )
    if "customers" in request.url.path and "phone" not in body:
        return httpx.Response(200, json={"id": "cus_1", "email": body["email"], "created": True})
    if "customers" in request.url.path:
        message = f"Customer {body.get('email')} has phone {body.get('phone')} on another account"
        return httpx.Response(422, json={"error": "conflict", "message": message})
    items = body.get("products") or body.get("items") or []
    return httpx.Response(200, json={"items": [{"sku": item.get("sku")} for item in items]})


@pytest_asyncio.fixture
async def stack(private_azurite: str) -> AsyncIterator[tuple[bootstrap.Container, HeldMessages]]:
    bus = HeldMessages()
    saved = dict(bootstrap._overrides)
    bootstrap.install_overrides(bus=bus, platform_transport=httpx.MockTransport(platform))
    settings = Settings.model_validate(
        {"AzureWebJobsStorage": private_azurite, "MANAGEMENT_TOKEN": "privacy",
         "PROCESSING_MARK_SECONDS": 60}
    )  # fmt: skip
    services = bootstrap.build(settings)
    try:
        yield services, bus
    finally:
        await services.close()
        bootstrap._overrides.clear()
        bootstrap._overrides.update(saved)


async def push_and_process(
    services: bootstrap.Container, bus: HeldMessages, key: str, document: dict[str, Any], **kw: Any
) -> str:
    accepted = await services.inbound.accept(
        InboundRequest(key, "application/json", json.dumps(document).encode(), **kw)
    )
    await services.worker.handle(json.dumps(bus.sent[-1].body).encode())
    return accepted.message_id


async def scan_everything(connection: str) -> list[str]:
    """Where any form of the values is found: every row of every table, every blob of
    every container, keys and properties alike."""
    storage = StorageClients(Settings.model_validate({"AzureWebJobsStorage": connection}))
    found: list[str] = []
    looked = {"tables": 0, "rows": 0, "blobs": 0}
    try:
        async for table in storage.tables.list_tables():
            looked["tables"] += 1
            async for row in storage.table(table.name).list_entities():
                looked["rows"] += 1
                keys = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"]}
                for name, value in {**row, **keys}.items():
                    text = str(value).lower()
                    where = f"{table.name} {keys['RowKey']} {name}"
                    found += [f"{where}: {form}" for form in forms() if form in text]
        async for container in storage.blobs.list_containers():
            client = storage.blobs.get_container_client(container.name)
            async for name in client.list_blob_names():
                looked["blobs"] += 1
                data = await (await client.download_blob(name)).readall()
                text = (name + data.decode("utf-8", "replace")).lower()
                found += [f"{container.name}/{name}: {form}" for form in forms() if form in text]
    finally:
        await storage.close()
    assert looked["tables"] >= 5 and looked["rows"] and looked["blobs"], looked
    return found


async def test_after_erasing_by_email_and_phone_no_table_or_blob_holds_either(
    stack: tuple[bootstrap.Container, HeldMessages], private_azurite: str
) -> None:
    services, bus = stack
    created = await services.management.create({"service": "custom", "name": "ERP"}, ADMIN)
    key = f"Bearer {created.api_key}"
    customer = {"email": EMAIL, "firstName": "Anna", "lastName": "Svensson", "phone": PHONE}
    line = {"sku": "CHAIR", "quantity": 1, "unitPrice": 4990}
    order = {"externalId": f"ERP-{TOKEN}", "customer": customer, "lineItems": [line]}
    products = [
        {"sku": f"SKU-{n}", "name": "Chair", "description": "x" * 9_000 + f" ask {EMAIL.upper()}"}
        for n in range(4)
    ]
    upsert = {"email": EMAIL, "firstName": "Anna", "phone": SPACED}
    ids = {
        "order": await push_and_process(
            services, bus, key, {"action": "order.create", "data": order},
            idempotency_key=f"order:{EMAIL}",
        ),
        "upsert": await push_and_process(
            services, bus, key, {"action": "customer.upsert", "data": upsert}
        ),
        "customer": await push_and_process(
            services, bus, key,
            {"action": "customer.upsert", "data": {"email": EMAIL, "lastName": "Svensson"}},
        ),
        "products": await push_and_process(
            services, bus, key, {"action": "product.upsert", "data": {"products": products}}
        ),
        # the phone alone, in another person's record: found by the erasure by phone
        "phone only": await push_and_process(
            services, bus, key,
            {"action": "customer.upsert", "data": {"email": "b@example.org", "phone": PHONE}},
        ),
    }  # fmt: skip
    assert len(json.dumps(products)) > INLINE_PAYLOAD_LIMIT  # kept as a blob
    status = {
        name: (await services.queries.detail(created.integration.id, event_id)).event.status
        for name, event_id in ids.items()
    }
    assert status == {
        "order": EventStatus.SUCCESS,
        "upsert": EventStatus.FAILED,
        "customer": EventStatus.SUCCESS,
        "products": EventStatus.SUCCESS,
        "phone only": EventStatus.FAILED,
    }
    # the values are there to be found, in every kind of place
    places = " ".join(await scan_everything(private_azurite))
    for place in ("payload", "lastError", "idempotencyKey", "calls", "error", "payloads/"):
        assert place in places, place
    assert "entityversions" in places

    by_email = await services.privacy.erase({"email": EMAIL.lower()}, ADMIN)
    by_phone = await services.privacy.erase({"phone": SPACED}, ADMIN)

    assert by_email.complete and by_phone.complete
    assert by_email.events_rewritten == 4 and by_email.blobs_rewritten >= 1
    assert by_email.attempts_rewritten >= 2
    assert by_email.other_rows_rewritten >= 1  # the customer's entity version row
    assert by_phone.events_rewritten == 1
    assert await scan_everything(private_azurite) == []
    for name, event_id in ids.items():
        event = (await services.queries.detail(created.integration.id, event_id)).event
        assert event.status == status[name], name
    trail = await services.audit.page(ACCOUNT_TRAIL, None, None)
    assert [entry.after["eventsRewritten"] for entry in trail.entries if entry.after] == [1, 4]
