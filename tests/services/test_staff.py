"""Staff accounts (resell.services.staff) and the back office's rules (resell.domain.staff)."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from resell.db.tables import audit_events, staff_accounts
from resell.domain import staff as rules
from resell.services import staff
from resell.services.context import Context
from tests.conftest import Clock, World
from tests.web.admin.conftest import cheap_argon2  # noqa: F401  (autouse: cheap argon2 here too)


def test_passwords_are_argon2id_hashes(ctx: Context) -> None:
    member, password = staff.create_account(ctx, "  Ada@Staff.TEST ", "admin", actor="operator")
    assert member.email == "ada@staff.test" and len(password) >= 12
    with ctx.db.read() as conn:
        row = conn.execute(select(staff_accounts)).mappings().one()
    assert row["password_hash"].startswith("$argon2id$") and password not in row["password_hash"]
    assert row["must_change_password"] and row["active"] and row["session_generation"] == 1
    assert staff.verify_password(row["password_hash"], password)
    assert not staff.verify_password(row["password_hash"], password + "x")
    assert not staff.verify_password("not a hash", password)
    checked = staff.check_password(ctx, "ADA@staff.test", password)
    assert checked is not None and checked.member == member and not checked.needs_totp
    assert staff.check_password(ctx, "nobody@staff.test", password) is None
    with pytest.raises(staff.StaffError, match="exists already"):
        staff.create_account(ctx, "ada@staff.test", "support", actor="operator")


def test_roles_and_their_binding(ctx: Context, world: World) -> None:
    with pytest.raises(staff.StaffError, match="unknown role"):
        staff.create_account(ctx, "a@staff.test", "root", actor="operator")
    with pytest.raises(staff.StaffError, match="needs --publisher"):
        staff.create_account(ctx, "a@staff.test", "publisher", actor="operator")
    with pytest.raises(staff.StaffError, match="has no publisher"):
        staff.create_account(ctx, "a@staff.test", "support", actor="operator", publisher="pub")
    with pytest.raises(staff.StaffError, match="no publisher"):
        staff.create_account(ctx, "a@staff.test", "publisher", actor="operator", publisher="nope")
    by_key, _ = staff.create_account(ctx, "a@staff.test", "publisher", actor="operator", publisher="pub")
    by_id, _ = staff.create_account(
        ctx, "b@staff.test", "publisher", actor="operator", publisher=str(by_key.publisher_id)
    )
    assert by_key.publisher_id is not None and by_id.publisher_id == by_key.publisher_id
    assert [a.publisher_key for a in staff.list_accounts(ctx)] == ["pub", "pub"]


def test_sections_by_role() -> None:
    labels = {role: [s.label for s in rules.sections_for(role)] for role in rules.ROLES}
    assert labels["admin"] == [
        "Dashboard",
        "Orders",
        "Stock",
        "Catalogue & Merchants",
        "Deliveries",
        "Finance",
        "Staff",
    ]
    assert labels["support"] == ["Dashboard", "Orders", "Deliveries"]
    assert labels["finance"] == ["Dashboard", "Orders", "Finance"]
    assert labels["publisher"] == ["Dashboard", "Orders", "Stock", "My products", "Finance"]
    assert rules.may_open("finance", "orders") and not rules.may_change("finance", "orders")
    assert rules.may_open("publisher", "orders") and not rules.may_change("publisher", "orders")
    assert rules.may_change("support", "orders")


def test_disable_and_new_passwords_end_sessions(ctx: Context) -> None:
    member, password = staff.create_account(ctx, "ada@staff.test", "support", actor="operator")
    assert staff.session_member(ctx, member.id, 1) == (member, True)
    generation = staff.change_password(ctx, member.id, password, "a much better password", actor="staff:ada@staff.test")
    assert generation == 2
    assert staff.session_member(ctx, member.id, 1) is None
    assert staff.session_member(ctx, member.id, 2) == (member, False)
    with pytest.raises(staff.StaffError, match="current password"):
        staff.change_password(ctx, member.id, "wrong", "another good password", actor="x")
    with pytest.raises(staff.StaffError, match="at least 12"):
        staff.change_password(ctx, member.id, "a much better password", "short", actor="x")
    one_time = staff.reset_password(ctx, "ada@staff.test", actor="operator")
    assert staff.session_member(ctx, member.id, 2) is None and staff.session_member(ctx, member.id, 3) == (member, True)
    staff.disable(ctx, "ada@staff.test", actor="operator")
    assert staff.session_member(ctx, member.id, 4) is None
    assert staff.check_password(ctx, "ada@staff.test", one_time) is None
    with pytest.raises(staff.StaffError, match="disabled already"):
        staff.disable(ctx, "ada@staff.test", actor="operator")
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit_events).order_by(audit_events.c.id)).mappings().all()
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("operator", "staff.created"),
        ("staff:ada@staff.test", "staff.password_changed"),
        ("operator", "staff.password_reset"),
        ("operator", "staff.disabled"),
    ]
    assert rows[3]["before"]["active"] is True and rows[3]["after"]["active"] is False
    assert all("password_hash" not in (r["after"] or {}) for r in rows)


def test_totp(ctx: Context, clock: Clock) -> None:
    member, _ = staff.create_account(ctx, "ada@staff.test", "admin", actor="operator")
    setup = staff.set_totp(ctx, "ada@staff.test", staff.new_totp_secret(), actor="operator")
    assert setup is not None and setup.uri.startswith("otpauth://totp/") and setup.secret in setup.uri
    code = pyotp.TOTP(setup.secret).at(ctx.now())
    assert not staff.check_totp(ctx, member.id, 2, code)  # another generation
    assert staff.check_totp(ctx, member.id, 1, code)
    assert not staff.check_totp(ctx, member.id, 1, code)  # never twice
    clock.advance(seconds=30)
    assert staff.check_totp(ctx, member.id, 1, pyotp.TOTP(setup.secret).at(ctx.now()))
    clock.advance(minutes=5)
    assert not staff.check_totp(ctx, member.id, 1, code)
    assert not staff.totp_ok("not base32!", "123456", ctx.now())
    assert staff.set_totp(ctx, "ada@staff.test", None, actor="operator") is None
    assert not staff.check_totp(ctx, member.id, 1, pyotp.TOTP(setup.secret).at(ctx.now()))


def test_session_tokens_and_next() -> None:
    key = b"k" * 32
    token = rules.session_token(key, 7, 3, 2000)
    assert rules.read_session(key, token, 1999) == rules.SessionClaims(7, 3, 2000)
    assert rules.read_session(key, token, 2000) is None  # expired
    assert rules.read_session(b"other" * 8, token, 1000) is None
    assert rules.read_session(key, token.replace("7.3", "8.3", 1), 1000) is None
    assert rules.read_session(key, "garbage", 1000) is None
    assert rules.csrf_token(key, token) != rules.csrf_token(key, rules.session_token(key, 7, 4, 2000))
    for bad in ("", "https://x.test", "//x.test", "/admin.x", "/adminx", "/\\x", "/admin/\nx", "/locker"):
        assert rules.local_path(bad) == "/admin", bad
    assert rules.local_path("/admin/orders?q=1") == "/admin/orders?q=1"
