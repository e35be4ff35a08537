"""Secrets stay secret: a stack of its own, with tokens made for this run, goes through a
whole working day (settings tokens, a named token made and revoked, integration keys
made and rotated, the platform's API token on every platform call, a platform that
fails and one that refuses the data, wrong keys and tokens answered 401, a role and a
scope answered 403, the dashboard, the audit trails, the events in detail). Then
every place a secret could have slipped into is read for each of them:

- every file the stack wrote (its log, Azurite's log and data files, the queue, the
  platform's database), except the local stand-in for Key Vault, which is where the
  integration keys are meant to be;
- every HTTP answer received (bodies and headers), error answers included; the three
  answers that hand a secret out may hold that one secret and no other;
- the audit trails and the events in detail (attempts, masked exchanges);
- every row of every table and every blob of every container in Azurite.

A secret may be found only where it is meant to be: its SHA-256 only in the columns
that hold hashes (`HASH_COLUMNS`), itself nowhere. Each secret is also looked for by a
fragment (its last 24 characters), so a line that cut off a prefix still counts.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from local.azurite import connection_string, start_azurite
from local.processes import stop_all
from tests.conftest import Stack, free_port, start_stack

pytestmark = pytest.mark.e2e

# (table, column) where a secret's SHA-256 is kept, and nowhere else.
HASH_COLUMNS = {
    ("integrations", "keyHash"),  # the integration's current key
    ("apikeys", "PartitionKey"),  # the key index: one point read by the key's hash
    ("tokens", "secretHash"),  # a named management token
}
# The local stand-in for Key Vault (LOCAL_SECRETS_DIR): integration keys live there.
SECRET_STORE = "secrets"
FRAGMENT = 24


def product(sku: str) -> dict[str, Any]:
    products = [{"sku": sku, "name": f"Lamp {sku}", "sellingPrice": 1990}]
    return {"action": "product.upsert", "data": {"products": products}}


def refused_order(external_id: str) -> dict[str, Any]:
    return {
        "action": "order.create",
        "data": {
            "externalId": external_id,
            "customer": {"email": "anna@example.com"},
            "lineItems": [{"sku": "NO-SUCH-SKU", "quantity": 1, "unitPrice": 100}],
        },
    }


@dataclass
class Answer:
    request: str
    status: int
    headers: str
    body: str


@dataclass
class Run:
    """What a day on the stack left behind, and the secrets it used."""

    folder: Path
    azurite: str
    secrets: dict[str, str] = field(default_factory=dict)  # what it is -> the secret
    answers: list[Answer] = field(default_factory=list)
    # Answers that hand a secret out, each allowed that one secret: request -> secret name
    hand_outs: dict[int, str] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)

    def record(self, response: httpx.Response) -> None:
        response.read()
        request = f"{response.request.method} {response.request.url}"
        headers = json.dumps(dict(response.headers))
        self.answers.append(Answer(request, response.status_code, headers, response.text))

    def hands_out(self, name: str, secret: str) -> None:
        """The answer just received is the one time `secret` is shown."""
        self.secrets[name] = secret
        self.hand_outs[len(self.answers) - 1] = name


def found_in(text: str, run: Run, *, hashes_allowed: bool = False) -> list[str]:
    """The secrets (by name) whose value, fragment or (unless allowed) SHA-256 is in `text`."""
    leaks = []
    for name, secret in run.secrets.items():
        if secret in text or secret[-FRAGMENT:] in text:
            leaks.append(name)
        elif not hashes_allowed and hashlib.sha256(secret.encode()).hexdigest() in text:
            leaks.append(f"SHA-256 of {name}")
    return leaks


# --- the day ------------------------------------------------------------------------
def new_secret(label: str) -> str:
    return f"{label}-{secrets.token_urlsafe(24)}"


def event(stack: Stack, run: Run, integration: str, event_id: str) -> dict[str, Any]:
    path = f"/v1/integrations/{integration}/events/{event_id}"
    answer = stack.call("GET", path, run.secrets["reader"])
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for(stack: Stack, run: Run, integration: str, event_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while (found := event(stack, run, integration, event_id))["status"] != status:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def a_day_on_the_stack(stack: Stack, run: Run) -> None:
    admin, operator, reader = (run.secrets[k] for k in ("admin", "operator", "reader"))
    ok = stack.call("GET", "/v1/me", admin)
    assert ok.json()["role"] == "admin", ok.text

    # Integrations and their keys: created (shown once), then rotated (shown once).
    made = stack.call(
        "POST", "/v1/integrations/", admin, json={"service": "custom", "name": "Secret ERP"}
    )
    assert made.status_code == 201, made.text
    run.hands_out("first integration key", made.json()["apiKey"])
    integration = made.json()["id"]
    other = stack.call(
        "POST", "/v1/integrations/", admin, json={"service": "custom", "name": "Other ERP"}
    )
    run.hands_out("other integration's key", other.json()["apiKey"])
    old_key = run.secrets["first integration key"]
    assert stack.push(old_key, product("SEC-1")).status_code == 202
    rotated = stack.call("POST", f"/v1/integrations/{integration}/regenerate-key", admin)
    assert rotated.status_code == 200, rotated.text
    run.hands_out("rotated integration key", rotated.json()["apiKey"])
    key = run.secrets["rotated integration key"]

    # A named token, limited to the first integration.
    body = {"name": "erp-ops", "role": "operator", "integrationIds": [integration]}
    named = stack.call("POST", "/v1/tokens", admin, json=body)
    assert named.status_code == 201, named.text
    run.hands_out("named token", named.json()["token"])
    token, token_id = run.secrets["named token"], named.json()["id"]

    # Wrong keys and tokens: 401, whatever their shape.
    assert stack.push(old_key, product("SEC-2")).status_code == 401  # rotated away
    run.secrets["mistyped key"] = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert stack.push(run.secrets["mistyped key"], product("SEC-2")).status_code == 401
    assert stack.push(admin, product("SEC-2")).status_code == 401  # a token on inbound
    assert stack.call("GET", "/v1/me", key).status_code in (401, 403)  # a key on management
    run.secrets["unknown token"] = token[: -FRAGMENT - 8] + secrets.token_urlsafe(24)
    assert stack.call("GET", "/v1/me", run.secrets["unknown token"]).status_code == 401
    basic = {"Authorization": f"Basic {admin}"}
    assert stack.http.get(f"{stack.api}/v1/me", headers=basic).status_code == 401

    # Roles and scopes: 403.
    assert stack.call("POST", "/v1/integrations/", reader, json={"name": "x"}).status_code == 403
    foreign = f"/v1/integrations/{other.json()['id']}"
    assert stack.call("GET", foreign, token).status_code == 403
    assert stack.call("GET", "/v1/audit", operator).status_code == 403

    # Events: one applied, one the platform refuses (422), one through a failing
    # platform (500, then a retry that works).
    applied = stack.push(key, product("SEC-3")).json()["messageId"]
    refused = stack.push(key, refused_order("SEC-ORDER-1")).json()["messageId"]
    stack.faults(errorRate=1.0)
    flaky = stack.push(key, product("SEC-4")).json()["messageId"]
    wait_for(stack, run, integration, flaky, "failed")
    stack.faults(errorRate=0.0)
    wait_for(stack, run, integration, flaky, "success")
    wait_for(stack, run, integration, applied, "success")
    wait_for(stack, run, integration, refused, "failed")
    sent = stack.http.get(
        f"{stack.api}/integrations/custom/events/{applied}",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert sent.status_code == 200, sent.text

    # The named token resubmits the refused order, reads, and is revoked.
    retried = stack.call("POST", f"/v1/integrations/{integration}/events/{refused}/retry", token)
    assert retried.status_code in (200, 202), retried.text
    wait_for(stack, run, integration, refused, "failed")
    filtered = stack.call(
        "POST", "/v1/integrations/events/filter", token, json={"integrationId": integration}
    )
    assert len(filtered.json()["events"]) == 4, filtered.text
    assert stack.call("DELETE", f"/v1/tokens/{token_id}", admin).status_code == 200
    assert stack.call("GET", "/v1/me", token).status_code == 401
    assert stack.call("GET", "/v1/tokens", admin).status_code == 200

    # The dashboard, the trails and every event in detail.
    assert stack.http.get(f"{stack.api}/dashboard").status_code == 200
    assert stack.http.get(f"{stack.api}/dashboard/dashboard.js").status_code == 200
    for path in (f"/v1/integrations/{integration}/audit", "/v1/audit"):
        trail = stack.call("GET", path, admin)
        assert trail.status_code == 200, trail.text
        run.audit.extend(trail.json()["entries"])
    for event_id in (applied, refused, flaky):
        run.details.append(event(stack, run, integration, event_id))
    # The disabled integration's key gets 403.
    off = stack.call("PATCH", f"/v1/integrations/{integration}", admin, json={"enabled": False})
    assert off.status_code == 200, off.text
    assert stack.push(key, product("SEC-5")).status_code == 403


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The day, on a stack and an Azurite of its own; the stack is stopped before the
    tests read (so every log line is written), Azurite answers until they are done."""
    folder = tmp_path_factory.mktemp("secrets-stack")
    blob_port, table_port = free_port(), free_port()
    storage = start_azurite(folder / "azurite", blob_port, table_port)
    azurite = connection_string(blob_port, table_port)
    day = Run(folder, azurite)
    for name in ("admin", "operator", "reader", "platform"):
        day.secrets[name] = new_secret(name)
    try:
        stack = start_stack(
            folder,
            azurite,
            MANAGEMENT_TOKEN=day.secrets["admin"],
            OPERATOR_TOKEN=day.secrets["operator"],
            READER_TOKEN=day.secrets["reader"],
            PLATFORM_API_TOKEN=day.secrets["platform"],
        )
        stack.http = httpx.Client(timeout=30, event_hooks={"response": [day.record]})
        try:
            a_day_on_the_stack(stack, day)
        finally:
            stack.stop()
        yield day
    finally:
        if storage:
            stop_all([storage], grace_seconds=2)


