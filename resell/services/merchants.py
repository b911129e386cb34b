"""Merchants and their catalogues: created by the operator, secrets shown once and stored hashed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pycountry
from sqlalchemy import Connection, Row, ScalarSelect, delete, func, select, update

from resell.db.engine import inserted_id
from resell.db.locking import for_update
from resell.db.tables import catalog_changes as catalog_change_rows
from resell.db.tables import (
    catalog_products,
    catalogs,
    feed_configs,
    merchants,
    orders,
    product_prices,
    products,
    webhook_endpoints,
)
from resell.domain.secrets import hash_secret, new_secret
from resell.services import catalog_changes, sandbox
from resell.services.audit_log import audit
from resell.services.context import Context
from resell.services.iam import forget_credentials, revoke_refresh_tokens


class MerchantError(ValueError):
    """An operator mistake (unknown realm, bad currency...): the CLI prints it."""


@dataclass(frozen=True)
class NewCatalog:
    catalog_id: int
    name: str
    secret: str
    currency: str
    product_refs: list[int]
    sandbox_secret: str = ""  # its sandbox twin's (`test_...`), shown once with it


@dataclass(frozen=True)
class NewMerchant:
    merchant_id: int
    realm: str
    client_secret: str


@dataclass(frozen=True)
class CatalogSpec:
    """A catalogue to create: its name, currency, products (None: every product) and cancel period."""

    name: str
    currency: str
    product_refs: list[int] | None = None
    cancel_period_days: int | None = None
    requires_amounts: bool = False


def create_merchant(
    ctx: Context,
    realm: str,
    name: str | None = None,
    actor: str = "operator",
    catalogs_to_add: list[CatalogSpec] | None = None,
) -> tuple[NewMerchant, list[NewCatalog]]:
    """A merchant and its first catalogues, all in one transaction: a refused catalogue leaves nothing behind."""
    realm = realm.strip()
    if not realm:
        raise MerchantError("realm must not be empty")
    client_secret = new_secret()
    now = ctx.now()
    with ctx.db.write() as conn:
        if conn.execute(select(merchants.c.id).where(merchants.c.realm == realm)).first():
            raise MerchantError(f"merchant {realm!r} exists already")
        merchant_id = inserted_id(
            conn.execute(
                merchants.insert().values(
                    realm=realm,
                    name=name or realm,
                    client_secret_hash=hash_secret(client_secret),
                    active=True,
                    created_at=now,
                )
            )
        )
        audit(conn, now, actor, "merchant", merchant_id, "created", after={"realm": realm})
        added = [_insert_catalog(ctx, conn, merchant_id, spec, actor) for spec in catalogs_to_add or []]
    return NewMerchant(merchant_id=merchant_id, realm=realm, client_secret=client_secret), added


def add_catalog(ctx: Context, realm: str, spec: CatalogSpec, actor: str = "operator") -> NewCatalog:
    """A sales territory of an existing merchant: its currency, the products it sells, its secret."""
    with ctx.db.write() as conn:
        merchant = conn.execute(select(merchants.c.id).where(merchants.c.realm == realm)).first()
        if merchant is None:
            raise MerchantError(f"no merchant {realm!r}")
        return _insert_catalog(ctx, conn, merchant.id, spec, actor)


def _insert_catalog(ctx: Context, conn: Connection, merchant_id: int, spec: CatalogSpec, actor: str) -> NewCatalog:
    currency = spec.currency.strip().upper()
    if pycountry.currencies.get(alpha_3=currency) is None:
        raise MerchantError(f"{currency!r} is not an ISO 4217 currency")
    if spec.product_refs is None:
        rows = conn.execute(select(products.c.id, products.c.ref)).all()
    else:
        rows = conn.execute(select(products.c.id, products.c.ref).where(products.c.ref.in_(spec.product_refs))).all()
        missing = set(spec.product_refs) - {r.ref for r in rows}
        if missing:
            raise MerchantError(f"unknown product refs: {sorted(missing)}")
        _check_priced(conn, currency, {r.ref: r.id for r in rows})
    secret = new_secret()
    now = ctx.now()
    catalog_id = inserted_id(
        conn.execute(
            catalogs.insert().values(
                merchant_id=merchant_id,
                name=spec.name,
                secret_hash=hash_secret(secret),
                currency=currency,
                cancel_period_days=spec.cancel_period_days or ctx.settings.cancel_period_days,
                requires_amounts=spec.requires_amounts,
                created_at=now,
            )
        )
    )
    if rows:
        conn.execute(catalog_products.insert(), [{"catalog_id": catalog_id, "product_id": r.id} for r in rows])
        catalog_changes.record(conn, now, catalog_id, [r.id for r in rows], "insert")
    twin_id, sandbox_secret = sandbox.insert_twin(conn, now, catalog_id)
    audit(
        conn,
        now,
        actor,
        "merchant",
        merchant_id,
        "catalog_added",
        after={"catalog": spec.name, "currency": currency, "products": len(rows), "sandbox": twin_id},
    )
    return NewCatalog(catalog_id, spec.name, secret, currency, sorted(r.ref for r in rows), sandbox_secret)


def _check_priced(conn: Connection, currency: str, ids: dict[int, int]) -> None:
    """Refuse products (ref -> id) chosen for a catalogue that have no price in its currency: the
    merchant could list them but never sell them. A catalogue of every product is not checked."""
    if not ids:
        return
    priced = set(
        conn.execute(
            select(product_prices.c.product_id).where(
                product_prices.c.currency == currency, product_prices.c.product_id.in_(ids.values())
            )
        ).scalars()
    )
    unpriced = sorted(ref for ref, product_id in ids.items() if product_id not in priced)
    if unpriced:
        raise MerchantError(f"no {currency} price for product refs: {unpriced}")


def catalog_of(conn: Connection, realm: str, currency: str, catalog: str | None = None) -> Row:
    """A merchant's catalogue in `currency` (id, name, currency): exactly one, or MerchantError.

    `catalog` (a name, or an id) chooses among several catalogues in the same currency; without it
    an ambiguous call is refused with the list of catalogues to choose from.
    """
    currency = currency.strip().upper()
    found = conn.execute(
        select(catalogs.c.id, catalogs.c.name, catalogs.c.currency)
        .join(merchants, merchants.c.id == catalogs.c.merchant_id)
        .where(merchants.c.realm == realm, catalogs.c.currency == currency, catalogs.c.sandbox.is_(False))
        .order_by(catalogs.c.id)
    ).all()
    if catalog is not None:
        chosen = [c for c in found if catalog.strip() in (c.name, str(c.id))]
        if not chosen:
            raise MerchantError(f"merchant {realm!r} has no {currency} catalogue {catalog!r}{_listing(found)}")
        return chosen[0]
    if not found:
        raise MerchantError(f"merchant {realm!r} has no {currency} catalogue")
    if len(found) > 1:
        raise MerchantError(
            f"merchant {realm!r} has {len(found)} {currency} catalogues{_listing(found)}; name one (by name or id)"
        )
    return found[0]


def _listing(found: Sequence[Row]) -> str:
    return ": " + ", ".join(f"{c.id} {c.name!r}" for c in found) if found else ""


def change_catalog_products(
    ctx: Context,
    realm: str,
    currency: str,
    add: list[int],
    remove: list[int],
    actor: str = "operator",
    catalog_name: str | None = None,
) -> tuple[list[int], list[int]]:
    """Products joining or leaving a catalogue; returns the refs really added and removed.
    The product feeds report them as insert and delete."""
    now = ctx.now()
    with ctx.db.write() as conn:
        catalog = catalog_of(conn, realm, currency, catalog_name)
        wanted = set(add) | set(remove)
        ids = dict(conn.execute(select(products.c.ref, products.c.id).where(products.c.ref.in_(wanted))).all())
        if wanted - set(ids):
            raise MerchantError(f"unknown product refs: {sorted(wanted - set(ids))}")
        sold = set(
            conn.execute(
                select(catalog_products.c.product_id).where(
                    catalog_products.c.catalog_id == catalog.id, catalog_products.c.product_id.in_(ids.values())
                )
            ).scalars()
        )
        added = sorted(ref for ref in set(add) if ids[ref] not in sold)
        _check_priced(conn, catalog.currency, {ref: ids[ref] for ref in added})
        removed = sorted(ref for ref in set(remove) - set(add) if ids[ref] in sold)
        if added:
            conn.execute(catalog_products.insert(), [{"catalog_id": catalog.id, "product_id": ids[r]} for r in added])
            catalog_changes.record(conn, now, catalog.id, [ids[r] for r in added], "insert")
        if removed:
            conn.execute(
                delete(catalog_products).where(
                    catalog_products.c.catalog_id == catalog.id,
                    catalog_products.c.product_id.in_([ids[r] for r in removed]),
                )
            )
            catalog_changes.record(conn, now, catalog.id, [ids[r] for r in removed], "delete")
        if added or removed:
            audit(
                conn,
                now,
                actor,
                "merchant",
                realm,
                "catalog_products_changed",
                after={"catalog": catalog.name, "added": added, "removed": removed},
            )
    return added, removed


def _merchant_id(realm: str) -> ScalarSelect[int]:
    # a subquery, not a join: FOR UPDATE then locks the catalogue rows only, not the merchant's
    return select(merchants.c.id).where(merchants.c.realm == realm).scalar_subquery()


def remove_catalog(ctx: Context, realm: str, catalog: str, actor: str = "operator") -> str:
    """Delete a merchant's catalogue (by name or id), its products, feed configurations and feed
    history; returns its name. A catalogue with orders stays: they must keep their catalogue.

    The catalogue row is locked first, so an order being created in it either commits before (and
    the removal is refused) or fails its foreign key after."""
    with ctx.db.write() as conn:
        found = conn.execute(
            for_update(
                select(catalogs.c.id, catalogs.c.name, catalogs.c.currency, catalogs.c.merchant_id)
                .where(catalogs.c.merchant_id == _merchant_id(realm), catalogs.c.sandbox.is_(False))
                .order_by(catalogs.c.id)
            )
        ).all()
        chosen = [c for c in found if catalog.strip() in (c.name, str(c.id))]
        if not chosen:
            raise MerchantError(f"merchant {realm!r} has no catalogue {catalog!r}{_listing(found)}")
        target = chosen[0]
        twin = sandbox.twin_of(conn, target.id)
        placed = conn.execute(select(func.count()).where(orders.c.catalog_id == target.id)).scalar_one()
        if placed:
            raise MerchantError(
                f"catalogue {target.name!r} of merchant {realm!r} has {placed} order{'s' * (placed > 1)}: not removed"
            )
        tested = conn.execute(select(func.count()).where(orders.c.catalog_id == twin)).scalar_one() if twin else 0
        if tested:
            raise MerchantError(
                f"the sandbox of catalogue {target.name!r} of merchant {realm!r} has {tested} test "
                f"order{'s' * (tested > 1)}: purge them first (resell sandbox purge)"
            )
        for table in (feed_configs, catalog_change_rows, catalog_products):
            conn.execute(delete(table).where(table.c.catalog_id == target.id))
        if twin is not None:
            conn.execute(delete(catalogs).where(catalogs.c.id == twin))
        conn.execute(delete(catalogs).where(catalogs.c.id == target.id))
        audit(
            conn,
            ctx.now(),
            actor,
            "merchant",
            target.merchant_id,
            "catalog_removed",
            before={"catalog": target.name, "id": target.id, "currency": target.currency},
        )
    forget_credentials(ctx.db)
    return str(target.name)


# ---------------------------------------------------------------- the back office: looking, rotating


@dataclass(frozen=True)
class MerchantSummary:
    merchant_id: int
    realm: str
    name: str
    active: bool
    catalogs: int
    orders: int
    created_at: dt.datetime


@dataclass(frozen=True)
class CatalogInfo:
    """A live catalogue as the operator sees it, with its sandbox twin if it has one (a twin is never
    listed on its own). Its secrets are stored hashed only: nothing of them to show."""

    catalog_id: int
    name: str
    currency: str
    products: int
    orders: int
    cancel_period_days: int
    requires_amounts: bool
    delivery_email: bool
    created_at: dt.datetime
    sandbox_catalog_id: int | None = None  # its sandbox twin (`resell merchant sandbox` makes one)
    test_orders: int = 0  # the twin's orders (test orders: no sales)


@dataclass(frozen=True)
class EndpointInfo:
    endpoint_id: int
    url: str
    events: list[str]
    active: bool
    disabled_reason: str | None


@dataclass(frozen=True)
class MerchantDetail:
    merchant_id: int
    realm: str
    name: str
    active: bool
    created_at: dt.datetime
    catalogs: list[CatalogInfo]
    endpoints: list[EndpointInfo]  # the webhook endpoints it has not removed
    orders: int
    active_orders: int
    cancelled_orders: int
    last_order_date: dt.datetime | None


@dataclass(frozen=True)
class RotatedSecret:
    """A new secret, to show once: only its hash is kept."""

    realm: str
    secret: str
    catalog: str | None = None  # the catalogue's name, for a catalogue secret
    refresh_tokens_revoked: int = 0


def list_merchants(ctx: Context) -> list[MerchantSummary]:
    """Every merchant by realm, with how many catalogues and orders it has."""
    with ctx.db.read() as conn:
        catalog_counts: dict[int, int] = dict(
            conn.execute(
                select(catalogs.c.merchant_id, func.count())
                .where(catalogs.c.sandbox.is_(False))
                .group_by(catalogs.c.merchant_id)
            ).all()
        )
        order_counts: dict[int, int] = dict(
            conn.execute(
                select(orders.c.merchant_id, func.count())
                .where(orders.c.test.is_(False))
                .group_by(orders.c.merchant_id)
            ).all()
        )
        rows = conn.execute(select(merchants).order_by(merchants.c.realm)).all()
    return [
        MerchantSummary(
            merchant_id=r.id,
            realm=r.realm,
            name=r.name,
            active=r.active,
            catalogs=catalog_counts.get(r.id, 0),
            orders=order_counts.get(r.id, 0),
            created_at=r.created_at,
        )
        for r in rows
    ]


def realm_of(ctx: Context, merchant_id: int) -> str:
    """The realm of a merchant (MerchantError when there is none): a merchant account's pages start here."""
    with ctx.db.read() as conn:
        realm = conn.execute(select(merchants.c.realm).where(merchants.c.id == merchant_id)).scalar()
    if realm is None:
        raise MerchantError(f"no merchant {merchant_id}")
    return str(realm)


