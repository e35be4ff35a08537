"""Integrations managed in the dashboard, in a real browser (headless Chromium) against
the whole local stack: an admin creates an integration and reads its key shown once,
regenerates the key and disables the integration, and every step is checked on the
inbound route with the key itself; the server's validation messages and its 409 appear
next to the fields; readers and operators see the list without admin actions; the
audit trail pages with its continuation token; and the page fits a 1,280-px window
with 50 long-named integrations.

The new views are saved as screenshots under docs/screenshots/ (shown in the README).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ADMIN, OPERATOR, READER, Stack
from tests.e2e import test_dashboard as base
from tests.e2e.test_dashboard import SLOW, named_token, screenshot, unique

try:
    from playwright.sync_api import Locator, Page, Route, expect
except ImportError:  # pragma: no cover (test_dashboard skips the module first)
    pytest.skip("needs Playwright", allow_module_level=True)

# One of the reference examples (actions/examples.py): a stock level for one SKU.
INVENTORY = {"action": "inventory.set", "data": {"items": [{"sku": "X", "quantity": 1}]}}
API_KEY_PREFIX = "avvyr_int_live_"
SETTINGS_ADMIN = "admin (MANAGEMENT_TOKEN setting)"  # how the trail names the ADMIN token
WIDTH = 1280

# The same Chromium, tabs and skip rules as the event views' tests.
browser, page, pytestmark = base.browser, base.page, base.pytestmark


def open_integrations(page: Page, stack: Stack, token: str) -> None:
    page.goto(f"{stack.api}/dashboard#token={token}")
    page.get_by_test_id("tab-integrations").click()
    expect(page.get_by_test_id("view-integrations")).to_be_visible()


def row_of(page: Page, name: str) -> Locator:
    row = page.get_by_test_id("integration-row").filter(has_text=name)
    expect(row).to_have_count(1)
    return row


def read_key_once(page: Page) -> str:
    """The key in the dialog, then the dialog closed: the key is gone from the page."""
    dialog = page.get_by_test_id("key-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("key-warning")).to_contain_text("shown only now")
    expect(dialog.get_by_test_id("api-key")).to_contain_text(API_KEY_PREFIX)
    key = dialog.get_by_test_id("api-key").inner_text().strip()
    page.keyboard.press("Escape")  # not lost by a stray key: only the button closes it
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("copy-key").click()
    expect(dialog.get_by_test_id("key-copied")).not_to_be_empty()
    return key


def close_key(page: Page, key: str) -> None:
    page.get_by_test_id("key-done").click()
    expect(page.get_by_test_id("key-dialog")).to_be_hidden()
    assert key not in page.content()


def accepted(stack: Stack, integration_id: str, key: str) -> None:
    """A push with the key gets 202; the test waits for the event's outcome (the
    example's SKU "X" is no product, so the platform refuses it: failed)."""
    answer = stack.push(key, INVENTORY)
    assert answer.status_code == 202, answer.text
    event = stack.wait_for(integration_id, answer.json()["messageId"], ("success", "failed"))
    assert event["status"] in ("success", "failed"), event


