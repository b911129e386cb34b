"""Staff accounts of the back office: create, list, disable, passwords (argon2id), TOTP, sign-in.

No HTTP here: the CLI (`resell staff ...`) and the web back office (resell.web.admin) both call these
functions, each naming its actor ("operator", "staff:<email>") for the audit trail. Every change is
audited (entity "staff", id the account id) in the transaction of the change; no password, hash or
TOTP secret ever goes into the trail.

Sessions end by bumping `session_generation`, which every session cookie carries: disabling an
account, a new password (own change or reset) and signing out everywhere all do.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, RowMapping, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from resell.db.tables import merchants, publishers, staff_accounts
from resell.domain.request_fields import decimal_id
from resell.domain.staff import BOUND_ROLES, ROLES, normal_email
from resell.services.audit_log import audit
from resell.services.context import Context

MIN_PASSWORD_CHARS = 12
_BASE32 = re.compile(r"[A-Z2-7]{16,64}")
TOTP_ISSUER = "resell back office"

_hasher = PasswordHasher()  # argon2id with the library's current defaults (RFC 9106 low-memory profile)
_dummy: dict[PasswordHasher, str] = {}


class StaffError(ValueError):
    """A request the rules refuse (unknown role, duplicate email, weak password...): the message says why."""


@dataclass(frozen=True)
class StaffMember:
    """Who is signed in, as pages see it."""

    id: int
    email: str
    role: str
    publisher_id: int | None = None
    merchant_id: int | None = None  # a merchant account's merchant: it sees that merchant's data only


@dataclass(frozen=True)
class StaffAccount:
    """An account as listed (never its hash or TOTP secret)."""

    id: int
    email: str
    role: str
    publisher_id: int | None
    publisher_key: str | None
    totp: bool
    active: bool
    disabled_at: dt.datetime | None
    must_change_password: bool
    created_at: dt.datetime
    last_sign_in_at: dt.datetime | None
    merchant_id: int | None = None
    merchant_realm: str | None = None

    @property
    def owner(self) -> str | None:
        """What a bound account is bound to: its publisher's key or its merchant's realm."""
        return self.publisher_key or self.merchant_realm


@dataclass(frozen=True)
class TotpSetup:
    secret: str
    uri: str  # otpauth://totp/...


# ---------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _dummy_hash() -> str:
    """Verified against when the email names no account, so that the answer takes as long either way
    (made on first use: a hash costs as much as a sign-in)."""
    if _hasher not in _dummy:
        _dummy[_hasher] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy[_hasher]


def verify_password(password_hash: str, password: str) -> bool:
    """Constant-time argon2 check (slow on purpose: call it off the event loop)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def one_time_password() -> str:
    """A password to hand over once (the account must choose its own at first sign-in)."""
    return secrets.token_urlsafe(12)


