"""`resell staff ...`: the back office's accounts (docs/back-office.md). Each change is audited as "operator"."""

from __future__ import annotations

from typing import Annotated

import typer

from resell.cli.support import context, fail, folding_table, out, when

app = typer.Typer(help="Staff accounts of the back office (/admin).", no_args_is_help=True)

ACTOR = "operator"


@app.command("add")
def staff_add(
    email: Annotated[str, typer.Argument(help="the account's email address (its sign-in name)")],
    role: Annotated[str, typer.Option("--role", help="admin, support, finance, publisher or merchant")],
    publisher: Annotated[
        str | None, typer.Option("--publisher", help="a publisher account's publisher (id or key)")
    ] = None,
    merchant: Annotated[str | None, typer.Option("--merchant", help="a merchant account's merchant (realm)")] = None,
) -> None:
    """Create an account and print its one-time password (a new one is chosen at first sign-in)."""
    from resell.services import staff

    ctx = context()
    try:
        account, password = staff.create_account(
            ctx, email, role, actor=ACTOR, publisher=publisher, merchant=merchant
        )
    except staff.StaffError as exc:
        fail(str(exc))
        return
    out.print(f"created {account.role} account [bold]{account.email}[/]", highlight=False)
    out.print("one-time password (shown once; to be changed at first sign-in):", highlight=False)
    out.print(password, highlight=False, markup=False)


@app.command("list")
def staff_list() -> None:
    """Every account: role, publisher or merchant, TOTP, state, last sign-in."""
    from resell.services import staff

    accounts = staff.list_accounts(context())
    if not accounts:
        out.print("no staff accounts (resell staff add EMAIL --role admin)")
        return
    table = folding_table("email", "role", "bound to", "TOTP", "state", "created", "last sign-in")
    for a in accounts:
        state = "active" if a.active else f"disabled {when(a.disabled_at)}"
        if a.active and a.must_change_password:
            state = "active (password to change)"
        table.add_row(
            a.email,
            a.role,
            a.owner or "",
            "on" if a.totp else "off",
            state,
            when(a.created_at),
            when(a.last_sign_in_at),
        )
    out.print(table)


@app.command("disable")
def staff_disable(email: Annotated[str, typer.Argument(help="the account's email")]) -> None:
    """Disable an account: it can no longer sign in and its open sessions end."""
    from resell.services import staff

    try:
        account = staff.disable(context(), email, actor=ACTOR)
    except staff.StaffError as exc:
        fail(str(exc))
        return
    out.print(f"disabled {account.email}; its sessions are ended", highlight=False)


@app.command("reset-password")
def staff_reset_password(email: Annotated[str, typer.Argument(help="the account's email")]) -> None:
    """A new one-time password (its sessions end; a new password is chosen at next sign-in)."""
    from resell.services import staff

    try:
        password = staff.reset_password(context(), email, actor=ACTOR)
    except staff.StaffError as exc:
        fail(str(exc))
        return
    out.print("new one-time password (shown once; to be changed at next sign-in):", highlight=False)
    out.print(password, highlight=False, markup=False)


@app.command("totp")
def staff_totp(
    email: Annotated[str, typer.Argument(help="the account's email")],
    off: Annotated[bool, typer.Option("--off", help="turn TOTP off (password only)")] = False,
) -> None:
    """Turn TOTP codes on (prints the secret and the otpauth:// URI for an authenticator app) or --off."""
    from resell.services import staff

    try:
        setup = staff.set_totp(context(), email, None if off else staff.new_totp_secret(), actor=ACTOR)
    except staff.StaffError as exc:
        fail(str(exc))
        return
    if setup is None:
        out.print(f"TOTP off for {email.strip().lower()}", highlight=False)
        return
    out.print(f"TOTP on for {email.strip().lower()}; add it to an authenticator app:", highlight=False)
    out.print(f"secret: {setup.secret}", highlight=False, markup=False)
    out.print(setup.uri, highlight=False, markup=False, soft_wrap=True)