# --- tests --------------------------------------------------------------------------
def test_admin_creates_regenerates_and_disables_an_integration_in_the_page(
    stack: Stack, page: Page
) -> None:
    name = unique("Fjord Wholesale ERP")
    open_integrations(page, stack, ADMIN)
    expect(page.get_by_test_id("role")).to_have_text("admin")
    # The settings' admin token: the page and the audit trail name it by its setting.
    expect(page.get_by_test_id("who-name")).to_have_text(SETTINGS_ADMIN)

    # Create: the key is shown once, with the warning, and it works on the inbound route.
    page.get_by_test_id("create-integration").click()
    form = page.get_by_test_id("integration-dialog")
    form.get_by_test_id("field-name").fill(name)
    form.get_by_test_id("field-orderingScope").select_option("entity")
    form.get_by_test_id("field-maxAttempts").fill("8")
    form.get_by_test_id("field-baseDelaySeconds").fill("5")
    form.get_by_test_id("integration-save").click()
    expect(page.get_by_test_id("key-intro")).to_contain_text(name)
    expect(page.get_by_test_id("key-note")).to_be_hidden()  # the retry settings were saved
    key = read_key_once(page)
    screenshot(page, "integration-key-once")
    close_key(page, key)

    row = row_of(page, name)
    expect(page.get_by_test_id("integration-row").first).to_contain_text(name)  # newest first
    integration_id = str(row.get_attribute("data-integration-id"))
    expect(row.get_by_test_id("integration-state")).to_have_text("Enabled")
    expect(row.get_by_test_id("integration-ordering")).to_have_text("Ordering: per record")
    expect(row.get_by_test_id("integration-retry")).to_have_text("Retries: 8 × 5 s")
    accepted(stack, integration_id, key)

    # The counts and the newest event follow a refresh.
    page.get_by_test_id("refresh-now").click()
    expect(row.get_by_test_id("int-count-failed")).to_have_text("1", timeout=SLOW)
    expect(row.get_by_test_id("int-count-queued")).to_have_text("0")
    expect(row.get_by_test_id("last-event").locator("time")).to_have_count(1)
    page.get_by_test_id("window-select").select_option("15m")  # counted again for the window
    expect(row.get_by_test_id("int-count-failed")).to_have_text("1", timeout=SLOW)

    # Regenerate: confirmed first; the new key shown once; the old one refused at once.
    row.get_by_test_id("regenerate-key").click()
    confirm = page.get_by_test_id("confirm-dialog")
    expect(confirm.get_by_test_id("confirm-body")).to_contain_text("stops working at once")
    confirm.get_by_test_id("confirm-ok").click()
    expect(confirm).to_be_hidden()
    expect(page.get_by_test_id("key-intro")).to_contain_text("The old key no longer works")
    new_key = read_key_once(page)
    close_key(page, new_key)
    assert new_key != key
    assert stack.push(key, INVENTORY).status_code == 401
    accepted(stack, integration_id, new_key)

    # Disable: the confirmation says what it means, then the key gets 403 on inbound.
    row.get_by_test_id("toggle-integration").click()
    body = confirm.get_by_test_id("confirm-body")
    expect(body).to_contain_text("refused with 403 Forbidden on the inbound route")
    expect(body).to_contain_text("Events already accepted are still delivered")
    screenshot(page, "integration-disable")
    confirm.get_by_test_id("confirm-ok").click()
    expect(row.get_by_test_id("integration-state")).to_have_text("Disabled")
    expect(row.get_by_test_id("toggle-integration")).to_have_text("Enable…")
    assert stack.push(new_key, INVENTORY).status_code == 403
    listed = stack.admin("GET", "/v1/integrations").json()["integrations"]
    assert next(i for i in listed if i["id"] == integration_id)["enabled"] is False

    # Each step is in its audit trail, newest first, with who did it and what changed.
    row.get_by_test_id("open-audit").click()
    entries = page.get_by_test_id("audit-entry")
    expect(entries).to_have_count(4)
    actions = [
        "integration.disabled",
        "key.regenerated",
        "integration.changed",
        "integration.created",
    ]
    expect(entries.get_by_test_id("audit-action")).to_have_text(actions)
    expect(entries.get_by_test_id("audit-actor")).to_have_text([SETTINGS_ADMIN] * 4)
    expect(entries.first.get_by_test_id("audit-what")).to_contain_text("enabled: true → false")
    expect(entries.nth(2).get_by_test_id("audit-what")).to_contain_text("retry.maxAttempts: — → 8")
    assert key not in page.content() and new_key not in page.content()
    for notice in page.get_by_test_id("integration-saved").all():
        notice.get_by_role("button", name="Dismiss").click()
    screenshot(page, "audit-trail")
    page.get_by_test_id("audit-back").click()

    # Its name opens its events.
    row.get_by_test_id("integration-name").click()
    expect(page.get_by_test_id("view-events")).to_be_visible()
    expect(page.get_by_test_id("integration-select")).to_have_value(integration_id)
    expect(page.get_by_test_id("event-row")).to_have_count(2)