def merchant_detail(ctx: Context, realm: str) -> MerchantDetail:
    with ctx.db.read() as conn:
        merchant = conn.execute(select(merchants).where(merchants.c.realm == realm.strip())).first()
        if merchant is None:
            raise MerchantError(f"no merchant {realm!r}")
        products_per: dict[int, int] = dict(
            conn.execute(
                select(catalog_products.c.catalog_id, func.count())
                .join(catalogs, catalogs.c.id == catalog_products.c.catalog_id)
                .where(catalogs.c.merchant_id == merchant.id)
                .group_by(catalog_products.c.catalog_id)
            ).all()
        )
        by_catalog: dict[int, int] = {}
        by_status: dict[str, int] = {}
        for catalog_id, status, test, n in conn.execute(
            select(orders.c.catalog_id, orders.c.status, orders.c.test, func.count())
            .where(orders.c.merchant_id == merchant.id)
            .group_by(orders.c.catalog_id, orders.c.status, orders.c.test)
        ):
            by_catalog[catalog_id] = by_catalog.get(catalog_id, 0) + n
            if not test:  # test orders are no sales
                by_status[status] = by_status.get(status, 0) + n
        last = conn.execute(
            select(func.max(orders.c.order_date)).where(orders.c.merchant_id == merchant.id, orders.c.test.is_(False))
        ).scalar()
        every = conn.execute(
            select(catalogs).where(catalogs.c.merchant_id == merchant.id).order_by(catalogs.c.id)
        ).all()
        twins = {c.live_catalog_id: c.id for c in every if c.sandbox}
        cats = [c for c in every if not c.sandbox]
        endpoints = conn.execute(
            select(webhook_endpoints)
            .where(webhook_endpoints.c.merchant_id == merchant.id, webhook_endpoints.c.removed_at.is_(None))
            .order_by(webhook_endpoints.c.id)
        ).all()
    return MerchantDetail(
        merchant_id=merchant.id,
        realm=merchant.realm,
        name=merchant.name,
        active=merchant.active,
        created_at=merchant.created_at,
        catalogs=[
            CatalogInfo(
                catalog_id=c.id,
                name=c.name,
                currency=c.currency,
                products=products_per.get(c.id, 0),
                orders=by_catalog.get(c.id, 0),
                cancel_period_days=c.cancel_period_days,
                requires_amounts=c.requires_amounts,
                delivery_email=c.delivery_email,
                created_at=c.created_at,
                sandbox_catalog_id=twins.get(c.id),
                test_orders=by_catalog.get(twins.get(c.id, -1), 0),
            )
            for c in cats
        ],
        endpoints=[EndpointInfo(e.id, e.url, list(e.events), e.active, e.disabled_reason) for e in endpoints],
        orders=sum(by_status.values()),
        active_orders=by_status.get("active", 0),
        cancelled_orders=by_status.get("cancelled", 0),
        last_order_date=last,
    )


