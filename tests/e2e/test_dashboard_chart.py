"""The flow chart of the dashboard, in a real browser (headless Chromium) against the
whole local stack: events pushed with the reference examples (and one that fails) are
drawn as stacked bars in the current minute, with the totals of
`POST /v1/integrations/events/flow`; a longer window is drawn per hour; the chart shows
one integration or all of them, on the Events view and (smaller, hidden on request) on
the Integrations view; times are the viewer's local time; and all of it runs under the
strict Content-Security-Policy of the page.

The stack is this module's own, with FLOW_FLUSH_SECONDS=0: each invocation writes its
counts at once, and "all integrations" holds only this module's events.
The chart is saved as docs/screenshots/flow-chart.png (shown in the README).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from actions.examples import REFERENCE_EXAMPLES
from tests.conftest import ADMIN, READER, Stack, start_stack
from tests.e2e import test_dashboard as base
from tests.e2e.test_dashboard import SLOW, deliver, open_dashboard, screenshot, unique

try:
    from playwright.sync_api import Browser, Locator, Page, Route, expect
except ImportError:  # pragma: no cover (test_dashboard skips the module first)
    pytest.skip("needs Playwright", allow_module_level=True)

browser, pytestmark = base.browser, base.pytestmark
ZONE = "Europe/Oslo"  # not UTC: the times shown must be the viewer's
POLICY = "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'"
SUCCEEDING = ("inventory.set", "product.upsert", "price.set", "customer.upsert")


@pytest.fixture(scope="module")
def flow_stack(private_azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("flow"), private_azurite, FLOW_FLUSH_SECONDS="0")
    yield stack
    stack.stop()


@pytest.fixture
def page(browser: Browser, flow_stack: Stack) -> Iterator[Page]:
    """A fresh tab in Oslo's time zone, served the page under the strict policy; the test
    fails on any script error, any policy violation and any style attribute."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-GB", timezone_id=ZONE
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    def with_policy(route: Route) -> None:
        served = route.fetch()
        route.fulfill(
            response=served, headers={**served.headers, "content-security-policy": POLICY}
        )

    tab.route(f"{flow_stack.api}/dashboard", with_policy)
    yield tab
    # Chromium itself may leave an empty style attribute on a form field (autofill): the
    # charts have none at all, and nothing on the page has a style of its own.
    styled = tab.evaluate(
        "[...document.querySelectorAll('.flow [style], [style]:not([style=\"\"])')]"
        ".map((el) => el.outerHTML.slice(0, 80))"
    )
    context.close()
    assert not errors, f"script errors or policy violations on the page: {errors}"
    assert not styled, f"elements with a style attribute: {styled}"