def check_new_password(password: str, email: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise StaffError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if password.strip().lower() == email:
        raise StaffError("the password must not be the email address")


# ---------------------------------------------------------------- TOTP


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def totp_step(secret: str, code: str, at: dt.datetime) -> int | None:
    """The 30-second step whose code `code` is: `at`'s, or the one before or after (clock drift); None
    when it is none of them."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit() or not _BASE32.fullmatch(secret):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(at)
    for step in (now, now - 1, now + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def totp_ok(secret: str, code: str, at: dt.datetime) -> bool:
    return totp_step(secret, code, at) is not None


# ---------------------------------------------------------------- reading


def _row(conn: Connection, email: str) -> RowMapping | None:
    return conn.execute(select(staff_accounts).where(staff_accounts.c.email == normal_email(email))).mappings().first()


def _require(conn: Connection, email: str) -> RowMapping:
    row = _row(conn, email)
    if row is None:
        raise StaffError(f"no staff account {normal_email(email)!r}")
    return row


def member(row: RowMapping) -> StaffMember:
    return StaffMember(row["id"], row["email"], row["role"], row["publisher_id"], row["merchant_id"])


def list_accounts(ctx: Context) -> list[StaffAccount]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(staff_accounts, publishers.c.key.label("publisher_key"), merchants.c.realm.label("merchant_realm"))
            .outerjoin(publishers, publishers.c.id == staff_accounts.c.publisher_id)
            .outerjoin(merchants, merchants.c.id == staff_accounts.c.merchant_id)
            .order_by(staff_accounts.c.email)
        ).mappings()
        return [
            StaffAccount(
                r["id"],
                r["email"],
                r["role"],
                r["publisher_id"],
                r["publisher_key"],
                r["totp_secret"] is not None,
                r["active"],
                r["disabled_at"],
                r["must_change_password"],
                r["created_at"],
                r["last_sign_in_at"],
                r["merchant_id"],
                r["merchant_realm"],
            )
            for r in rows
        ]


def session_member(ctx: Context, staff_id: int, generation: int) -> tuple[StaffMember, bool] | None:
    """The member a session cookie names, with whether it must still change its password; None when
    the account is gone, disabled, or its sessions were ended since (another generation)."""
    with ctx.db.read() as conn:
        row = conn.execute(select(staff_accounts).where(staff_accounts.c.id == staff_id)).mappings().first()
    if row is None or not row["active"] or row["session_generation"] != generation:
        return None
    return member(row), row["must_change_password"]


# ---------------------------------------------------------------- changes


def _publisher_id(conn: Connection, publisher: str) -> int:
    as_id = decimal_id(publisher.strip())
    condition = publishers.c.key == publisher.strip()
    if as_id is not None:
        condition = or_(condition, publishers.c.id == as_id)
    found = conn.execute(select(publishers.c.id).where(condition)).scalars().first()
    if found is None:
        raise StaffError(f"no publisher {publisher!r}")
    return int(found)


def _merchant_id(conn: Connection, realm: str) -> int:
    found = conn.execute(select(merchants.c.id).where(merchants.c.realm == realm.strip())).scalar()
    if found is None:
        raise StaffError(f"no merchant {realm!r}")
    return int(found)


def create_account(
    ctx: Context,
    email: str,
    role: str,
    *,
    actor: str,
    publisher: str | None = None,
    merchant: str | None = None,
    password: str | None = None,
    must_change_password: bool = True,
) -> tuple[StaffMember, str]:
    """A new active account; returns it and its password (a one-time one unless `password` is given).
    A publisher account names its `publisher` (id or key), a merchant account its `merchant` (realm);
    no other role names either (BOUND_ROLES)."""
    email = normal_email(email)
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise StaffError(f"not an email address: {email!r}")
    if role not in ROLES:
        raise StaffError(f"unknown role {role!r} (one of: {', '.join(ROLES)})")
    owners = {"publisher_id": publisher, "merchant_id": merchant}
    for column, given in owners.items():
        if BOUND_ROLES.get(role) == column and given is None:
            raise StaffError(f"a {role} account needs --{column.removesuffix('_id')}")
        if BOUND_ROLES.get(role) != column and given is not None:
            raise StaffError(f"a {role} account has no {column.removesuffix('_id')}")
    password = password if password is not None else one_time_password()
    password_hash = hash_password(password)
    now = ctx.now()
    try:
        with ctx.db.write() as conn:
            publisher_id = _publisher_id(conn, publisher) if publisher is not None else None
            merchant_id = _merchant_id(conn, merchant) if merchant is not None else None
            if _row(conn, email) is not None:
                raise StaffError(f"a staff account {email!r} exists already")
            staff_id = conn.execute(
                insert(staff_accounts)
                .values(
                    email=email,
                    password_hash=password_hash,
                    role=role,
                    publisher_id=publisher_id,
                    merchant_id=merchant_id,
                    active=True,
                    must_change_password=must_change_password,
                    session_generation=1,
                    created_at=now,
                )
                .returning(staff_accounts.c.id)
            ).scalar_one()
            after = {"email": email, "role": role, "publisher_id": publisher_id}
            if merchant_id is not None:
                after["merchant_id"] = merchant_id
            audit(conn, now, actor, "staff", staff_id, "staff.created", None, after)
    except IntegrityError:
        raise StaffError(f"a staff account {email!r} exists already") from None
    return StaffMember(staff_id, email, role, publisher_id, merchant_id), password


def _change(conn: Connection, row: RowMapping, now: dt.datetime, actor: str, action: str, **values: object) -> None:
    """Update the account and audit what changed (secrets only as "changed" / "on")."""
    conn.execute(update(staff_accounts).where(staff_accounts.c.id == row["id"]).values(**values))

    def shown(source: RowMapping | dict[str, object]) -> dict[str, object]:
        view: dict[str, object] = {}
        for k in values:
            if k == "password_hash":
                continue
            value = source[k]
            if k == "totp_secret":
                view["totp"] = value is not None
            else:
                view[k] = value.isoformat() if isinstance(value, dt.datetime) else value
        return view

    audit(conn, now, actor, "staff", row["id"], action, shown(row), shown(values))


def disable(ctx: Context, email: str, *, actor: str) -> StaffMember:
    """Disable the account and end its sessions (its rows and audit trail stay)."""
    now = ctx.now()
    with ctx.db.write() as conn:
        row = _require(conn, email)
        if not row["active"]:
            raise StaffError(f"the staff account {row['email']!r} is disabled already")
        _change(
            conn,
            row,
            now,
            actor,
            "staff.disabled",
            active=False,
            disabled_at=now,
            session_generation=row["session_generation"] + 1,
        )
    return member(row)


def reset_password(ctx: Context, email: str, *, actor: str) -> str:
    """A new one-time password (to choose a new one at next sign-in); ends the account's sessions."""
    password = one_time_password()
    password_hash = hash_password(password)
    now = ctx.now()
    with ctx.db.write() as conn:
        row = _require(conn, email)
        _change(
            conn,
            row,
            now,
            actor,
            "staff.password_reset",
            password_hash=password_hash,
            must_change_password=True,
            session_generation=row["session_generation"] + 1,
        )
    return password


def change_password(ctx: Context, staff_id: int, current: str, new: str, *, actor: str) -> int:
    """The member's own change: checks the current password; returns the new session generation
    (every other session of the account ends; the caller issues a new cookie for this one)."""
    with ctx.db.read() as conn:
        row = conn.execute(select(staff_accounts).where(staff_accounts.c.id == staff_id)).mappings().one()
    if not verify_password(row["password_hash"], current):
        raise StaffError("the current password is not correct")
    check_new_password(new, row["email"])
    if new == current:
        raise StaffError("the new password must differ from the current one")
    password_hash = hash_password(new)
    now = ctx.now()
    with ctx.db.write() as conn:
        row = conn.execute(select(staff_accounts).where(staff_accounts.c.id == staff_id)).mappings().one()
        generation = row["session_generation"] + 1
        _change(
            conn,
            row,
            now,
            actor,
            "staff.password_changed",
            password_hash=password_hash,
            must_change_password=False,
            session_generation=generation,
        )
    return int(generation)


def set_totp(ctx: Context, email: str, secret: str | None, *, actor: str) -> TotpSetup | None:
    """Turn TOTP on with `secret` (new_totp_secret()) or off with None; returns the setup to show."""
    now = ctx.now()
    with ctx.db.write() as conn:
        row = _require(conn, email)
        _change(conn, row, now, actor, "staff.totp_on" if secret else "staff.totp_off", totp_secret=secret)
        conn.execute(update(staff_accounts).where(staff_accounts.c.id == row["id"]).values(totp_last_step=None))
    return TotpSetup(secret, totp_uri(secret, row["email"])) if secret else None


# ---------------------------------------------------------------- signing in


@dataclass(frozen=True)
class PasswordChecked:
    """Email and password are right; `needs_totp`: the code step comes before the session."""

    member: StaffMember
    generation: int
    needs_totp: bool


def check_password(ctx: Context, email: str, password: str) -> PasswordChecked | None:
    """None for a wrong pair, an unknown or a disabled account alike (the same work and time for each)."""
    with ctx.db.read() as conn:
        row = _row(conn, email)
    if row is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(row["password_hash"], password) or not row["active"]:
        return None
    return PasswordChecked(member(row), row["session_generation"], row["totp_secret"] is not None)


def check_totp(ctx: Context, staff_id: int, generation: int, code: str) -> bool:
    """The account's current code, never accepted twice (a code seen over a shoulder or replayed
    within its 90 seconds does not sign in again)."""
    with ctx.db.read() as conn:
        row = conn.execute(select(staff_accounts).where(staff_accounts.c.id == staff_id)).mappings().first()
    if row is None or not row["active"] or row["session_generation"] != generation or not row["totp_secret"]:
        return False
    step = totp_step(row["totp_secret"], code, ctx.now())
    if step is None:
        return False
    with ctx.db.write() as conn:  # conditional: of two sign-ins racing with one code, one wins
        used = conn.execute(
            update(staff_accounts)
            .where(
                staff_accounts.c.id == staff_id,
                or_(staff_accounts.c.totp_last_step.is_(None), staff_accounts.c.totp_last_step < step),
            )
            .values(totp_last_step=step)
        )
    return used.rowcount == 1


def signed_in(ctx: Context, staff_id: int) -> None:
    """Note the sign-in (last_sign_in_at) and audit it."""
    now = ctx.now()
    with ctx.db.write() as conn:
        row = conn.execute(select(staff_accounts).where(staff_accounts.c.id == staff_id)).mappings().one()
        conn.execute(update(staff_accounts).where(staff_accounts.c.id == staff_id).values(last_sign_in_at=now))
        audit(conn, now, f"staff:{row['email']}", "staff", staff_id, "staff.signed_in")


def sign_out(ctx: Context, staff_id: int) -> None:
    """End every session of the account (cookies cannot be revoked one by one: the generation moves on)."""
    now = ctx.now()
    with ctx.db.write() as conn:
        row = conn.execute(select(staff_accounts).where(staff_accounts.c.id == staff_id)).mappings().one()
        conn.execute(
            update(staff_accounts)
            .where(staff_accounts.c.id == staff_id)
            .values(session_generation=staff_accounts.c.session_generation + 1)
        )
        audit(conn, now, f"staff:{row['email']}", "staff", staff_id, "staff.signed_out")