def rotate_client_secret(ctx: Context, realm: str, actor: str = "operator") -> RotatedSecret:
    """A new API client secret for the merchant: the old one no longer signs in (/iam/token: 401) and
    every refresh token is revoked, so a leaked secret cannot keep a session going. Access tokens
    already issued live out their few minutes (`resell merchant revoke-tokens` ends them too)."""
    secret = new_secret()
    now = ctx.now()
    with ctx.db.write() as conn:
        merchant_id = conn.execute(
            update(merchants)
            .where(merchants.c.realm == realm.strip())
            .values(client_secret_hash=hash_secret(secret))
            .returning(merchants.c.id)
        ).scalar()
        if merchant_id is None:
            raise MerchantError(f"no merchant {realm!r}")
        revoked = revoke_refresh_tokens(conn, now, merchant_id)
        audit(
            conn, now, actor, "merchant", merchant_id, "client_secret_rotated", after={"refreshTokensRevoked": revoked}
        )
    return RotatedSecret(realm=realm.strip(), secret=secret, refresh_tokens_revoked=revoked)


def rotate_catalog_secret(ctx: Context, realm: str, catalog: str, actor: str = "operator") -> RotatedSecret:
    """A new secret for a merchant's catalogue (by name or id): the old one is refused at once (71)."""
    secret = new_secret()
    now = ctx.now()
    with ctx.db.write() as conn:
        found = conn.execute(
            select(catalogs.c.id, catalogs.c.name, catalogs.c.merchant_id)
            .where(catalogs.c.merchant_id == _merchant_id(realm.strip()), catalogs.c.sandbox.is_(False))
            .order_by(catalogs.c.id)
        ).all()
        chosen = [c for c in found if catalog.strip() in (c.name, str(c.id))]
        if not chosen:
            raise MerchantError(f"merchant {realm!r} has no catalogue {catalog!r}{_listing(found)}")
        target = chosen[0]
        conn.execute(update(catalogs).where(catalogs.c.id == target.id).values(secret_hash=hash_secret(secret)))
        audit(
            conn, now, actor, "merchant", target.merchant_id, "catalog_secret_rotated", after={"catalog": target.name}
        )
    forget_credentials(ctx.db)
    return RotatedSecret(realm=realm.strip(), secret=secret, catalog=target.name)
