"""Identity: OAuth-style tokens for merchants, and resolving who a /connect call acts for.

Access tokens are short-lived HS256 JWTs, verified offline: they live out their 5 minutes unless the
operator revokes every token of a client (`revoke_all_tokens`, which moves the client's token
generation on). Refresh tokens are JWTs too, but each one's id is kept in `refresh_tokens` so it
can be revoked (DELETE /iam/tokens/reset) and used only once (rotation); the refresh tokens that
descend from one sign-in form a family, and a used one presented again revokes its family.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import bindparam, func, select, update

from resell.db.engine import Database
from resell.db.kept import KeptRows, only_found
from resell.db.prepared import Prepared
from resell.db.tables import catalogs, merchants, refresh_tokens
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.secrets import hash_secret, secret_matches
from resell.services.audit_log import audit
from resell.services.context import Caller, Context

ALGORITHM = "HS256"


class Unauthorized(Exception):
    """Bad credentials or a token that is missing, malformed, expired or revoked: HTTP 401.

    `kind` says which (one of KINDS), so that the 401 can tell the client what to do: the body is the
    contract's fixed text, the `WWW-Authenticate` challenge (api/shapes.py) says the rest."""

    def __init__(self, reason: str, kind: str = "malformed") -> None:
        super().__init__(reason)
        self.kind = kind


# Unauthorized.kind: no token; one that is not ours or not readable; past its expiry; revoked (a reset, the
# merchant deactivated); bad sign-in credentials (/iam/tokens only).
MISSING, MALFORMED, EXPIRED, REVOKED, CREDENTIALS = "missing", "malformed", "expired", "revoked", "credentials"
KINDS = (MISSING, MALFORMED, EXPIRED, REVOKED, CREDENTIALS)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    session_state: str


@dataclass(frozen=True)
class TokenClaims:
    merchant_id: int
    realm: str
    generation: int


def _encode(
    ctx: Context, merchant_id: int, realm: str, generation: int, kind: str, ttl: int, jti: str, session: str
) -> str:
    now = ctx.now()
    claims = {
        "sub": str(merchant_id),
        "realm": realm,
        "typ": kind,
        "iat": int(now.timestamp()),
        "gen": generation,
        "exp": int(now.timestamp()) + ttl,
        "jti": jti,
        "sid": session,
    }
    return jwt.encode(claims, ctx.settings.effective_jwt_secret, algorithm=ALGORITHM)


# Tokens whose signature and type have been checked, by (key, type, token): a merchant sends the same token
# for minutes, and HS256 verification is the largest fixed cost of a call. Expiry and the token
# generation are still checked on every use. Cleared when full rather than evicted one by one.
_VERIFIED: dict[tuple[str, str, str], dict] = {}
_VERIFIED_MAX = 10_000


def _decode(ctx: Context, token: str, kind: str) -> dict:
    key = (ctx.settings.effective_jwt_secret, kind, token)
    claims = _VERIFIED.get(key)
    if claims is None:
        claims = _verify_signature(ctx, token, kind)
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[key] = claims
    if claims["exp"] <= ctx.now().timestamp():
        raise Unauthorized("expired", EXPIRED)
    return claims


