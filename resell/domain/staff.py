"""Staff of the back office: the roles, what each may open, and the signed tokens of a session.

One place for the rules every layer asks about:

- ROLES, and BOUND_ROLES: the roles that act for one owner and the column that names it (a
  publisher account sees its publisher only, a merchant account its merchant only).
- SECTIONS: the back office's sections in navigation order, each with the roles that may open it.
  The navigation and the page guards both read it (`may_open`), so they cannot disagree.
- The session cookie `id.generation.expires.mac` and the CSRF token derived from it (HMAC, key from
  Settings.effective_admin_key); the sign-in form's own token, tied to a pre-session nonce; the
  short-lived token that carries a password-checked account to the TOTP step.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from resell.domain.request_fields import decimal_id

ROLES = ("admin", "support", "finance", "publisher", "merchant")
BOUND_ROLES = {  # role -> the owner column it must name (and no other role may)
    "publisher": "publisher_id",
    "merchant": "merchant_id",
}
STAFF = ("admin", "support", "finance", "publisher")  # the platform's side (a merchant has pages of its own)


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    path: str
    roles: tuple[str, ...]


SECTIONS: tuple[Section, ...] = (
    Section("dashboard", "Dashboard", "/admin", STAFF),
    # a merchant account's own pages (docs/merchants.md, "Your pages"): its merchant's data only
    Section("credentials", "Credentials", "/admin/credentials", ("merchant",)),
    Section("webhooks", "Webhooks", "/admin/webhooks", ("merchant",)),
    # the emails its test orders would have sent, kept for it (resell.services.sandbox)
    Section("sandbox_emails", "Sandbox emails", "/admin/sandbox-emails", ("merchant",)),
    # finance reads orders only; a publisher the orders holding its products; a merchant its own orders
    Section("orders", "Orders", "/admin/orders", ("admin", "support", "finance", "publisher", "merchant")),
    Section("stock", "Stock", "/admin/stock", ("admin", "publisher")),
    Section("catalogue", "Catalogue & Merchants", "/admin/catalogue", ("admin",)),
    Section("products", "My products", "/admin/products", ("publisher",)),  # its own publisher's only
    Section("deliveries", "Deliveries", "/admin/deliveries", ("admin", "support")),
    Section("finance", "Finance", "/admin/finance", ("admin", "finance", "publisher")),  # publisher: its own report
    Section("statements", "Statements", "/admin/statements", ("merchant",)),  # its own monthly statements
    Section("staff", "Staff", "/admin/staff", ("admin",)),
)
SECTION_BY_KEY = {section.key: section for section in SECTIONS}
# (section, role): may look, may not change
READ_ONLY = {("orders", "finance"), ("orders", "publisher"), ("orders", "merchant")}
NO_MONEY = frozenset({"support"})  # roles shown no amounts (revenue, prices) anywhere in the back office


def roles_for(section: str) -> tuple[str, ...]:
    """The roles that may open a section (KeyError for an unknown one: a typo fails at import)."""
    return SECTION_BY_KEY[section].roles


def may_open(role: str, section: str) -> bool:
    return role in SECTION_BY_KEY[section].roles


def may_change(role: str, section: str) -> bool:
    return may_open(role, section) and (section, role) not in READ_ONLY


def sees_money(role: str) -> bool:
    return role not in NO_MONEY


def home(role: str) -> str:
    """Where a role lands at /admin: its first section (the dashboard for the platform's staff)."""
    return sections_for(role)[0].path


def sections_for(role: str) -> list[Section]:
    """The navigation of a role: the sections it may open, in order."""
    return [section for section in SECTIONS if role in section.roles]


def normal_email(email: str) -> str:
    return email.strip().lower()


def _mac(key: bytes, message: str) -> str:
    mac = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


@dataclass(frozen=True)
class SessionClaims:
    staff_id: int
    generation: int
    expires: int  # Unix seconds


def session_token(key: bytes, staff_id: int, generation: int, expires: int) -> str:
    return f"{staff_id}.{generation}.{expires}.{_mac(key, f'admin-session/{staff_id}/{generation}/{expires}')}"


def read_session(key: bytes, value: str, now: int) -> SessionClaims | None:
    """The claims of a session cookie, or None when it is forged, malformed or expired."""
    return _read_claims(key, value, now, "admin-session", "")


def _read_claims(key: bytes, value: str, now: int, purpose: str, bound_to: str) -> SessionClaims | None:
    """`staff_id.generation.expires.mac` as session_token and pending_token write it; None when
    forged, malformed or expired. `bound_to` is appended to the MAC's message (a nonce, or nothing)."""
    parts = value.split(".")
    if len(parts) != 4:
        return None
    staff_id, generation, expires = (decimal_id(p) for p in parts[:3])
    if staff_id is None or generation is None or expires is None:
        return None
    expected = _mac(key, f"{purpose}/{staff_id}/{generation}/{expires}{bound_to}")
    if not hmac.compare_digest(expected, parts[3]) or expires <= now:
        return None
    return SessionClaims(staff_id, generation, expires)


def csrf_token(key: bytes, session: str) -> str:
    """The token every POST form of a session carries: bound to that session's cookie value."""
    return _mac(key, f"admin-csrf/{session}")


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def login_csrf_token(key: bytes, nonce: str) -> str:
    """The sign-in form's token, bound to the pre-session cookie's random nonce."""
    return _mac(key, f"admin-login-csrf/{nonce}")


def check(expected: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def pending_token(key: bytes, staff_id: int, generation: int, expires: int, nonce: str) -> str:
    """Carries a password-checked account to the TOTP step (minutes, this browser's nonce only)."""
    return f"{staff_id}.{generation}.{expires}.{_mac(key, f'admin-pending/{staff_id}/{generation}/{expires}/{nonce}')}"


def read_pending(key: bytes, value: str, now: int, nonce: str) -> SessionClaims | None:
    return _read_claims(key, value, now, "admin-pending", f"/{nonce}")


def local_path(target: str | None, default: str = "/admin") -> str:
    """`next=` after sign-in: only a path of the back office itself (never `//host`, a scheme or `\\`)."""
    if not target or not target.startswith("/admin") or "\\" in target or "//" in target:
        return default
    if any(ord(c) < 32 for c in target):
        return default
    rest = target[len("/admin") :]
    if rest and rest[0] not in "/?#":
        return default
    return target