# --- where secrets must not be ------------------------------------------------------
def test_no_file_the_stack_wrote_holds_a_secret(run: Run) -> None:
    files = [
        path
        for path in run.folder.rglob("*")
        if path.is_file() and path.relative_to(run.folder).parts[0] != SECRET_STORE
    ]
    names = {path.name for path in files}
    assert {"stack.log", "azurite.log", "queue.db", "sandbox.db"} <= names, names
    log = (run.folder / "stack.log").read_text()
    assert "Service Bus trigger settings" in log  # the host's own lines are in it
    leaks = {}
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        # Azurite's data files hold the table rows, hash columns included: the rows
        # are read column by column below.
        data = path.parent.name == "azurite" and path.name != "azurite.log"
        found = found_in(text, run, hashes_allowed=data or path.suffix != ".log")
        if found:
            leaks[str(path.relative_to(run.folder))] = found
    assert not leaks, leaks


def test_the_key_store_is_where_the_keys_are(run: Run) -> None:
    """The scan above skips the Key Vault stand-in; it holds the current keys (so the
    scan's own test, finding a secret where it is, works) and no token."""
    stored = "".join(p.read_text() for p in (run.folder / SECRET_STORE).iterdir())
    assert run.secrets["rotated integration key"] in stored
    assert run.secrets["admin"] not in stored and run.secrets["named token"] not in stored


