"""The operations dashboard in a real browser (headless Chromium driven by Playwright)
against the whole local stack: find a failed ERP order, understand why in plain words,
fix the cause and resubmit it; a reader may look but not resubmit; bulk resubmission
of a filtered set shows its progress.

The main views are saved as screenshots under docs/screenshots/ (shown in the README).
Chromium is Debian's (`scripts/install-browser.sh`); Playwright's own browsers are not
used, so nothing is downloaded at test time.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN, OPERATOR, READER, Stack

try:
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("needs Playwright: pip install -r requirements-dev.txt", allow_module_level=True)

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLOW = 30_000  # ms: long enough for a delivery plus one auto-refresh of the page

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="needs Debian's chromium at /usr/bin/chromium (run scripts/install-browser.sh); "
        "in CI (CI set) these tests run and fail instead",
    ),
]


# --- browser ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (own sessionStorage) that fails the test on any script error."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-GB", timezone_id="UTC"
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def count(page: Page, status: str) -> Locator:
    """The number on a status tile (`all`, `failed`, ...)."""
    return page.get_by_test_id(f"count-{status}").locator(".n")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)  # let the last render settle (chips, fonts)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def open_dashboard(page: Page, stack: Stack, token: str, integration_id: str) -> None:
    """As an operator would: the link with #token=, then pick the integration."""
    page.goto(f"{stack.api}/dashboard#token={token}")
    select = page.get_by_test_id("integration-select")
    expect(select.locator(f"option[value='{integration_id}']")).to_have_count(1)
    select.select_option(integration_id)
    rows = page.locator(f"tbody[data-integration-id='{integration_id}']")
    expect(rows).to_have_count(1)  # the list now shows this integration's events


# --- data ---------------------------------------------------------------------------
def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def named_token(stack: Stack, name: str, role: str, **fields: Any) -> str:
    """A named management token's secret, made by the settings' admin (POST /v1/tokens):
    the audit trail names whoever uses it by `name`."""
    made = stack.call("POST", "/v1/tokens", ADMIN, json={"name": name, "role": role, **fields})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def deliver(
    stack: Stack, integration: dict[str, str], body: dict[str, Any], outcome: str
) -> dict[str, Any]:
    accepted = stack.push(integration["apiKey"], body)
    assert accepted.status_code == 202, accepted.text
    event = stack.wait_for(integration["id"], accepted.json()["messageId"], ("success", "failed"))
    assert event["status"] == outcome, event
    return dict(event)


def order_create(external_id: str, sku: str) -> dict[str, Any]:
    return {
        "action": "order.create",
        "data": {
            "externalId": external_id,
            "customer": {"email": "anna@example.com", "firstName": "Anna", "lastName": "Svensson"},
            "lineItems": [{"sku": sku, "quantity": 1, "unitPrice": 4990}],
        },
    }


def product_upsert(*skus: str, price: int | None = 1990) -> dict[str, Any]:
    """Products; with `price=None` they carry none and leave the price to price.set."""
    price_field = {} if price is None else {"sellingPrice": price}
    products = [{"sku": sku, "name": f"Lamp {sku}", **price_field} for sku in skus]
    return {"action": "product.upsert", "data": {"products": products}}


def stock(sku: str, quantity: int) -> dict[str, Any]:
    items = [{"sku": sku, "quantity": quantity, "warehouseId": "wh-01"}]
    return {"action": "inventory.set", "data": {"items": items}}


def price(sku: str) -> dict[str, Any]:
    return {"action": "price.set", "data": {"items": [{"sku": sku, "sellingPrice": 2490}]}}


