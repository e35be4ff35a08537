"""Named tokens in the dashboard, in a real browser against the whole local stack: an
admin makes an operator token limited to one integration and reads its secret once; the
holder signs in with it and sees that integration only, without admin actions, the
Tokens view or the chart of all integrations, and the top bar names them; the admin
revokes it, the holder's next refresh is refused and the page says why; the account's
trail names the admin for both. An admin limited to some integrations gets no Tokens
view either.

The Tokens view is saved as docs/screenshots/tokens.png (shown in the README).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import ADMIN, Stack
from tests.e2e import test_dashboard as base
from tests.e2e.test_dashboard import named_token, screenshot, unique
from tests.e2e.test_dashboard_admin import fits

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError:  # pragma: no cover (test_dashboard skips the module first)
    pytest.skip("needs Playwright", allow_module_level=True)

TOKEN_PREFIX = "avvyr_mgmt_"
SETTINGS_ADMIN = "admin (MANAGEMENT_TOKEN setting)"  # how the trail names the ADMIN token

# The same Chromium, tabs and skip rules as the event views' tests.
browser, page, pytestmark = base.browser, base.page, base.pytestmark


def fresh_page(browser: Browser) -> Page:
    """Another person's browser: a tab with its own sessionStorage."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-GB", timezone_id="UTC"
    )
    return context.new_page()


def test_an_admin_makes_a_limited_token_its_holder_uses_it_and_the_admin_revokes_it(
    stack: Stack, page: Page, browser: Browser
) -> None:
    own = stack.new_integration(unique("Maria's ERP"))
    other = stack.new_integration(unique("Someone else's shop"))
    named_token(stack, unique("erp-reports"), "reader")  # the list shows more than one
    holder = unique("maria.ops")

    page.goto(f"{stack.api}/dashboard#token={ADMIN}")
    expect(page.get_by_test_id("who")).to_have_text(f"{SETTINGS_ADMIN} · admin")
    expect(page.get_by_test_id("who-scope")).to_be_hidden()
    page.get_by_test_id("tab-tokens").click()
    view = page.get_by_test_id("view-tokens")
    expect(view).to_be_visible()
    expect(page.get_by_test_id("tab-tokens")).to_have_attribute("aria-current", "page")

    # The form: the server's message at the field, then a name, a role, one integration
    # ticked from the list and a preset expiry with the day it ends.
    view.get_by_test_id("create-token").click()
    form = page.get_by_test_id("token-dialog")
    form.get_by_test_id("token-save").click()
    expect(form.get_by_test_id("error-token-name")).not_to_be_empty()
    form.get_by_test_id("token-name").fill(holder)
    form.get_by_test_id("token-role").select_option("operator")
    form.get_by_test_id("token-scope-search").fill(own["name"])
    choices = form.get_by_test_id("token-scope-choice")
    expect(choices).to_have_count(1)
    choices.check()
    expect(form.get_by_test_id("token-scope-summary")).to_contain_text("Limited to 1 integration")
    form.get_by_test_id("token-expiry").select_option("30")
    expect(form.get_by_test_id("token-expiry-hint")).to_contain_text("It stops working on")
    form.get_by_test_id("token-save").click()

    # The secret, once: with the warning and a copy button; only the button closes it.
    dialog = page.get_by_test_id("key-dialog")
    expect(dialog.get_by_test_id("key-title")).to_have_text("New token")
    expect(dialog.get_by_test_id("key-intro")).to_contain_text(holder)
    expect(dialog.get_by_test_id("key-intro")).to_contain_text(f"limited to {own['name']}")
    expect(dialog.get_by_test_id("key-warning")).to_contain_text("shown only now")
    expect(dialog.get_by_test_id("api-key")).to_contain_text(TOKEN_PREFIX)
    secret = dialog.get_by_test_id("api-key").inner_text().strip()
    page.keyboard.press("Escape")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("copy-key").click()
    expect(dialog.get_by_test_id("key-copied")).not_to_be_empty()
    dialog.get_by_test_id("key-done").click()
    expect(dialog).to_be_hidden()
    assert secret not in page.content()

    row = view.get_by_test_id("token-row").filter(has_text=holder)
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("token-role-cell")).to_have_text("operator")
    expect(row.get_by_test_id("token-scope-cell")).to_have_text(own["name"])
    expect(row.get_by_test_id("token-state")).to_have_text("Active")
    expect(row.get_by_test_id("token-last-used")).to_have_text("never")
    listed = stack.admin("GET", "/v1/tokens").json()["tokens"]
    made = next(token for token in listed if token["name"] == holder)
    assert made["integrationIds"] == [own["id"]] and made["expiresAt"]

    # The holder signs in with it in a browser of their own.
    theirs = fresh_page(browser)
    theirs.goto(f"{stack.api}/dashboard")
    theirs.get_by_label("Management token").fill(secret)
    theirs.get_by_test_id("token-submit").click()
    expect(theirs.get_by_test_id("who-name")).to_have_text(holder)
    expect(theirs.get_by_test_id("role")).to_have_text("operator")
    expect(theirs.get_by_test_id("who-scope")).to_have_text("limited to 1 integration")
    options = theirs.get_by_test_id("integration-select").locator("option")
    expect(options).to_have_count(1)
    expect(options).to_have_attribute("value", own["id"])
    expect(theirs.get_by_test_id("tab-tokens")).to_be_hidden()
    chart = theirs.get_by_test_id("flow-events")
    expect(chart).to_have_attribute("data-scope", own["id"])
    expect(chart.get_by_test_id("flow-scope-all")).to_be_disabled()
    theirs.get_by_test_id("tab-integrations").click()
    expect(theirs.get_by_test_id("integration-row")).to_have_count(1)
    expect(theirs.get_by_test_id("integration-row")).to_contain_text(own["name"])
    expect(theirs.get_by_test_id("view-integrations")).not_to_contain_text(other["name"])
    expect(theirs.get_by_test_id("flow-all")).to_be_hidden()  # all together: refused to it
    expect(theirs.get_by_test_id("create-integration")).to_be_hidden()
    for action in ("edit-integration", "regenerate-key", "toggle-integration"):
        expect(theirs.get_by_test_id(action)).to_have_count(0)
    theirs.get_by_test_id("tab-events").click()
    expect(theirs.get_by_test_id("view-events")).to_be_visible()
    fits(theirs)  # the name, role and scope leave the bar's controls in a 1,280-px window

    # Back as the admin: the last use shows, and revoking says what it does first.
    page.get_by_test_id("refresh-now").click()
    expect(row.get_by_test_id("token-last-used").locator("time")).to_have_count(1)
    row.get_by_test_id("revoke-token").click()
    confirm = page.get_by_test_id("confirm-dialog")
    expect(confirm.get_by_test_id("confirm-body")).to_contain_text(
        "refused from their next request"
    )
    confirm.get_by_test_id("confirm-ok").click()
    expect(confirm).to_be_hidden()
    expect(row.get_by_test_id("token-state")).to_have_text("Revoked")
    expect(row.get_by_test_id("revoke-token")).to_have_count(0)

    # The account's trail: both steps, newest first, by the admin's identity.
    trail = view.get_by_test_id("account-audit").get_by_test_id("audit-entry")
    created = trail.filter(has_text=holder).filter(has_text="token.created")
    revoked = trail.filter(has_text=holder).filter(has_text="token.revoked")
    expect(created).to_have_count(1)
    expect(revoked).to_have_count(1)
    expect(created.get_by_test_id("audit-actor")).to_have_text(SETTINGS_ADMIN)
    expect(revoked.get_by_test_id("audit-actor")).to_have_text(SETTINGS_ADMIN)
    expect(trail.first).to_contain_text("token.revoked")
    assert secret not in page.content()
    for notice in page.get_by_test_id("token-revoked").all():
        notice.get_by_role("button", name="Dismiss").click()
    screenshot(page, "tokens")

    # The holder's next refresh is refused (401), and the page says so plainly.
    refused: list[int] = []
    theirs.on(
        "response",
        lambda response: refused.append(response.status) if "/v1/" in response.url else None,
    )
    theirs.get_by_test_id("refresh-now").click()
    message = theirs.get_by_test_id("auth-message")
    expect(message).to_be_visible()
    expect(message).to_contain_text(re.compile(f"{re.escape(holder)}.? was revoked"))
    expect(theirs.get_by_test_id("token-form")).to_be_visible()
    assert 401 in refused
    theirs.context.close()