def test_no_answer_holds_a_secret_but_the_one_it_hands_out(run: Run) -> None:
    statuses = {answer.status for answer in run.answers}
    assert {200, 201, 202, 401, 403} <= statuses, statuses
    assert len(run.hand_outs) == 4
    leaks = {}
    for index, answer in enumerate(run.answers):
        found = found_in(answer.body + answer.headers, run)
        if index in run.hand_outs:
            assert run.hand_outs[index] in found, answer  # it did hand its secret out
            found.remove(run.hand_outs[index])
        if found:
            leaks[f"{answer.request} -> {answer.status}"] = found
    assert not leaks, leaks


def test_the_audit_trails_name_who_acted_without_their_secrets(run: Run) -> None:
    actions = {entry["action"] for entry in run.audit}
    assert {"integration.created", "key.regenerated", "event.resubmitted"} <= actions, actions
    assert {"token.created", "token.revoked"} <= actions, actions
    text = json.dumps(run.audit)
    assert "erp-ops" in text  # the named token is named, by its name
    assert not found_in(text, run)


def test_events_in_detail_show_the_platform_calls_without_the_platform_token(run: Run) -> None:
    calls = [
        call
        for event in run.details
        for attempt in event["attemptLog"]
        for call in attempt["calls"]
    ]
    assert len(calls) >= 4  # applied, refused, refused again, failed then applied
    assert {call["status"] for call in calls} >= {200, 422, 503}  # 503: the failing platform
    sent = [{k.lower(): v for k, v in call["request"]["headers"].items()} for call in calls]
    assert all(
        "authorization" not in headers or run.secrets["platform"] not in headers["authorization"]
        for headers in sent
    )
    assert not found_in(json.dumps(run.details), run)


def test_no_row_or_blob_in_storage_holds_a_secret(run: Run) -> None:
    leaks: dict[str, list[str]] = {}
    hashes = {hashlib.sha256(s.encode()).hexdigest(): name for name, s in run.secrets.items()}
    kept_hashes = set()
    tables = TableServiceClient.from_connection_string(run.azurite)
    names = [table.name for table in tables.list_tables()]
    assert {"integrations", "apikeys", "tokens", "events"} <= set(names), names
    for name in names:
        for row in tables.get_table_client(name).list_entities():
            for column, value in row.items():
                text = json.dumps(value, default=str)
                found = found_in(text, run, hashes_allowed=(name, column) in HASH_COLUMNS)
                if found:
                    leaks[f"{name} {row.get('PartitionKey')}/{row.get('RowKey')} {column}"] = found
                if (name, column) in HASH_COLUMNS and value in hashes:
                    kept_hashes.add(hashes[value])
    blobs = BlobServiceClient.from_connection_string(run.azurite)
    for container in blobs.list_containers():
        client = blobs.get_container_client(container.name)
        for blob in client.list_blobs():
            content = client.download_blob(blob.name).readall()
            found = found_in(content.decode("utf-8", errors="replace"), run)
            if found:
                leaks[f"blob {container.name}/{blob.name}"] = found
    assert not leaks, leaks
    # The hashes are where authentication looks for them: the current key's and the
    # named token's (the first key's hash was removed when it was rotated).
    assert {"rotated integration key", "named token"} <= kept_hashes, kept_hashes
    assert "first integration key" not in kept_hashes
