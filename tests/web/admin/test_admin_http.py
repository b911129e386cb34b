"""The back office over real HTTP: sign-in, sessions, CSRF, throttling, role guard, staff pages."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pyotp
from sqlalchemy import select

from resell.db.tables import audit_events, staff_accounts
from resell.services import staff
from resell.services.context import Context
from tests.conftest import Clock
from tests.web.admin.conftest import PASSWORD, csrf_of, make_staff, sign_in

GENERIC = "Email or password is not correct."


def test_signed_out_every_page_redirects_to_the_sign_in_form(http: httpx.Client) -> None:
    for path in ("/admin", "/admin/staff", "/admin/account", "/admin/staff?x=1"):
        reply = http.get(path)
        assert reply.status_code == 303, path
        expected = (
            "/admin/login" if path == "/admin" else "/admin/login?next=" + path.replace("?", "%3F").replace("=", "%3D")
        )
        assert reply.headers["location"] == expected
    assert http.post("/admin/staff/add", data={}).status_code == 303
    page = http.get("/admin/login")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["content-security-policy"]
    assert 'for="email">Email<' in page.text and 'for="password">Password<' in page.text and "Sign in" in page.text
    css = http.get("/admin/static/admin.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert http.get("/admin/static/other.css").status_code == 404
    assert http.get("/admin/nothing-here").status_code == 404


def test_sign_in_sets_a_tight_cookie_and_lands_on_the_dashboard(ctx: Context, http: httpx.Client) -> None:
    make_staff(ctx, "Ada@Staff.test", "support")
    reply = sign_in(http, "ada@STAFF.test", next_path="/admin/account")
    assert reply.status_code == 303 and reply.headers["location"] == "/admin/account"
    cookie = next(v for k, v in reply.headers.multi_items() if k == "set-cookie" and v.startswith("resell_admin="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite", "max-age"} <= flags and "secure" not in flags  # base URL is http
    assert "Path=/admin" in cookie and "SameSite=lax" in cookie and "Max-Age=28800" in cookie
    page = http.get("/admin")
    assert page.status_code == 200 and "<h1>Dashboard</h1>" in page.text and "ada@staff.test" in page.text
    # support's navigation: Dashboard, Orders, Deliveries only
    assert ">Orders<" in page.text and ">Deliveries<" in page.text
    assert ">Staff<" not in page.text and ">Finance<" not in page.text and ">Stock<" not in page.text
    with ctx.db.read() as conn:
        row = conn.execute(select(staff_accounts)).mappings().one()
        assert row["last_sign_in_at"] is not None
        actions = conn.execute(select(audit_events.c.actor, audit_events.c.action)).all()
    assert ("staff:ada@staff.test", "staff.signed_in") in actions


def test_wrong_password_and_unknown_account_get_the_same_answer(ctx: Context, http: httpx.Client) -> None:
    make_staff(ctx, "ada@staff.test")
    wrong = sign_in(http, "ada@staff.test", "not the password")
    unknown = sign_in(http, "nobody@staff.test", "not the password")
    for reply in (wrong, unknown):
        assert (
            reply.status_code == 401
            and GENERIC in reply.text
            and "resell_admin=" not in reply.headers.get("set-cookie", "")
        )
    staff.disable(ctx, "ada@staff.test", actor="test")
    disabled = sign_in(http, "ada@staff.test")
    assert disabled.status_code == 401 and GENERIC in disabled.text


def test_next_accepts_local_paths_only(ctx: Context, http: httpx.Client) -> None:
    make_staff(ctx, "ada@staff.test")
    for target in ("https://evil.test/admin", "//evil.test/admin", "/admin@evil.test", "/\\evil.test", "/adminx"):
        assert sign_in(http, "ada@staff.test", next_path=target).headers["location"] == "/admin", target
        http.cookies.clear()
    assert sign_in(http, "ada@staff.test", next_path="/admin/staff?a=1").headers["location"] == "/admin/staff?a=1"


def test_csrf_is_required_on_every_post(ctx: Context, http: httpx.Client) -> None:
    make_staff(ctx, "ada@staff.test")
    form = http.get("/admin/login")
    missing = http.post("/admin/login", data={"email": "ada@staff.test", "password": PASSWORD})
    assert missing.status_code == 403 and "<h1>Forbidden</h1>" in missing.text
    wrong = http.post("/admin/login", data={"email": "ada@staff.test", "password": PASSWORD, "csrf_token": "x" * 32})
    assert wrong.status_code == 403
    assert (
        http.post(
            "/admin/login", data={"csrf_token": csrf_of(form.text), "email": "ada@staff.test", "password": PASSWORD}
        ).status_code
        == 303
    )
    page = http.get("/admin/staff")
    token = csrf_of(page.text)
    for data in (
        {"email": "x@staff.test", "role": "support"},
        {"email": "x@staff.test", "role": "support", "csrf_token": token[:-2] + "zz"},
    ):
        refused = http.post("/admin/staff/add", data=data)
        assert refused.status_code == 403 and "expired or did not come from this site" in refused.text
        assert "Traceback" not in refused.text
    assert not any(a.email == "x@staff.test" for a in staff.list_accounts(ctx))
    # another session's token does not pass either
    other = httpx.Client(base_url=str(http.base_url))
    make_staff(ctx, "bob@staff.test")
    sign_in(other, "bob@staff.test")
    foreign = csrf_of(other.get("/admin/staff").text)
    other.close()
    assert (
        http.post(
            "/admin/staff/add", data={"email": "x@staff.test", "role": "support", "csrf_token": foreign}
        ).status_code
        == 403
    )
    added = http.post("/admin/staff/add", data={"email": "x@staff.test", "role": "support", "csrf_token": token})
    assert added.status_code == 200 and "One-time password" in added.text
    # the logout form needs it too
    assert http.post("/admin/logout", data={}).status_code == 403
    assert http.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    assert http.get("/admin").status_code == 303


def test_sign_in_is_throttled_per_ip_and_per_account(ctx: Context, from_ip: Callable[[str], httpx.Client]) -> None:
    make_staff(ctx, "ada@staff.test")
    attacker = from_ip("127.0.0.21")
    answers = [sign_in(attacker, "ada@staff.test", "wrong password").status_code for _ in range(4)]
    assert answers[:3] == [401, 401, 401] and answers[3] == 429
    refused = sign_in(attacker, "ada@staff.test")  # even the right password waits
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "Too many attempts" in refused.text
    # the owner, elsewhere, is not locked out
    assert sign_in(from_ip("127.0.0.22"), "ada@staff.test").status_code == 303
    # per address, every attempt counts (8/minute in these tests' settings)
    spray = from_ip("127.0.0.23")
    codes = [sign_in(spray, f"user{i}@staff.test", "x").status_code for i in range(9)]
    assert codes[:8] == [401] * 8 and codes[8] == 429


def test_expired_disabled_or_reset_sessions_end(ctx: Context, clock: Clock, http: httpx.Client, server: str) -> None:
    make_staff(ctx, "ada@staff.test")
    assert sign_in(http, "ada@staff.test").status_code == 303
    assert http.get("/admin").status_code == 200
    clock.advance(seconds=28_801)
    assert http.get("/admin").status_code == 303  # past RESELL_ADMIN_SESSION_SECONDS
    assert sign_in(http, "ada@staff.test").status_code == 303
    staff.reset_password(ctx, "ada@staff.test", actor="operator")
    assert http.get("/admin").headers["location"] == "/admin/login"
    make_staff(ctx, "bob@staff.test")
    assert sign_in(http, "bob@staff.test").status_code == 303
    staff.disable(ctx, "bob@staff.test", actor="operator")
    assert http.get("/admin").status_code == 303


def test_roles_are_guarded(staff_client: Callable[[str], httpx.Client], world: object) -> None:
    support = staff_client("support")
    refused = support.get("/admin/staff")
    assert refused.status_code == 403 and "does not give access" in refused.text
    assert (
        support.post(
            "/admin/staff/add",
            data={"csrf_token": csrf_of(support.get("/admin").text), "email": "x@staff.test", "role": "admin"},
        ).status_code
        == 403
    )
    publisher = staff_client("publisher")
    nav = publisher.get("/admin").text.split("</nav>")[0]  # the navigation only (the dashboard has an Orders column)
    assert ">Stock<" in nav and ">Orders<" in nav and ">Staff<" not in nav
    admin = staff_client("admin")
    page = admin.get("/admin").text
    for label in ("Dashboard", "Orders", "Stock", "Catalogue &amp; Merchants", "Deliveries", "Finance", "Staff"):
        assert f">{label}<" in page, label


def test_admin_adds_and_disables_accounts_audited(
    ctx: Context, staff_client: Callable[[str], httpx.Client], server: str
) -> None:
    admin = staff_client("admin")
    token = csrf_of(admin.get("/admin/staff").text)
    added = admin.post("/admin/staff/add", data={"email": "New@Staff.test", "role": "finance", "csrf_token": token})
    assert added.status_code == 200
    password = added.text.split('id="one-time-password" class="secret">')[1].split("<")[0]
    bad = admin.post("/admin/staff/add", data={"email": "p@staff.test", "role": "publisher", "csrf_token": token})
    assert bad.status_code == 400 and "needs --publisher" in bad.text
    with httpx.Client(base_url=server) as newcomer:
        assert sign_in(newcomer, "new@staff.test", password).status_code == 303
        assert newcomer.get("/admin").headers["location"] == "/admin/account"  # the password comes first
        assert newcomer.get("/admin/staff").headers["location"] == "/admin/account"
        page = newcomer.get("/admin/account")
        assert page.status_code == 200
        changed = newcomer.post(
            "/admin/account/password",
            data={
                "csrf_token": csrf_of(page.text),
                "current": password,
                "new": "a brand new password",
                "again": "a brand new password",
            },
        )
        assert changed.status_code == 303 and changed.headers["location"] == "/admin"
        assert newcomer.get("/admin").status_code == 200  # the new cookie of the new generation
        disabled = admin.post("/admin/staff/disable", data={"email": "new@staff.test", "csrf_token": token})
        assert disabled.status_code == 200 and "disabled" in disabled.text
        assert newcomer.get("/admin").status_code == 303
    own = admin.post("/admin/staff/disable", data={"email": "admin0@staff.test", "csrf_token": token})
    assert own.status_code == 400
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit_events.c.actor, audit_events.c.action, audit_events.c.after)).all()
    assert ("staff:admin0@staff.test", "staff.created") in [(a, b) for a, b, _ in rows]
    assert ("staff:admin0@staff.test", "staff.disabled") in [(a, b) for a, b, _ in rows]
    assert ("staff:new@staff.test", "staff.password_changed") in [(a, b) for a, b, _ in rows]
    assert all(password not in str(after) for _, _, after in rows)


def test_totp_second_step(ctx: Context, http: httpx.Client) -> None:
    secret = pyotp.random_base32()
    make_staff(ctx, "ada@staff.test", totp=secret)
    step = sign_in(http, "ada@staff.test", next_path="/admin/account")
    assert step.status_code == 200 and "Authentication code" in step.text and "resell_admin=" not in str(step.headers)
    pending = step.text.split('name="pending" value="')[1].split('"')[0]
    data = {"csrf_token": csrf_of(step.text), "pending": pending, "next": "/admin/account"}
    wrong = http.post(
        "/admin/login", data={**data, "code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"}
    )
    assert wrong.status_code == 401 and "not correct" in wrong.text
    right = http.post("/admin/login", data={**data, "code": pyotp.TOTP(secret).at(ctx.now())})
    assert right.status_code == 303 and right.headers["location"] == "/admin/account"
    assert http.get("/admin").status_code == 200
    # a pending token from another browser (another nonce) is refused
    with httpx.Client(base_url=str(http.base_url)) as other:
        form = other.get("/admin/login")
        reply = other.post("/admin/login", data={**data, "csrf_token": csrf_of(form.text), "code": "123456"})
        assert reply.status_code == 401 and "sign in again" in reply.text