# --- helpers ------------------------------------------------------------------------
def flow(stack: Stack, hours: float, integration_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"from": iso(datetime.now(UTC) - timedelta(hours=hours))}
    if integration_id:
        body["integrationId"] = integration_id
    answer = stack.call("POST", "/v1/integrations/events/flow", READER, json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def settled(stack: Stack, integration_id: str, received: int) -> dict[str, int]:
    """The flow's totals once every event pushed has been counted with its outcome."""
    deadline = time.monotonic() + 30
    while True:
        totals: dict[str, int] = flow(stack, 1, integration_id)["totals"]
        ins = totals["received"] + totals["resubmitted"]
        outs = sum(totals[s] for s in ("succeeded", "skipped", "failed", "deadLettered"))
        if totals["received"] == received and ins == outs:
            return totals
        assert time.monotonic() < deadline, f"the flow did not settle: {totals}"
        time.sleep(0.2)


def chart_totals(chart: Locator) -> dict[str, int]:
    keys = chart.get_by_test_id("flow-key")
    return {
        str(key.get_attribute("data-step")): int(
            key.get_by_test_id("flow-total").inner_text().replace(",", "")
        )
        for key in keys.all()
    }


def expect_totals(chart: Locator, totals: dict[str, int]) -> None:
    """The legend shows exactly these totals (waiting for the chart to read them)."""
    expect(chart).to_have_attribute("data-state", "ready", timeout=SLOW)
    keys = chart.get_by_test_id("flow-key")
    expect(keys).to_have_count(len(totals))
    for step, n in totals.items():
        total = chart.locator(
            f"[data-testid=flow-key][data-step='{step}'] [data-testid=flow-total]"
        )
        expect(total).to_have_text(f"{n:,}", timeout=SLOW)
    assert chart_totals(chart) == totals


def busy_minutes(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in answer["buckets"] if any(b["counts"].values())]


def local_time(start: str) -> str:
    return datetime.fromisoformat(start).astimezone(ZoneInfo(ZONE)).strftime("%H:%M")


# --- tests --------------------------------------------------------------------------
def test_the_chart_draws_the_flow_of_one_integration_and_of_all(
    flow_stack: Stack, page: Page
) -> None:
    stack = flow_stack
    shop = stack.new_integration(unique("Fjord Furniture ERP"))
    for action in SUCCEEDING:
        deliver(stack, shop, REFERENCE_EXAMPLES[action], "success")
    unknown = {"items": [{"sku": unique("GHOST"), "adjustment": -2, "reason": "Damaged stock"}]}
    deliver(stack, shop, {"action": "inventory.adjust", "data": unknown}, "failed")
    other = stack.new_integration(unique("Harbour POS"))
    deliver(stack, other, REFERENCE_EXAMPLES["customer.upsert"], "success")
    shop_totals = settled(stack, shop["id"], received=5)
    assert shop_totals["succeeded"] == 4 and shop_totals["failed"] == 1, shop_totals
    settled(stack, other["id"], received=1)

    # The events view: this integration, the last hour per minute, the API's totals.
    open_dashboard(page, stack, READER, shop["id"])
    chart = page.get_by_test_id("flow-events")
    expect(chart.get_by_test_id("flow-title")).to_have_text(f"Flow · {shop['name']}")
    expect(chart.get_by_test_id("flow-window")).to_have_value("1h")
    expect(chart.get_by_test_id("flow-scope")).to_have_value("integration")
    expect_totals(chart, flow(stack, 1, shop["id"])["totals"])
    expect(chart).to_have_attribute("data-granularity", "minute")
    expect(chart).to_have_attribute("data-scope", shop["id"])

    # Bars in the current minute (or the one or two before, if the minute just turned).
    answer = flow(stack, 1, shop["id"])
    assert answer["granularity"] == "minute" and len(answer["buckets"]) in (60, 61)
    busy = busy_minutes(answer)
    assert busy and datetime.fromisoformat(busy[-1]["start"]) > datetime.now(UTC) - timedelta(
        minutes=3
    ), busy
    buckets = chart.get_by_test_id("flow-bucket")
    expect(buckets).to_have_count(len(answer["buckets"]))
    for minute in busy:
        drawn = chart.locator(f"[data-testid=flow-bucket][data-start='{minute['start']}']")
        expect(drawn).to_have_attribute("data-total", str(sum(minute["counts"].values())))
        bars = drawn.get_by_test_id("flow-bar")
        steps = [step for step in answer["steps"] if minute["counts"][step]]
        expect(bars).to_have_count(len(steps))
        assert [bar.get_attribute("data-step") for bar in bars.all()] == steps
        assert all(float(str(bar.get_attribute("height"))) > 0 for bar in bars.all())
    newest = chart.locator(f"[data-testid=flow-bucket][data-start='{busy[-1]['start']}']")
    tallest = max(b.bounding_box()["height"] for b in newest.get_by_test_id("flow-bar").all())  # type: ignore[index]
    assert tallest > 3, "a bar of the newest minute is too small to see"

    # Accessible: the chart's name and the summary say the totals; the table has the rows.
    summary = chart.get_by_test_id("flow-summary")
    expect(summary).to_contain_text(f"{shop_totals['received']} received")
    expect(summary).to_contain_text("4 succeeded")
    expect(summary).to_contain_text("1 failed")
    svg = chart.get_by_test_id("flow-svg")
    expect(svg).to_have_attribute("role", "img")
    name = svg.locator("title").first.text_content() or ""
    assert "5 received" in name and "1 failed" in name, name
    chart.get_by_test_id("flow-table").locator("summary").click()
    rows = chart.get_by_test_id("flow-row")
    expect(rows).to_have_count(len(busy))
    first = rows.first
    expect(first.locator("th")).to_contain_text(local_time(busy[-1]["start"]))  # Oslo time
    expect(first.locator("td[data-step='failed']")).to_have_text(str(busy[-1]["counts"]["failed"]))
    screenshot(page, "flow-chart")
    chart.get_by_test_id("flow-table").locator("summary").click()

    # A step hidden from the legend leaves the bars, not the totals.
    received_key = chart.locator("[data-testid=flow-key][data-step='received']")
    received_key.click()
    expect(received_key).to_have_attribute("aria-pressed", "false")
    expect(chart.locator("[data-testid=flow-bar][data-step='received']")).to_have_count(0)
    expect(received_key.get_by_test_id("flow-total")).to_have_text(str(shop_totals["received"]))
    received_key.click()
    expect(chart.locator("[data-testid=flow-bar][data-step='received']")).not_to_have_count(0)

    # 24 hours: per hour, the same totals as the API's for that window.
    chart.get_by_test_id("flow-window").select_option("24h")
    expect(chart).to_have_attribute("data-granularity", "hour", timeout=SLOW)
    day = flow(stack, 24, shop["id"])
    assert day["granularity"] == "hour"
    expect_totals(chart, day["totals"])
    expect(chart.get_by_test_id("flow-bucket")).to_have_count(len(day["buckets"]))
    for label in chart.get_by_test_id("flow-label").all():  # local clock times or days
        assert (label.text_content() or "").strip(), "an empty time label"

    # All integrations: both integrations' events together.
    chart.get_by_test_id("flow-scope").select_option("all")
    expect(chart.get_by_test_id("flow-title")).to_have_text("Flow · all integrations")
    expect(chart).to_have_attribute("data-scope", "all")
    everything = flow(stack, 24)
    assert everything["totals"]["received"] == 6, everything["totals"]
    expect_totals(chart, everything["totals"])

    # A refresh reads the flow again: a new event shows.
    deliver(stack, other, REFERENCE_EXAMPLES["customer.upsert"], "success")
    settled(stack, other["id"], received=2)
    page.get_by_test_id("refresh-now").click()
    expect_totals(chart, flow(stack, 24)["totals"])
    expect(chart.get_by_test_id("flow-summary")).to_contain_text("7 received")

    # The Integrations view: every integration together, smaller, hidden on request.
    page.get_by_test_id("tab-integrations").click()
    overview = page.get_by_test_id("flow-all")
    expect(overview.get_by_test_id("flow-title")).to_have_text("Flow · all integrations")
    expect(overview.get_by_test_id("flow-window")).to_have_value("24h")
    expect_totals(overview, flow(stack, 24)["totals"])
    plot = overview.get_by_test_id("flow-plot").bounding_box()
    events_plot = chart.get_by_test_id("flow-plot")
    assert plot is not None and plot["height"] < 120, plot
    overview.get_by_test_id("flow-toggle").click()
    expect(overview.get_by_test_id("flow-plot")).to_be_hidden()
    expect(overview.get_by_test_id("flow-toggle")).to_have_attribute("aria-expanded", "false")
    overview.get_by_test_id("flow-toggle").click()
    expect(overview.get_by_test_id("flow-svg")).to_be_visible()
    expect(events_plot).to_be_hidden()  # the events view is not shown meanwhile
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280


def test_a_busy_week_is_drawn_to_scale_in_local_time(flow_stack: Stack, page: Page) -> None:
    """A week of traffic per hour (answered by the test, so its shape is known): the
    tallest bar fills the plot, bars are proportional, labels fall on local days, and
    the window asked for is the one chosen."""
    integration = flow_stack.new_integration(unique("Busy week"))
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    steps = ["received", "succeeded", "skipped", "retryScheduled", "failed", "deadLettered"]
    steps.append("resubmitted")
    buckets: list[dict[str, Any]] = []
    for hour in range(168):
        start = end - timedelta(hours=168 - hour)
        busy = 10 + 30 * ((start.hour - 6) % 24 < 12)  # busier by day
        counts = dict.fromkeys(steps, 0) | {
            "received": busy,
            "succeeded": busy - 2,
            "failed": 1 if hour % 7 == 0 else 0,
            "retryScheduled": 2,
        }
        buckets.append({"start": iso(start), "counts": counts})
    buckets[100]["counts"]["received"] = 200  # the tallest
    totals = {s: sum(b["counts"][s] for b in buckets) for s in steps}
    asked: list[dict[str, Any]] = []

    def answer(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        asked.append(body)
        reply = {
            "integrationId": body.get("integrationId"),
            "granularity": "hour",
            "from": iso(end - timedelta(days=7)),
            "to": iso(end),
            "steps": steps,
            "buckets": buckets,
            "totals": totals,
        }
        route.fulfill(status=200, content_type="application/json", body=json.dumps(reply))

    open_dashboard(page, flow_stack, ADMIN, integration["id"])
    page.route("**/v1/integrations/events/flow", answer)
    chart = page.get_by_test_id("flow-events")
    chart.get_by_test_id("flow-window").select_option("7d")
    expect_totals(chart, totals)
    window = datetime.fromisoformat(asked[-1]["from"])
    assert asked[-1]["integrationId"] == integration["id"]
    assert abs(datetime.now(UTC) - window - timedelta(days=7)) < timedelta(minutes=1)

    tallest = chart.locator(f"[data-testid=flow-bucket][data-start='{buckets[100]['start']}']")
    plot = chart.get_by_test_id("flow-plot").bounding_box()
    top = tallest.get_by_test_id("flow-bar").all()
    height = sum(float(str(bar.get_attribute("height"))) for bar in top)
    assert plot is not None and height > plot["height"] * 0.6, (height, plot)
    quiet = chart.locator(f"[data-testid=flow-bucket][data-start='{buckets[1]['start']}']")
    received = quiet.locator("[data-testid=flow-bar][data-step='received']")
    ratio = float(str(received.get_attribute("height"))) / height
    expected = buckets[1]["counts"]["received"] / sum(buckets[100]["counts"].values())
    assert abs(ratio - expected) < 0.01, (ratio, expected)

    # Labels: each local day at its midnight (and noon, if there is room), none elsewhere.
    labels = chart.get_by_test_id("flow-label")
    zone = ZoneInfo(ZONE)
    midnights = {
        b["start"] for b in buckets if datetime.fromisoformat(b["start"]).astimezone(zone).hour == 0
    }
    assert len(midnights) >= 6
    ticks = chart.locator("line.flow-tick")
    expect(ticks).to_have_count(labels.count())
    days = [
        datetime.fromisoformat(s).astimezone(zone).strftime("%a %d").replace(" 0", " ")
        for s in sorted(midnights)
    ]
    texts = labels.all_text_contents()
    assert all(text in days or text == "12:00" for text in texts), (texts, days)
    assert 5 <= len([text for text in texts if text in days]) <= 8, texts
