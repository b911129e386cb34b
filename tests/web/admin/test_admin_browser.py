"""The back office in a real headless Chromium: sign in by the labels, the forced password change,
the TOTP step with a code the test computes, and the pages without JavaScript."""

from __future__ import annotations

import pyotp
from playwright.sync_api import Browser, Page

from resell.services import staff
from resell.services.context import Context
from tests.web.admin.conftest import PASSWORD, make_staff


def sign_in(page: Page, server: str, email: str, password: str) -> None:
    page.goto(server + "/admin")
    assert "/admin/login" in page.url
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_and_change_the_one_time_password(ctx: Context, server: str, browser: Browser) -> None:
    _, one_time = staff.create_account(ctx, "ada@staff.test", "admin", actor="operator")
    context = browser.new_context(viewport={"width": 390, "height": 800})  # a phone
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, server, "ada@staff.test", "not it")
    assert "Email or password is not correct" in page.inner_text("[role=alert]")
    page.get_by_label("Password").fill(one_time)
    page.get_by_role("button", name="Sign in").click()
    assert page.url == server + "/admin/account"  # the password comes first
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label("New password", exact=True).fill("my own long password")
    page.get_by_label("Repeat the new password").fill("my own long password")
    page.get_by_role("button", name="Change password").click()
    assert page.url == server + "/admin"
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.get_by_role("navigation").get_by_role("link", name="Staff").is_visible()
    assert "ada@staff.test" in page.inner_text("header")
    # the staff page: the confirmation dialog of admin.js guards "Disable"
    make_staff(ctx, "bob@staff.test", "support")
    page.get_by_role("link", name="Staff", exact=True).click()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Disable").click()
    assert staff.session_member(ctx, 2, 1) is not None  # dismissed: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Disable").click()
    assert "Account bob@staff.test disabled" in page.inner_text("[role=status]")
    page.get_by_role("button", name="Sign out").click()
    assert "/admin/login" in page.url
    assert not [e for e in errors if "Failed to load resource" not in e]  # no CSP violation, no script error
    context.close()


def test_totp_second_step_without_javascript(ctx: Context, server: str, browser: Browser) -> None:
    secret = pyotp.random_base32()
    make_staff(ctx, "ada@staff.test", "finance", totp=secret)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, server, "ada@staff.test", PASSWORD)
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(ctx.now()))
    page.get_by_role("button", name="Sign in").click()
    assert page.url == server + "/admin"
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    nav = page.get_by_role("navigation").inner_text()
    assert "Finance" in nav and "Staff" not in nav
    page.goto(server + "/admin/staff")
    assert page.get_by_role("heading", name="Forbidden").is_visible()
    context.close()


def test_turning_totp_on_from_the_account_page(ctx: Context, server: str, browser: Browser) -> None:
    make_staff(ctx, "ada@staff.test", "support")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, "ada@staff.test", PASSWORD)
    page.goto(server + "/admin/account")
    page.get_by_role("button", name="Set up two-step sign-in").click()
    secret = page.inner_text("#totp-secret")
    assert page.locator("img.qr").get_attribute("src").startswith("data:image/svg+xml")  # type: ignore[union-attr]
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(ctx.now()))
    page.get_by_role("button", name="Turn on").click()
    assert "Two-step sign-in is on" in page.inner_text("[role=status]")
    checked = staff.check_password(ctx, "ada@staff.test", PASSWORD)
    assert checked is not None and checked.needs_totp
    context.close()


def test_a_form_with_a_forged_csrf_token_is_refused_in_the_browser(ctx: Context, server: str, browser: Browser) -> None:
    """The staff page's "Add account" form, its hidden csrf_token changed in the page before sending:
    a 403 page, and no account made. The same form untouched works."""
    make_staff(ctx, "ada@staff.test", "admin")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, "ada@staff.test", PASSWORD)
    page.goto(server + "/admin/staff")
    form = page.locator("form[action='/admin/staff/add']")
    form.get_by_label("Email").fill("eve@staff.test")
    form.locator("input[name=csrf_token]").evaluate("input => { input.value = 'forged' + input.value }")
    with page.expect_response(lambda reply: reply.url.endswith("/admin/staff/add")) as sent:
        form.get_by_role("button", name="Add account").click()
    assert sent.value.status == 403
    assert all(account.email != "eve@staff.test" for account in staff.list_accounts(ctx))
    page.goto(server + "/admin/staff")
    form = page.locator("form[action='/admin/staff/add']")
    form.get_by_label("Email").fill("eve@staff.test")
    form.get_by_role("button", name="Add account").click()
    assert any(account.email == "eve@staff.test" for account in staff.list_accounts(ctx))
    context.close()
