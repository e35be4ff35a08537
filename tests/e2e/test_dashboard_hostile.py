"""The page defends itself, in a real browser (headless Chromium) against the whole local
stack: it is served with a strict Content-Security-Policy, and data carrying markup (a
SKU, a product name, an integration's name, the platform's error message quoting them)
is shown as the text it is, in the list, the detail, the payload and the attempts. No
element is injected, no script runs, and the policy is never violated (a violation
would mean the page itself broke its own rules).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import READER, Stack
from tests.e2e import test_dashboard as base
from tests.e2e.test_dashboard import SLOW, deliver, open_dashboard, unique

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError:  # pragma: no cover (test_dashboard skips the module first)
    pytest.skip("needs Playwright", allow_module_level=True)

IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "<script>window.__pwned=1</script>"
# Elements the hostile strings would create if they were ever parsed as HTML.
INJECTED = "img, b, iframe, svg script, [onerror], [onload]"

# The same Chromium and skip rules as the event views' tests.
browser, pytestmark = base.browser, base.pytestmark


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab served the page exactly as the product serves it, which fails the
    test on any script error and any violation of the page's policy (reported both on
    the console and as `securitypolicyviolation` events)."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-GB", timezone_id="UTC"
    )
    context.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', (e) =>"
        " window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield tab
    context.close()
    assert not problems, f"script errors or policy violations on the page: {problems}"


def unharmed(page: Page) -> None:
    """Nothing the data carried became an element or ran, and the policy held."""
    assert page.locator(INJECTED).count() == 0
    scripts = page.evaluate("[...document.scripts].map((s) => s.src + '|' + s.text.trim())")
    files = ("dashboard.js", "chart.js", "admin.js")  # the page's own, in order, no inline one
    assert len(scripts) == len(files), scripts
    for src, name in zip(scripts, files, strict=True):
        assert src.endswith(f"/dashboard/{name}|"), scripts
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__violations") == []


def as_json(text: str) -> str:
    """A string as a JSON block of the page shows it (quotes escaped)."""
    return json.dumps(text)[1:-1]


def product_upsert(sku: str, name: str) -> dict[str, Any]:
    products = [{"sku": sku, "name": name, "sellingPrice": 1990}]
    return {"action": "product.upsert", "data": {"products": products}}


def order_create(external_id: str, sku: str) -> dict[str, Any]:
    return {
        "action": "order.create",
        "data": {
            "externalId": external_id,
            "customer": {"email": "anna@example.com", "firstName": IMG, "lastName": SCRIPT},
            "lineItems": [{"sku": sku, "quantity": 1, "unitPrice": 4990}],
        },
    }


# --- tests --------------------------------------------------------------------------
def test_the_page_is_served_with_a_strict_policy(stack: Stack) -> None:
    answer = stack.http.get(f"{stack.api}/dashboard")
    assert answer.status_code == 200
    directives = {
        name: values
        for name, *values in (
            part.split() for part in answer.headers["content-security-policy"].split(";")
        )
    }
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'none'"]
    assert answer.headers["x-frame-options"] == "DENY"
    for name in ("dashboard.js", "dashboard.css"):
        served = stack.http.get(f"{stack.api}/dashboard/{name}")
        assert served.headers["x-frame-options"] == "DENY"


def test_markup_in_the_data_is_shown_as_text_and_nothing_runs(stack: Stack, page: Page) -> None:
    integration = stack.new_integration(f"{IMG} <b>ERP</b> {unique('Hostile')}")
    sku = f"{IMG}{unique('SKU')}"
    missing = f"{SCRIPT}{unique('NO-SUCH-SKU')}"
    product = deliver(stack, integration, product_upsert(sku, f"{SCRIPT} {IMG}"), "success")
    order = deliver(stack, integration, order_create(unique("ERP-ORDER"), missing), "failed")
    update = {"action": "order.update", "entityId": IMG, "data": {"status": "shipped"}}
    unknown = deliver(stack, integration, update, "failed")

    open_dashboard(page, stack, READER, integration["id"])
    expect(page.get_by_test_id("integration-select")).to_contain_text(f"{IMG} <b>ERP</b>")
    rows = page.get_by_test_id("event-row")
    expect(rows).to_have_count(3, timeout=SLOW)
    expect(page.locator(f"[data-event-id='{unknown['id']}']")).to_contain_text(IMG)
    unharmed(page)

    # The product: its SKU and name in the detail and in the payload as received.
    page.locator(f"[data-event-id='{product['id']}']").get_by_test_id("open-event").click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_contain_text(sku)
    payload = page.get_by_test_id("payload")
    payload.locator("summary").click()
    expect(payload).to_contain_text(as_json(SCRIPT))
    expect(payload).to_contain_text(as_json(IMG))
    unharmed(page)

    # The order the platform refused: its error quotes the SKU, and the attempt's
    # response body holds it too.
    page.locator(f"[data-event-id='{order['id']}']").get_by_test_id("open-event").click()
    expect(page.get_by_test_id("detail-error-message")).to_contain_text(missing)
    response = page.get_by_test_id("call-response").last
    expect(response).to_have_attribute("open", "")
    expect(response).to_contain_text(as_json(missing))
    unharmed(page)

    # The update of an order id made of markup: the error and the entity, as text.
    page.locator(f"[data-event-id='{unknown['id']}']").get_by_test_id("open-event").click()
    expect(page.get_by_test_id("detail-error-message")).to_contain_text(IMG)
    expect(detail).to_contain_text(IMG)
    unharmed(page)

    # The integrations view lists the name as text too.
    page.get_by_test_id("tab-integrations").click()
    expect(page.get_by_test_id("view-integrations")).to_contain_text(f"{IMG} <b>ERP</b>")
    unharmed(page)


def test_no_other_page_may_frame_the_dashboard(stack: Stack, browser: Browser) -> None:
    """`frame-ancestors 'none'`: a page that frames the dashboard (to trick a signed-in
    person into clicking on it) gets a blocked frame, and the browser says why."""
    context = browser.new_context()
    tab = context.new_page()
    refused: list[str] = []
    tab.on(
        "console",
        lambda message: refused.append(message.text) if "frame-ancestors" in message.text else None,
    )
    tab.set_content(f'<iframe src="{stack.api}/dashboard"></iframe>')
    tab.wait_for_timeout(1000)
    [framed] = [frame for frame in tab.frames if frame != tab.main_frame]
    assert framed.locator("#token-form").count() == 0
    assert refused, "the browser did not report the refused framing"
    context.close()
