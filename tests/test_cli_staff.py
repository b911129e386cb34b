"""`resell staff ...`: add, list, disable, reset-password, totp (docs/back-office.md)."""

from __future__ import annotations

import pyotp
from sqlalchemy import select

from resell.db.tables import audit_events
from resell.services import staff
from resell.services.context import Context
from tests.conftest import CliRun, World
from tests.web.admin.conftest import cheap_argon2  # noqa: F401  (autouse: cheap argon2 here too)


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1].strip()


def test_add_list_disable(cli: CliRun, ctx: Context, world: World) -> None:
    added = cli("staff", "add", "Ada@Staff.test", "--role", "admin")
    assert added.exit_code == 0, added.output
    password = _last_line(added.stdout)
    checked = staff.check_password(ctx, "ada@staff.test", password)
    assert checked is not None and checked.member.role == "admin"
    assert cli("staff", "add", "pub@staff.test", "--role", "publisher", "--publisher", "pub").exit_code == 0
    refused = cli("staff", "add", "x@staff.test", "--role", "publisher")
    assert refused.exit_code == 1 and "needs --publisher" in refused.stderr and "Traceback" not in refused.output
    assert cli("staff", "add", "ada@staff.test", "--role", "support").exit_code == 1
    listed = cli("staff", "list")
    assert listed.exit_code == 0 and "ada@staff.test" in listed.stdout and "pub@staff.test" in listed.stdout
    assert "password to change" in listed.stdout
    disabled = cli("staff", "disable", "ADA@staff.test")
    assert disabled.exit_code == 0, disabled.output
    assert staff.check_password(ctx, "ada@staff.test", password) is None
    assert "disabled" in cli("staff", "list").stdout
    assert cli("staff", "disable", "nobody@staff.test").exit_code == 1
    with ctx.db.read() as conn:
        actions = conn.execute(select(audit_events.c.actor, audit_events.c.action)).all()
    assert ("operator", "staff.created") in actions and ("operator", "staff.disabled") in actions


def test_reset_password_and_totp(cli: CliRun, ctx: Context) -> None:
    first = _last_line(cli("staff", "add", "ada@staff.test", "--role", "support").stdout)
    reset = cli("staff", "reset-password", "ada@staff.test")
    assert reset.exit_code == 0, reset.output
    second = _last_line(reset.stdout)
    assert second != first and staff.check_password(ctx, "ada@staff.test", first) is None
    assert staff.check_password(ctx, "ada@staff.test", second) is not None
    on = cli("staff", "totp", "ada@staff.test")
    assert on.exit_code == 0, on.output
    uri = _last_line(on.stdout)
    assert uri.startswith("otpauth://totp/")
    secret = pyotp.parse_uri(uri).secret
    checked = staff.check_password(ctx, "ada@staff.test", second)
    assert checked is not None and checked.needs_totp
    assert staff.check_totp(ctx, checked.member.id, checked.generation, pyotp.TOTP(secret).at(ctx.now()))
    off = cli("staff", "totp", "ada@staff.test", "--off")
    assert off.exit_code == 0 and not staff.check_password(ctx, "ada@staff.test", second).needs_totp  # type: ignore[union-attr]


def test_add_a_merchant_account(cli: CliRun, ctx: Context, world: World) -> None:
    added = cli("staff", "add", "dev@shop-a.test", "--role", "merchant", "--merchant", "shop-a")
    assert added.exit_code == 0, added.output
    checked = staff.check_password(ctx, "dev@shop-a.test", _last_line(added.stdout))
    assert checked is not None and checked.member.role == "merchant" and checked.member.merchant_id is not None
    refused = cli("staff", "add", "x@shop-a.test", "--role", "merchant")
    assert refused.exit_code == 1 and "needs --merchant" in refused.stderr
    unknown = cli("staff", "add", "x@shop-a.test", "--role", "merchant", "--merchant", "nope")
    assert unknown.exit_code == 1 and "no merchant 'nope'" in unknown.stderr
    listed = cli("staff", "list")
    assert "dev@shop-a.test" in listed.stdout and "shop-a" in listed.stdout
