"""Secrets stay out of telemetry: every log line (any logger, any level, with its fields
and traceback) and every span (name, attributes, events, status) recorded while the
services wired by `bootstrap.build` go through a day with secrets of their own. The
platform client is the real one (over an httpx handler), so the platform's API token
is sent as it is in production; that platform quotes the token back in an error, as
some do ("token ... has expired"), which must not carry it into the event either.

The local stack exports no telemetry (Application Insights only, when configured);
`tests/e2e/test_secrets_stay_secret.py` reads its logs, answers and storage.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry
from shared.adapters.platform_http import REDACTED_TOKEN, HttpPlatformClient
from shared.api import http_api
from shared.api.http_api import ApiRequest, ApiResponse
from tests.unit.fakes import World, unit_settings

STOCK = {"action": "inventory.set", "data": {"items": [{"sku": "T-1", "quantity": 1}]}}
PRODUCT = {"action": "product.upsert", "data": {"products": [{"sku": "T-1", "name": "Lamp"}]}}


class Captured(logging.Handler):
    """Every record, as an exporter would see it: message, fields, traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = {k: v for k, v in vars(record).items() if k not in ("msg", "args")}
        text = f"{record.getMessage()} {json.dumps(fields, default=str)}"
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture
def logs() -> Iterator[Captured]:
    root, handler = logging.getLogger(), Captured()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(telemetry, "tracer", provider.get_tracer("integrations"))
    yield memory
    provider.shutdown()


def span_text(span: ReadableSpan) -> str:
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    parts = [span.name, dict(span.attributes or {}), events, span.status.description]
    return json.dumps(parts, default=str)


class Day:
    """Secrets made for this test, and the services using them."""

    def __init__(self) -> None:
        self.secrets = {
            name: f"{name}-{secrets.token_urlsafe(24)}"
            for name in ("admin", "operator", "reader", "platform")
        }
        self.platform_calls = 0

        def platform(request: httpx.Request) -> httpx.Response:
            self.platform_calls += 1
            sent = request.headers["authorization"]
            if self.platform_calls == 1:
                return httpx.Response(200, json={"items": []})
            if self.platform_calls == 2:  # a platform that quotes what it was sent
                message = f"Authorization '{sent}' has expired"
                return httpx.Response(401, json={"message": message, "got": sent})
            return httpx.Response(
                503, text=f"unavailable; you sent {sent}", headers={"x-seen": sent}
            )

        client = HttpPlatformClient(
            "http://platform",
            self.secrets["platform"],
            5,
            transport=httpx.MockTransport(platform),
        )
        settings = unit_settings(
            MANAGEMENT_TOKEN=self.secrets["admin"],
            OPERATOR_TOKEN=self.secrets["operator"],
            READER_TOKEN=self.secrets["reader"],
            PLATFORM_API_TOKEN=self.secrets["platform"],
        )
        self.world = World(settings=settings, platform=client)  # type: ignore[arg-type]

    async def send(
        self, method: str, template: str, token: str, body: Any = None, **params: str
    ) -> ApiResponse:
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        data = json.dumps(body).encode() if body is not None else b""
        request = ApiRequest(method, headers, data, params)
        return await http_api.serve(self.world.services, template, request)

    def leaks(self, text: str) -> list[str]:
        return [name for name, secret in self.secrets.items() if secret in text]


async def a_day(day: Day) -> list[ApiResponse]:
    """Tokens, keys, wrong secrets, and events the platform applies and refuses;
    returns the answers that hand no secret out."""
    admin, reader = day.secrets["admin"], day.secrets["reader"]
    answers = []
    made = await day.send("POST", "v1/integrations", admin, {"name": "ERP", "service": "custom"})
    assert made.status == 201, made.body
    integration = made.body["id"]
    day.secrets["first key"] = made.body["apiKey"]
    rotated = await day.send("POST", "v1/integrations/{id}/regenerate-key", admin, id=integration)
    day.secrets["key"] = key = rotated.body["apiKey"]
    named = await day.send("POST", "v1/tokens", admin, {"name": "ops", "role": "operator"})
    assert named.status == 201, named.body
    day.secrets["named token"] = token = named.body["token"]

    for wrong in (day.secrets["first key"], key[:-2] + "xx", admin):
        answers.append(await day.send("POST", "integrations/custom/inbound", wrong, STOCK))
        assert answers[-1].status == 401, answers[-1].body
    answers.append(await day.send("GET", "v1/me", token[:-3] + "abc"))
    answers.append(await day.send("POST", "v1/integrations", reader, {"name": "x"}))
    assert [a.status for a in answers[-2:]] == [401, 403]

    for body in (PRODUCT, STOCK, STOCK):
        accepted = await day.send("POST", "integrations/custom/inbound", key, body)
        assert accepted.status == 202, accepted.body
        await day.world.deliver()
        event_id = accepted.body["messageId"]
        answers.append(
            await day.send(
                "GET",
                "v1/integrations/{id}/events/{eventId}",
                token,
                id=integration,
                eventId=event_id,
            )
        )
    statuses = [a.body["status"] for a in answers[-3:]]
    assert statuses == ["success", "failed", "failed"], statuses
    answers.append(await day.send("GET", "v1/integrations/{id}/audit", admin, id=integration))
    answers.append(await day.send("GET", "v1/audit", admin))
    return answers


async def test_no_secret_reaches_a_log_line_a_span_or_an_answer(
    logs: Captured, spans: InMemorySpanExporter
) -> None:
    day = Day()
    answers = await a_day(day)
    assert day.platform_calls == 3
    assert logs.lines and spans.get_finished_spans()
    found = {
        "log": [leak for line in logs.lines for leak in day.leaks(line)],
        "span": [leak for s in spans.get_finished_spans() for leak in day.leaks(span_text(s))],
        "answer": [leak for a in answers for leak in day.leaks(json.dumps(a.body))],
    }
    assert found == {"log": [], "span": [], "answer": []}, found
    quoted = json.dumps(answers[-4].body)  # the event whose platform quoted the token
    assert f"Authorization 'Bearer {REDACTED_TOKEN}' has expired" in quoted
    assert REDACTED_TOKEN in json.dumps(answers[-3].body)  # in a header and a text body