def test_an_admin_limited_to_some_integrations_gets_no_tokens_view(
    stack: Stack, page: Page
) -> None:
    own = stack.new_integration(unique("Limited admin's ERP"))
    name = unique("shop-admin")
    secret = named_token(stack, name, "admin", integrationIds=[own["id"]])

    page.goto(f"{stack.api}/dashboard#view=tokens&token={secret}")  # a link to the view
    expect(page.get_by_test_id("who")).to_contain_text(f"{name} · admin")
    expect(page.get_by_test_id("who-scope")).to_have_text("limited to 1 integration")
    expect(page.get_by_test_id("view-events")).to_be_visible()
    expect(page.get_by_test_id("view-tokens")).to_be_hidden()
    expect(page.get_by_test_id("tab-tokens")).to_be_hidden()
    page.get_by_test_id("tab-integrations").click()
    row = page.get_by_test_id("integration-row")
    expect(row).to_have_count(1)
    # Its own integration it may change; a new one it could not see is not offered.
    expect(row.get_by_test_id("edit-integration")).to_be_visible()
    expect(page.get_by_test_id("create-integration")).to_be_hidden()
    expect(page.get_by_test_id("flow-all")).to_be_hidden()


def test_the_integrations_view_says_how_long_data_is_kept(stack: Stack, page: Page) -> None:
    kept = stack.http.get(
        f"{stack.api}/v1/retention", headers={"Authorization": f"Bearer {ADMIN}"}
    ).json()
    page.goto(f"{stack.api}/dashboard#token={ADMIN}")
    page.get_by_test_id("tab-integrations").click()
    note = page.get_by_test_id("retention-note")
    expect(note).to_be_visible()
    days = round(kept["eventDays"])
    expect(note).to_contain_text(f"for {days} days")
    expect(note).to_contain_text("failed events until they are resolved")