def test_a_new_key_can_leave_the_old_one_working_for_a_while(stack: Stack, page: Page) -> None:
    """Regenerating offers a grace period for the old key and says until when; both keys
    are then accepted on the inbound route."""
    integration = stack.new_integration(unique("Key roll"))
    old_key = integration["apiKey"]
    open_integrations(page, stack, ADMIN)
    row = row_of(page, integration["name"])
    row.get_by_test_id("regenerate-key").click()
    confirm = page.get_by_test_id("confirm-dialog")
    note = confirm.get_by_test_id("grace-note")
    expect(confirm.get_by_test_id("grace-0")).to_be_checked()  # at once, unless chosen
    expect(note).to_contain_text("stops working at once")
    confirm.get_by_test_id("grace-86400").check()
    expect(note).to_contain_text("keeps working until")
    confirm.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("key-intro")).to_contain_text("The old key")
    expect(page.get_by_test_id("key-intro")).to_contain_text("keeps working until")
    new_key = read_key_once(page)
    close_key(page, new_key)
    expect(row.get_by_test_id("old-key-until")).to_be_visible()
    accepted(stack, integration["id"], old_key)  # still accepted for a day
    accepted(stack, integration["id"], new_key)
    stored = stack.admin("GET", f"/v1/integrations/{integration['id']}").json()
    assert stored["previousKeyValidUntil"], stored


def test_edit_shows_the_servers_messages_next_to_the_fields_and_the_409_plainly(
    stack: Stack, page: Page
) -> None:
    integration = stack.new_integration(unique("Harbour Retail POS"))
    name = integration["name"]
    # Many slow retries, so an event stays on its way while the platform is down.
    patched = stack.admin(
        "PATCH",
        f"/v1/integrations/{integration['id']}",
        json={"retry": {"maxAttempts": 50, "baseDelaySeconds": 60}},
    )
    assert patched.status_code == 200, patched.text
    open_integrations(page, stack, ADMIN)
    row = row_of(page, name)
    expect(row.get_by_test_id("integration-retry")).to_have_text("Retries: 50 × 60 s")

    row.get_by_test_id("edit-integration").click()
    form = page.get_by_test_id("integration-dialog")
    expect(form.get_by_test_id("field-name")).to_have_value(name)
    expect(form.get_by_test_id("field-maxAttempts")).to_have_value("50")
    form.get_by_test_id("field-maxAttempts").fill("0")
    form.get_by_test_id("field-name").fill("   ")
    form.get_by_test_id("integration-save").click()
    expect(form.get_by_test_id("error-retry.maxAttempts")).to_contain_text("1")
    expect(form.get_by_test_id("field-maxAttempts")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_test_id("error-name")).not_to_be_empty()
    screenshot(page, "integration-edit-errors")

    # With an event on its way, changing the ordering scope is refused: said plainly.
    stack.faults(down=True)
    try:
        accepted = stack.push(integration["apiKey"], INVENTORY)
        assert accepted.status_code == 202, accepted.text
        stack.wait_for(integration["id"], accepted.json()["messageId"], ("failed",))
        form.get_by_test_id("field-name").fill(f"{name} (stores)")
        form.get_by_test_id("field-maxAttempts").fill("50")
        form.get_by_test_id("field-orderingScope").select_option("entity")
        form.get_by_test_id("integration-save").click()
        expect(form.get_by_test_id("form-error")).to_contain_text("still has events on their way")
        expect(form.get_by_test_id("error-retry.maxAttempts")).to_be_empty()
    finally:
        stack.faults(down=False)

    # Without the scope change the rest is saved.
    form.get_by_test_id("field-orderingScope").select_option("integration")
    form.get_by_test_id("field-baseDelaySeconds").fill("")
    form.get_by_test_id("integration-save").click()
    expect(form).to_be_hidden()
    renamed = row_of(page, f"{name} (stores)")
    expect(renamed.get_by_test_id("integration-retry")).to_have_text("Retries: 50 × default delay")
    stored = stack.admin("GET", f"/v1/integrations/{integration['id']}").json()
    assert stored["name"] == f"{name} (stores)" and stored["orderingScope"] == "integration"
    assert stored["retry"] == {"maxAttempts": 50, "baseDelaySeconds": None}


@pytest.mark.parametrize(("token", "role"), [(READER, "reader"), (OPERATOR, "operator")])
def test_readers_and_operators_see_the_list_without_admin_actions(
    stack: Stack, page: Page, token: str, role: str
) -> None:
    name = stack.new_integration(unique("Read-only check"))["name"]
    page.goto(f"{stack.api}/dashboard#view=integrations&token={token}")  # a link to the view
    expect(page.get_by_test_id("view-integrations")).to_be_visible()
    expect(page.get_by_test_id("tab-integrations")).to_have_attribute("aria-current", "page")
    row = row_of(page, name)
    expect(row.get_by_test_id("open-audit")).to_be_visible()
    expect(page.get_by_test_id("role")).to_have_text(role)  # GET /v1/me has answered
    expect(page.get_by_test_id("create-integration")).to_be_hidden()
    for action in ("edit-integration", "regenerate-key", "toggle-integration"):
        expect(page.get_by_test_id(action)).to_have_count(0)