# --- tests --------------------------------------------------------------------------
def test_operator_finds_failed_erp_order_understands_it_and_resubmits_it(
    stack: Stack, page: Page
) -> None:
    integration = stack.new_integration("Northwind ERP")
    chair, lamp, order_id = unique("CHAIR"), unique("LAMP"), unique("ERP-ORDER")
    deliver(stack, integration, stock(chair, 42), "success")
    deliver(stack, integration, product_upsert(chair), "success")
    deliver(stack, integration, price(chair), "success")
    failed = deliver(stack, integration, order_create(order_id, lamp), "failed")
    why = f"Cannot create order {order_id}: SKU '{lamp}' does not exist"
    assert why in failed["lastError"]["message"]

    # Dana has a token of her own: the audit trail names her by it.
    dana = named_token(stack, "dana.ops", "operator")
    open_dashboard(page, stack, dana, integration["id"])
    expect(page.get_by_test_id("who")).to_have_text("dana.ops · operator")
    # The token was taken from the URL and removed from the address bar at once.
    assert "token" not in page.url
    assert page.evaluate("sessionStorage.length") >= 1
    rows = page.get_by_test_id("event-row")
    expect(rows).to_have_count(4)
    expect(count(page, "failed")).to_have_text("1")
    expect(count(page, "success")).to_have_text("3")
    screenshot(page, "event-list")

    # Filter: only failed events; the failed order is there, its reason readable in the row.
    page.get_by_test_id("status-filter").select_option("failed")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_have_attribute("data-status", "failed")
    expect(row).to_contain_text("order.create")
    expect(row.get_by_test_id("row-error")).to_contain_text(why)

    # Drill in: the reason in plain words, the attempt, the masked exchange.
    row.get_by_test_id("open-event").click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_be_visible()
    expect(detail.get_by_role("heading", level=2)).to_contain_text(f"Order {order_id}")
    error = detail.get_by_test_id("detail-error")
    expect(error).to_contain_text("The platform rejected this data")
    expect(detail.get_by_test_id("detail-error-message")).to_contain_text(why)
    expect(error).to_contain_text("product.upsert")  # what to do about a missing SKU
    expect(detail.get_by_test_id("attempt")).to_have_count(1)
    expect(detail.get_by_test_id("call")).to_contain_text("POST /v1/orders")
    expect(detail.get_by_test_id("call-response")).to_contain_text("unknown_sku")
    assert "anna@example.com" not in detail.inner_text()  # personal data stays masked
    screenshot(page, "event-detail-error")

    # Fix the cause (the product now exists), then resubmit with one click.
    deliver(stack, integration, product_upsert(lamp), "success")
    detail.get_by_test_id("detail-retry").click()
    expect(page.get_by_test_id("retry-accepted")).to_be_visible()
    expect(detail.get_by_test_id("detail-status")).to_have_text("success", timeout=SLOW)
    expect(detail.get_by_test_id("detail-success")).to_contain_text("after 1 resubmission")
    expect(detail.get_by_test_id("attempt").last).to_contain_text("success")
    expect(detail.get_by_test_id("detail-result")).to_contain_text(order_id)
    expect(count(page, "success")).to_have_text("5", timeout=SLOW)
    expect(count(page, "failed")).to_have_text("0")
    page.get_by_test_id("count-all").click()  # back to every event: the order is a success now
    expect(page.locator(f"[data-event-id='{failed['id']}']")).to_have_attribute(
        "data-status", "success"
    )
    screenshot(page, "event-after-retry")

    event = stack.event(integration["id"], failed["id"])
    assert event["status"] == "success" and event["resubmissions"] == 1
    audit = stack.admin("GET", f"/v1/integrations/{integration['id']}/audit").json()
    assert any(
        entry["actor"] == "dana.ops" and failed["id"] in entry["eventIds"]
        for entry in audit["entries"]
    ), audit


def test_reader_token_may_look_but_retry_shows_the_403_message(stack: Stack, page: Page) -> None:
    integration = stack.new_integration("Reader check")
    failed = deliver(stack, integration, price(unique("GHOST")), "failed")

    open_dashboard(page, stack, READER, integration["id"])
    page.get_by_test_id("event-row").first.get_by_test_id("open-event").click()
    detail = page.get_by_test_id("detail")
    expect(detail.get_by_test_id("detail-error-message")).to_contain_text("does not exist")
    detail.get_by_test_id("detail-retry").click()

    refused = page.get_by_test_id("forbidden")
    expect(refused).to_be_visible()
    expect(refused).to_contain_text("This needs the operator role; your token has reader.")
    expect(refused.get_by_role("button", name="Use another token")).to_be_visible()
    event = stack.event(integration["id"], failed["id"])
    assert event["status"] == "failed" and event["resubmissions"] == 0

    # Offered a different token, the person signs in again as an operator.
    refused.get_by_role("button", name="Use another token").click()
    expect(page.get_by_test_id("auth-message")).to_be_visible()
    page.get_by_test_id("token-input").fill(OPERATOR)
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("event-row")).to_have_count(1)


def test_sign_in_refuses_an_unknown_token_then_accepts_a_good_one(stack: Stack, page: Page) -> None:
    page.goto(f"{stack.api}/dashboard")
    expect(page.get_by_test_id("token-form")).to_be_visible()
    page.get_by_label("Management token").fill("not-a-token")
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("auth-message")).to_contain_text(
        "The management token is not valid."
    )
    page.get_by_label("Management token").fill(READER)
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("view-events")).to_be_visible()  # with or without integrations
    assert page.evaluate("sessionStorage.getItem('integrations.dashboard.token')") == READER
    assert page.evaluate("localStorage.length") == 0  # never kept beyond the tab