def _verify_signature(ctx: Context, token: str, kind: str) -> dict:
    try:
        claims = jwt.decode(
            token,
            ctx.settings.effective_jwt_secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat", "jti", "typ"], "verify_iat": False},
            leeway=0,
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized(str(exc), EXPIRED) from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(str(exc), MALFORMED) from exc
    if claims.get("typ") != kind:
        raise Unauthorized("wrong token type", MALFORMED)
    return claims


def _new_pair(  # type: ignore[no-untyped-def]
    ctx: Context, conn, merchant_id: int, realm: str, generation: int, session: str | None = None
) -> TokenPair:
    """A new pair; `session` (the refresh token family) is new on a sign-in, kept on a refresh."""
    settings = ctx.settings
    session = session or str(uuid.uuid4())
    jti = uuid.uuid4().hex
    conn.execute(
        refresh_tokens.insert().values(
            jti=jti,
            merchant_id=merchant_id,
            family=session,
            expires_at=ctx.now() + dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    return TokenPair(
        access_token=_encode(
            ctx, merchant_id, realm, generation, "access", settings.access_token_ttl_seconds, uuid.uuid4().hex, session
        ),
        refresh_token=_encode(
            ctx, merchant_id, realm, generation, "refresh", settings.refresh_token_ttl_seconds, jti, session
        ),
        expires_in=settings.access_token_ttl_seconds,
        refresh_expires_in=settings.refresh_token_ttl_seconds,
        session_state=session,
    )


def _merchant_by_credentials(conn, realm: str, client_secret: str):  # type: ignore[no-untyped-def]
    row = conn.execute(
        select(
            merchants.c.id,
            merchants.c.realm,
            merchants.c.client_secret_hash,
            merchants.c.active,
            merchants.c.token_generation,
        ).where(merchants.c.realm == realm)
    ).first()
    # Hash even when the realm is unknown, so timing does not tell which realms exist.
    stored = row.client_secret_hash if row is not None else hash_secret("")
    if not secret_matches(client_secret, stored) or row is None or not row.active:
        raise Unauthorized("bad credentials", CREDENTIALS)
    return row


def issue_tokens(ctx: Context, realm: str, client_secret: str) -> TokenPair:
    """grant_type=client_credentials."""
    with ctx.db.write() as conn:
        row = _merchant_by_credentials(conn, realm, client_secret)
        return _new_pair(ctx, conn, row.id, row.realm, row.token_generation)


def refresh_tokens_grant(ctx: Context, realm: str, client_secret: str, refresh_token: str) -> TokenPair:
    """grant_type=refresh_token: the old refresh token is used up, a new pair of the same family is issued.

    A refresh token presented again once used is a replay (a stolen copy, or the thief already
    used it): refused, and every refresh token of its family is revoked, the newer ones included,
    so whichever of the thief and the client holds the live one must sign in again."""
    claims = _decode(ctx, refresh_token, "refresh")
    family = str(claims.get("sid") or "")
    with ctx.db.write() as conn:
        row = _merchant_by_credentials(conn, realm, client_secret)
        if str(row.id) != claims["sub"] or claims.get("gen") != row.token_generation:
            raise Unauthorized("refresh token of another client, or revoked", CREDENTIALS)
        used = conn.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.jti == claims["jti"],
                refresh_tokens.c.merchant_id == row.id,
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=ctx.now())
        )
        if used.rowcount == 1:
            return _new_pair(ctx, conn, row.id, row.realm, row.token_generation, family)
        # committed before the refusal below: the revocation must outlive this request
        revoke_refresh_tokens(conn, ctx.now(), row.id, family=family)
    raise Unauthorized("refresh token already used or revoked: its family is revoked", CREDENTIALS)


def revoke_refresh_tokens(conn, now: dt.datetime, merchant_id: int, family: str | None = None) -> int:  # type: ignore[no-untyped-def]
    """Revoke a client's live refresh tokens (only one family's when `family` is given); how many."""
    where = [refresh_tokens.c.merchant_id == merchant_id, refresh_tokens.c.revoked_at.is_(None)]
    if family is not None:
        where.append(refresh_tokens.c.family == family)
    return int(conn.execute(update(refresh_tokens).where(*where).values(revoked_at=now)).rowcount)


def verify_access_token(ctx: Context, token: str | None) -> TokenClaims:
    if not token:
        raise Unauthorized("missing token", MISSING)
    claims = _decode(ctx, token, "access")
    try:
        return TokenClaims(
            merchant_id=int(claims["sub"]),
            realm=str(claims.get("realm", "")),
            generation=int(claims["gen"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Unauthorized("malformed claims", MALFORMED) from exc


def reset_tokens(ctx: Context, token: str | None) -> None:
    """DELETE /iam/tokens/reset: revoke every refresh token of the token's client.

    Access tokens already issued, the caller's included, stay valid until they expire
    (docs/architecture.md, "Tokens": Nexway's example collection goes on with the same token); revoking those too is
    the operator's `revoke_all_tokens`."""
    claims = verify_access_token(ctx, token)
    with ctx.db.write() as conn:
        _check_still_valid(claims, _MERCHANT_STATE.first(conn, merchant_id=claims.merchant_id))
        revoke_refresh_tokens(conn, ctx.now(), claims.merchant_id)


def revoke_all_tokens(ctx: Context, realm: str, actor: str = "operator") -> bool:
    """The operator's emergency action: every access and refresh token of the client stops working now
    (its token generation moves on). False when there is no such client."""
    now = ctx.now()
    with ctx.db.write() as conn:
        row = conn.execute(
            update(merchants)
            .where(merchants.c.realm == realm)
            .values(token_generation=merchants.c.token_generation + 1)
            .returning(merchants.c.id, merchants.c.token_generation)
        ).first()
        if row is None:
            return False
        revoked = revoke_refresh_tokens(conn, now, row.id)
        audit(conn, now, actor, "merchant", realm, "tokens_revoked",
              after={"token_generation": row.token_generation, "refresh_tokens_revoked": revoked})
    forget_credentials(ctx.db)
    return True


def authenticate(ctx: Context, bearer: str | None, secret: str | None) -> Caller:
    """Token first (401), then the catalogue secret (70 missing, 71 unknown or another merchant's).

    Every /connect call comes here, so the usual case (a valid token and its merchant's own secret)
    reads the catalogue and the merchant's token state together, in one prepared query, and most
    calls find that row kept from an earlier one (`_catalog_by_secret`, `_judged`): no query at all."""
    claims = verify_access_token(ctx, bearer)
    key = _secret_key(secret)
    if key is None:
        return _caller_of(ctx, claims, None, None)
    return _judged(ctx, key, lambda catalog: _caller_of(ctx, claims, key, catalog))


def _caller_of(ctx: Context, claims: TokenClaims, key: str | None, catalog: Any) -> Caller:
    """The caller of a checked token and the catalogue its secret opened (None: none, or no secret)."""
    if catalog is None or catalog.merchant_id != claims.merchant_id:
        catalog = None
        with ctx.db.read(snapshot=False) as conn:
            merchant = _MERCHANT_STATE.first(conn, merchant_id=claims.merchant_id)
    else:
        merchant = catalog
    _check_still_valid(claims, merchant)
    if key is None:
        raise Refusal(codes.SECRET_MISSING)
    if catalog is None:
        raise Refusal(codes.SECRET_NOT_VALID)
    return _caller(catalog)


def caller_for_secret(ctx: Context, secret: str | None) -> Caller:
    """SOAP v2.x and the product feed: the catalogue secret alone names the merchant (70 missing, 71
    not valid)."""
    key = _secret_key(secret)
    if key is None:
        raise Refusal(codes.SECRET_MISSING)
    return _judged(ctx, key, _active_caller)


def _active_caller(catalog: Any) -> Caller:
    if catalog is None or not catalog.active:
        raise Refusal(codes.SECRET_NOT_VALID)
    return _caller(catalog)


# The catalogue a secret opens, read through to its live catalogue (itself, for a live secret): a
# sandbox secret acts on the live catalogue's products, prices, currency and cancel period.
_SECRET_CATALOG = catalogs.alias("secret_catalog")
_CATALOG_BY_SECRET = Prepared(
    select(
        catalogs.c.id,
        catalogs.c.merchant_id,
        catalogs.c.currency,
        catalogs.c.cancel_period_days,
        catalogs.c.requires_amounts,
        catalogs.c.delivery_email,
        _SECRET_CATALOG.c.sandbox,
        _SECRET_CATALOG.c.id.label("secret_catalog_id"),
        merchants.c.realm,
        merchants.c.active,
        merchants.c.token_generation,
    )
    .select_from(_SECRET_CATALOG)
    .join(catalogs, catalogs.c.id == func.coalesce(_SECRET_CATALOG.c.live_catalog_id, _SECRET_CATALOG.c.id))
    .join(merchants, merchants.c.id == catalogs.c.merchant_id)
    .where(_SECRET_CATALOG.c.secret_hash == bindparam("secret_hash"))
)
_MERCHANT_STATE = Prepared(
    select(merchants.c.realm, merchants.c.active, merchants.c.token_generation).where(
        merchants.c.id == bindparam("merchant_id")
    )
)


def _check_still_valid(claims: TokenClaims, merchant) -> None:  # type: ignore[no-untyped-def]
    """A well-signed token still needs its merchant: existing, active, not reset since, same realm."""
    if merchant is None or not merchant.active:
        raise Unauthorized("unknown client", REVOKED)
    if claims.generation != merchant.token_generation:
        raise Unauthorized("revoked by a reset", REVOKED)
    if claims.realm != merchant.realm:
        raise Unauthorized("the token's realm is not its client's", REVOKED)


def _secret_key(secret: str | None) -> str | None:
    """What a catalogue secret is looked up by (its hash), or None when there is no secret."""
    if secret is None or not secret.strip():
        return None
    return hash_secret(secret.strip())


# The catalogue rows found by secret hash (db/kept.py). Only rows found are kept: an unknown secret is
# looked up every time, so a catalogue is usable the moment it is created.
_KEPT: KeptRows[Any] = KeptRows()


def _catalog_by_secret(ctx: Context, key: str, fresh: bool = False) -> tuple[Any, bool]:
    """The catalogue (with its merchant's realm and state) the secret of hash `key` opens, or None;
    and whether that row was a kept one rather than read now (`fresh`: read now).

    A merchant sends the same secret call after call, and this query was a round trip of every
    /connect call on PostgreSQL (one of getStockStatus's two): the row is kept RESELL_CACHE_SECONDS."""

    def read() -> Any:
        with ctx.db.read(snapshot=False) as conn:
            return _CATALOG_BY_SECRET.first(conn, secret_hash=key)

    return _KEPT.get(ctx.db, key, ctx.settings.cache_seconds, read, keep=only_found, fresh=fresh)


def _judged(ctx: Context, key: str, judge: Callable[[Any], Caller]) -> Caller:
    """judge(the catalogue the secret of hash `key` opens). A kept row may let a revoked credential
    through for its seconds, never refuse a good one: a refusal judged on a kept row is judged again
    on a fresh read (a token made after a reset elsewhere, a secret given back)."""
    catalog, kept = _catalog_by_secret(ctx, key)
    try:
        return judge(catalog)
    except (Unauthorized, Refusal):
        if not kept:
            raise
        return judge(_catalog_by_secret(ctx, key, fresh=True)[0])


def forget_credentials(db: Database) -> None:
    """Call after committing a change to what authentication reads (a merchant's token generation, a
    catalogue's secret, terms or existence): this process's next calls on `db` read it again."""
    _KEPT.forget(db)


# The Caller of each catalogue row read (_CATALOG_BY_SECRET): a frozen value that depends on the row
# alone, so it is built once per distinct row (eight column reads and a frozen dataclass cost more than
# the rest of resolving the caller). A row read after a change (a currency, a realm, a sandbox link) is
# another key, so the change shows at once. Cleared when full rather than evicted one by one.
_CALLERS: dict[tuple, Caller] = {}
_CALLERS_MAX = 10_000


def _caller(catalog) -> Caller:  # type: ignore[no-untyped-def]
    who = _CALLERS.get(catalog)
    if who is None:
        sandbox_catalog_id = catalog.secret_catalog_id if catalog.sandbox else None
        who = Caller.of_catalog(catalog, catalog.merchant_id, catalog.realm, sandbox_catalog_id)
        if len(_CALLERS) >= _CALLERS_MAX:
            _CALLERS.clear()
        _CALLERS[catalog] = who
    return who