def test_the_audit_trail_shows_who_did_what_newest_first(stack: Stack, page: Page) -> None:
    integration = stack.new_integration(unique("Audit trail check"))
    failed = stack.push(
        integration["apiKey"],
        {"action": "price.set", "data": {"items": [{"sku": unique("GHOST"), "sellingPrice": 1}]}},
    )
    event_id = failed.json()["messageId"]
    stack.wait_for(integration["id"], event_id, ("failed",))
    # Dana's own token names her; a name the caller types (X-Actor) is not who did it.
    dana = named_token(stack, "dana.ops", "operator")
    retried = stack.http.post(
        f"{stack.api}/v1/integrations/{integration['id']}/events/{event_id}/retry",
        headers={"Authorization": f"Bearer {dana}", "X-Actor": "Mallory"},
    )
    assert retried.status_code == 202, retried.text

    open_integrations(page, stack, READER)
    row_of(page, integration["name"]).get_by_test_id("open-audit").click()
    audit = page.get_by_test_id("view-audit")
    expect(audit.get_by_test_id("audit-title")).to_contain_text(integration["name"])
    entry = audit.get_by_test_id("audit-entry").filter(has_text="dana.ops")
    expect(entry).to_have_count(1)
    expect(entry.get_by_test_id("audit-actor")).to_have_text("dana.ops")
    expect(entry).to_contain_text("operator token")
    expect(entry.get_by_test_id("audit-what")).to_contain_text(event_id)
    expect(audit).not_to_contain_text("Mallory")
    expect(audit.get_by_test_id("audit-more")).to_be_hidden()
    audit.get_by_test_id("audit-back").click()
    expect(page.get_by_test_id("view-integrations")).to_be_visible()


def test_a_long_audit_trail_comes_a_page_at_a_time(stack: Stack, page: Page) -> None:
    integration = stack.new_integration(unique("Renamed often"))
    path = f"/v1/integrations/{integration['id']}"
    for n in range(1, 56):
        assert stack.admin("PATCH", path, json={"name": f"Rename {n:02d}"}).status_code == 200

    open_integrations(page, stack, READER)
    row_of(page, "Rename 55").get_by_test_id("open-audit").click()
    entries = page.get_by_test_id("audit-entry")
    expect(entries).to_have_count(50)
    expect(entries.first.get_by_test_id("audit-what")).to_have_text("name: Rename 54 → Rename 55")
    page.get_by_test_id("audit-more").click()
    expect(entries).to_have_count(56)
    expect(entries.last.get_by_test_id("audit-action")).to_have_text("integration.created")
    expect(page.get_by_test_id("audit-more")).to_be_hidden()


def test_the_audit_trail_loads_more_with_the_continuation_token(stack: Stack, page: Page) -> None:
    """Paged answers (entries and a continuation token) are followed on "Load more"; each
    entry's fields are shown as they come, with a before/after summary."""
    integration = stack.new_integration(unique("Paged audit"))
    asked: list[str] = []

    def entry(minute: int, action: str, **fields: Any) -> dict[str, Any]:
        return {
            "at": f"2026-01-0{minute}T10:00:00Z",
            "actor": "admin:Ada",
            "action": action,
            **fields,
        }

    pages = {
        "": {
            "entries": [
                entry(
                    9,
                    "integration.update",
                    before={"enabled": True, "name": "Old"},
                    after={"enabled": False, "name": "Old"},
                ),
                entry(8, "key.regenerate"),
            ],
            "continuationToken": "next page/1",
        },
        "next page/1": {"entries": [entry(1, "integration.create", after={"name": "Old"})]},
    }

    def answer(route: Route) -> None:
        query = parse_qs(urlsplit(route.request.url).query)
        token = query.get("continuationToken", [""])[0]
        asked.append(token)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(pages[token]))

    page.route(f"**/v1/integrations/{integration['id']}/audit*", answer)
    open_integrations(page, stack, READER)
    row_of(page, integration["name"]).get_by_test_id("open-audit").click()
    entries = page.get_by_test_id("audit-entry")
    expect(entries).to_have_count(2)
    expect(entries.first.get_by_test_id("audit-what")).to_have_text("enabled: true → false")
    page.get_by_test_id("audit-more").click()
    expect(entries).to_have_count(3)
    expect(entries.last.get_by_test_id("audit-action")).to_have_text("integration.create")
    expect(entries.last.get_by_test_id("audit-what")).to_have_text("name: Old")
    expect(page.get_by_test_id("audit-more")).to_be_hidden()
    assert asked == ["", "next page/1"]