def test_bulk_retry_of_a_filtered_set_shows_progress(stack: Stack, page: Page) -> None:
    integration = stack.new_integration("Bulk price import")
    skus = [unique("PRICE") for _ in range(3)]
    for sku in skus:
        deliver(stack, integration, price(sku), "failed")
    other = deliver(stack, integration, order_create(unique("ERP-ORDER"), unique("NONE")), "failed")

    open_dashboard(page, stack, OPERATOR, integration["id"])
    expect(count(page, "failed")).to_have_text("4")
    page.get_by_test_id("action-filter").select_option("price.set")
    rows = page.get_by_test_id("event-row")
    expect(rows).to_have_count(3)

    # The products now exist (without prices: a product's own price is newer than the
    # failed price.set events and would rightly win over them); resubmit them at once.
    deliver(stack, integration, product_upsert(*skus, price=None), "success")
    page.get_by_test_id("bulk-retry").click()
    dialog = page.get_by_test_id("bulk-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("bulk-summary")).to_contain_text("Action: price.set")
    dialog.get_by_test_id("bulk-confirm").click()

    job = page.get_by_test_id("job")
    expect(job).to_be_visible()
    expect(job.get_by_test_id("job-status")).to_have_text("completed", timeout=SLOW)
    expect(job.get_by_test_id("job-progress")).to_contain_text(re.compile(r"^3 resubmitted"))
    for index in range(3):
        expect(rows.nth(index)).to_have_attribute("data-status", "success", timeout=SLOW)
    screenshot(page, "bulk-retry")

    # The order outside the filter was left alone.
    assert stack.event(integration["id"], other["id"])["status"] == "failed"


def test_data_from_the_api_is_shown_as_text_never_run_as_html(stack: Stack, page: Page) -> None:
    integration = stack.new_integration("<b>Escaping</b> check")
    hostile = '<img src=x onerror="window.__pwned=1">'
    body = {"action": "order.update", "entityId": hostile, "data": {"status": "shipped"}}
    failed = deliver(stack, integration, body, "failed")

    open_dashboard(page, stack, READER, integration["id"])
    row = page.get_by_test_id("event-row").first
    expect(row).to_contain_text(hostile)
    expect(page.get_by_test_id("integration-select")).to_contain_text("<b>Escaping</b> check")
    row.get_by_test_id("open-event").click()
    expect(page.get_by_test_id("detail-error-message")).to_contain_text(hostile)
    expect(page.get_by_test_id("detail")).to_contain_text(str(failed["id"]))
    assert page.locator("img, b").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_the_page_loads_its_stylesheet_and_script_from_the_product(
    stack: Stack, page: Page
) -> None:
    html = stack.http.get(f"{stack.api}/dashboard").text
    assert "<style" not in html.lower()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.IGNORECASE | re.DOTALL)
    assert scripts, "the page loads no script"
    assert all("src=" in attributes and not code.strip() for attributes, code in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), "an inline event handler"

    served: dict[str, str] = {}
    page.on("response", lambda answer: served.update({answer.url: answer.headers["content-type"]}))
    page.goto(f"{stack.api}/dashboard")
    expect(page.get_by_test_id("token-form")).to_be_visible()  # the script ran
    background = "getComputedStyle(document.documentElement).getPropertyValue('--bg').trim()"
    assert page.evaluate(background) == "#f4f6f9"  # the stylesheet applied
    assert served[f"{stack.api}/dashboard/dashboard.css"].startswith("text/css")
    sources = [re.search(r'src="([^"]+)"', attributes) for attributes, _ in scripts]
    names = [found.group(1) for found in sources if found]
    assert names == ["dashboard/dashboard.js", "dashboard/chart.js", "dashboard/admin.js"]
    for name in names:
        assert served[f"{stack.api}/{name}"].startswith("text/javascript"), name


def test_the_page_files_are_checked_again_on_each_load(stack: Stack) -> None:
    first = stack.http.get(f"{stack.api}/dashboard/dashboard.js")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["x-content-type-options"] == "nosniff"
    again = {"If-None-Match": first.headers["etag"]}
    assert stack.http.get(f"{stack.api}/dashboard/dashboard.js", headers=again).status_code == 304
    assert stack.http.get(f"{stack.api}/dashboard", headers=again).status_code == 200
    assert stack.http.get(f"{stack.api}/dashboard").headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "name", ["dashboard.html", "openapi.json", "http_api.py", "DASHBOARD.JS", "..", "%2e%2e"]
)
def test_no_other_name_is_served_under_dashboard(stack: Stack, name: str) -> None:
    answer = stack.http.get(f"{stack.api}/dashboard/{name}")
    assert answer.status_code == 404, answer.text