def test_fifty_long_named_integrations_fit_a_1280_px_window(stack: Stack, page: Page) -> None:
    tag = unique("LAYOUT")
    names = [
        f"Nordic Wholesale Distribution — Warehouse North-East Region Nightly Batch Feed {n:02d} "
        f"{tag}"
        for n in range(50)
    ]
    ids = [stack.new_integration(name)["id"] for name in names]
    counted: list[str] = []
    page.on(
        "request",
        lambda request: counted.append(request.url) if request.url.endswith("/counts") else None,
    )

    page.goto(f"{stack.api}/dashboard#token={ADMIN}")
    expect(page.get_by_test_id("integration-select").locator("option")).not_to_have_count(0)
    fits(page)  # the events view, with the picker in the page

    page.get_by_test_id("tab-integrations").click()
    rows = page.get_by_test_id("integration-row")
    expect(rows.filter(has_text=tag)).to_have_count(50)
    counted.clear()
    page.get_by_test_id("integrations-search").fill(tag)  # these 50, newest first
    expect(rows).to_have_count(50)
    newest = rows.first
    expect(newest.get_by_test_id("int-count-success")).to_have_text("0", timeout=SLOW)
    time.sleep(1)  # let any further counts start: only the rows on screen are counted
    assert 0 < len(counted) <= 16, f"{len(counted)} counts requests for about 10 rows on screen"
    fits(page)
    cut = newest.get_by_test_id("integration-name")
    expect(cut).to_have_attribute("title", names[-1])
    assert cut.evaluate("el => el.scrollWidth > el.clientWidth"), "a long name is not cut"
    screenshot(page, "integrations")
    page.get_by_test_id("integrations-search").fill(f"Feed 07 {tag}")
    expect(rows).to_have_count(1)

    # The picker above the events narrows to what is typed.
    page.get_by_test_id("tab-events").click()
    page.get_by_test_id("integration-search").fill(f"Feed 07 {tag}")
    options = page.get_by_test_id("integration-select").locator("option")
    expect(options.filter(has_text=f"Feed 07 {tag}")).to_have_count(1)
    assert options.count() <= 2  # the match, and the integration chosen before
    page.get_by_test_id("integration-search").press("Enter")  # shows the first match
    expect(page.get_by_test_id("integration-select")).to_have_value(ids[7])
    fits(page)


def fits(page: Page) -> None:
    """No horizontal scrolling, and the header's controls are inside the window."""
    assert page.viewport_size is not None and page.viewport_size["width"] == WIDTH
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"the page is {width} px wide"
    for control in ("refresh-now", "sign-out", "who", "auto-refresh", "tab-integrations"):
        box = page.get_by_test_id(control).bounding_box()
        assert box is not None, f"{control} is not shown"
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (control, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= 800, (control, box)


def test_the_new_views_run_under_the_pages_content_security_policy(
    stack: Stack, page: Page
) -> None:
    """The policy the page is served with (`handlers.CONTENT_SECURITY_POLICY`): no inline
    script or style, not even a style attribute set from the script."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    served = stack.http.get(f"{stack.api}/dashboard").headers["content-security-policy"]
    assert "style-src 'self';" in served and "script-src 'self';" in served
    name = stack.new_integration(unique("Policy check"))["name"]
    open_integrations(page, stack, ADMIN)
    row = row_of(page, name)
    expect(row.get_by_test_id("int-count-success")).to_have_text("0", timeout=SLOW)
    row.get_by_test_id("edit-integration").click()
    page.get_by_test_id("integration-cancel").click()
    row.get_by_test_id("open-audit").click()
    shown = "[data-testid=audit-entry], [data-testid=audit-empty]:not([hidden])"
    expect(page.locator(shown).first).to_be_visible()
    page.get_by_test_id("tab-events").click()
    expect(page.get_by_test_id("counts").locator(".dot")).not_to_have_count(0)
    assert page.evaluate("document.querySelectorAll('[style]').length") == 0
    assert not violations, violations
