"""The merchant sandbox: sandbox catalogues, the emails test orders keep, purging test orders.

Every live catalogue has a sandbox twin (catalogs.sandbox, catalogs.live_catalog_id) with its own
secret, `test_...`. The twin holds no products of its own: a request made with its secret acts on
the live catalogue's products, prices, currency and cancel period (resell.services.iam resolves the
secret to the live catalogue, once, so nothing has to be kept in sync), and its orders are test
orders (orders.test): TEST- serials that are no stock (resell.services.sandbox_orders), no email to
the end user (the email is rendered and kept here, table sandbox_emails), webhooks with
`"test": true`, refusals on demand (resell.domain.sandbox), and none of it in stock counts,
statements or the dashboard. `purge` deletes test orders and everything hanging off them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import Connection, delete, func, or_, select, update

from resell.db.engine import inserted_id
from resell.db.tables import (
    OutboxOrder,
    catalogs,
    download_stats,
    line_items,
    merchants,
    order_lines,
    orders,
    outbox,
    sandbox_emails,
    serial_assignments,
    serials,
    shipments,
    subscriptions,
)
from resell.domain.sandbox import new_test_serial
from resell.domain.secrets import hash_secret, new_secret
from resell.services.audit_log import audit
from resell.services.context import Context
from resell.services.iam import forget_credentials

SECRET_PREFIX = "test_"


class SandboxError(ValueError):
    """An operator mistake (unknown catalogue, a sandbox named instead of a live one): the CLI prints it."""


# ---------------------------------------------------------------- sandbox catalogues


@dataclass(frozen=True)
class SandboxSecret:
    """A sandbox catalogue's new secret, to show once: only its hash is kept."""

    live_catalog_id: int
    sandbox_catalog_id: int
    catalog: str  # the live catalogue's name
    secret: str
    created: bool  # a new sandbox catalogue (False: the secret of an existing one was rotated)


def sandbox_name(live_name: str) -> str:
    return f"{live_name} (sandbox)"


def insert_twin(conn: Connection, now: dt.datetime, live: int) -> tuple[int, str]:
    """Create the sandbox catalogue of live catalogue `live` in the caller's transaction; (its id, secret)."""
    row = conn.execute(select(catalogs).where(catalogs.c.id == live)).one()
    secret = new_secret(SECRET_PREFIX)
    twin_id = inserted_id(
        conn.execute(
            catalogs.insert().values(
                merchant_id=row.merchant_id,
                name=sandbox_name(row.name),
                secret_hash=hash_secret(secret),
                currency=row.currency,
                cancel_period_days=row.cancel_period_days,
                requires_amounts=row.requires_amounts,
                delivery_email=row.delivery_email,
                created_at=now,
                sandbox=True,
                live_catalog_id=live,
            )
        )
    )
    return twin_id, secret


def twin_of(conn: Connection, live: int) -> int | None:
    """The sandbox catalogue of live catalogue `live`, if it has one."""
    found: int | None = conn.execute(
        select(catalogs.c.id).where(catalogs.c.live_catalog_id == live, catalogs.c.sandbox.is_(True))
    ).scalar()
    return found


def provide_sandbox(ctx: Context, catalog_id: int, actor: str = "operator") -> SandboxSecret:
    """The sandbox of a live catalogue, with a new `test_` secret: created if it has none, its secret
    rotated otherwise (the old one is refused at once, 71). The secret is shown once."""
    now = ctx.now()
    with ctx.db.write() as conn:
        live = conn.execute(select(catalogs).where(catalogs.c.id == catalog_id)).first()
        if live is None:
            raise SandboxError(f"no catalogue {catalog_id}")
        if live.sandbox:
            raise SandboxError(
                f"catalogue {catalog_id} is a sandbox catalogue: name its live catalogue ({live.live_catalog_id})"
            )
        existing = twin_of(conn, live.id)
        if existing is None:
            twin_id, secret = insert_twin(conn, now, live.id)
            action = "sandbox_created"
        else:
            twin_id, secret = existing, new_secret(SECRET_PREFIX)
            conn.execute(update(catalogs).where(catalogs.c.id == twin_id).values(secret_hash=hash_secret(secret)))
            action = "sandbox_secret_rotated"
        audit(conn, now, actor, "merchant", live.merchant_id, action, after={"catalog": live.name, "sandbox": twin_id})
    forget_credentials(ctx.db)
    return SandboxSecret(live.id, twin_id, live.name, secret, existing is None)


# ---------------------------------------------------------------- kept emails


@dataclass(frozen=True)
class KeptEmail:
    """An email a test order would have sent, as the end user would have received it."""

    email_id: int
    order_id: int
    partner_order_number: str
    kind: str
    to: str
    subject: str
    text: str
    html: str
    created_at: dt.datetime


def keep_email(ctx: Context, event_id: str, order_id: int, kind: str, message: EmailMessage) -> bool:
    """Keep a rendered email of a test order instead of sending it; once per outbox event (a retried
    event keeps nothing more). False when it was kept already or the order is gone (purged)."""
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    text = text_part.get_content() if text_part is not None else ""  # type: ignore[attr-defined]
    html = html_part.get_content() if html_part is not None else ""  # type: ignore[attr-defined]
    with ctx.db.write() as conn:
        if conn.execute(select(sandbox_emails.c.id).where(sandbox_emails.c.event_id == event_id)).first():
            return False
        merchant_id = conn.execute(select(orders.c.merchant_id).where(orders.c.id == order_id)).scalar()
        if merchant_id is None:
            return False
        conn.execute(
            sandbox_emails.insert().values(
                merchant_id=merchant_id,
                order_id=order_id,
                event_id=event_id,
                kind=kind,
                to=str(message["To"]),
                subject=str(message["Subject"]),
                text=text,
                html=html,
                created_at=ctx.now(),
            )
        )
    return True


_EMAIL_COLUMNS = (
    sandbox_emails.c.id,
    sandbox_emails.c.order_id,
    orders.c.partner_order_number,
    sandbox_emails.c.kind,
    sandbox_emails.c.to,
    sandbox_emails.c.subject,
    sandbox_emails.c.text,
    sandbox_emails.c.html,
    sandbox_emails.c.created_at,
)


def _kept(row) -> KeptEmail:  # type: ignore[no-untyped-def]
    return KeptEmail(
        row.id, row.order_id, row.partner_order_number, row.kind, row.to, row.subject, row.text, row.html,
        row.created_at,
    )


def list_emails(
    ctx: Context, merchant_id: int, partner_order_number: str | None = None, limit: int = 50,
    before_id: int | None = None,
) -> list[KeptEmail]:
    """A merchant's kept emails, newest first (`before_id`: the next page), of one order if named."""
    query = (
        select(*_EMAIL_COLUMNS)
        .join(orders, orders.c.id == sandbox_emails.c.order_id)
        .where(sandbox_emails.c.merchant_id == merchant_id)
        .order_by(sandbox_emails.c.id.desc())
        .limit(limit)
    )
    if partner_order_number is not None:
        query = query.where(orders.c.partner_order_number == partner_order_number, orders.c.test.is_(True))
    if before_id is not None:
        query = query.where(sandbox_emails.c.id < before_id)
    with ctx.db.read() as conn:
        return [_kept(r) for r in conn.execute(query)]


def get_email(ctx: Context, merchant_id: int, email_id: int) -> KeptEmail | None:
    """One kept email of the merchant; None for another merchant's (the same as for none)."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(*_EMAIL_COLUMNS)
            .join(orders, orders.c.id == sandbox_emails.c.order_id)
            .where(sandbox_emails.c.merchant_id == merchant_id, sandbox_emails.c.id == email_id)
        ).first()
    return None if row is None else _kept(row)


# ---------------------------------------------------------------- purge


@dataclass(frozen=True)
class PurgeResult:
    orders: int
    serials: int
    subscriptions: int
    emails: int
    outbox: int


PURGE_BATCH = 200


def test_orders_to_purge(ctx: Context, realm: str | None = None, before: dt.datetime | None = None) -> list[int]:
    """The ids of the test orders a purge would delete (of one merchant, placed before an instant)."""
    query = select(orders.c.id).where(orders.c.test.is_(True)).order_by(orders.c.id)
    if realm is not None:
        merchant_id = _merchant_id(ctx, realm)
        query = query.where(orders.c.merchant_id == merchant_id)
    if before is not None:
        query = query.where(orders.c.created_at < before)
    with ctx.db.read() as conn:
        return list(conn.execute(query).scalars())


def _merchant_id(ctx: Context, realm: str) -> int:
    with ctx.db.read() as conn:
        found: int | None = conn.execute(select(merchants.c.id).where(merchants.c.realm == realm.strip())).scalar()
    if found is None:
        raise SandboxError(f"no merchant {realm!r}")
    return found


def purge(
    ctx: Context,
    realm: str | None = None,
    before: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    actor: str = "operator",
) -> PurgeResult:
    """Delete test orders (every merchant's, or one's; all, or those placed before `before`) and
    everything hanging off them: lines, items, their TEST- serials, subscriptions, shipments,
    download counters, kept emails, outbox rows. In batches of PURGE_BATCH orders, one transaction
    each; `progress` is told how many orders each batch deleted. Live orders are never touched."""
    ids = test_orders_to_purge(ctx, realm, before)
    totals = [0, 0, 0, 0, 0]
    for start in range(0, len(ids), PURGE_BATCH):
        batch = ids[start : start + PURGE_BATCH]
        with ctx.db.write() as conn:
            counts = _purge_batch(conn, batch)
            audit(conn, ctx.now(), actor, "sandbox", realm or "*", "purged", after={"orders": counts[0]})
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        if progress is not None:
            progress(len(batch))
    return PurgeResult(*totals)


def _purge_batch(conn: Connection, ids: list[int]) -> list[int]:
    """Delete these test orders, their renewal orders (whenever placed: they hold terms of the
    subscriptions deleted with them) and what hangs off them; (orders, serials, subscriptions,
    emails, outbox rows) deleted."""
    chosen = (orders.c.id.in_(ids)) | (orders.c.parent_order_id.in_(ids))
    test_ids = list(conn.execute(select(orders.c.id).where(chosen, orders.c.test.is_(True))).scalars())
    if not test_ids:
        return [0, 0, 0, 0, 0]
    line_ids = select(order_lines.c.id).where(order_lines.c.order_id.in_(test_ids))
    item_ids = select(line_items.c.id).where(line_items.c.order_line_id.in_(line_ids))
    serial_ids = list(
        conn.execute(
            select(serial_assignments.c.serial_id).where(serial_assignments.c.line_item_id.in_(item_ids))
        ).scalars()
    )
    order_keys = [str(i) for i in test_ids]
    outbox_rows = conn.execute(delete(outbox).where(OutboxOrder(outbox.c.payload).in_(order_keys))).rowcount
    emails = conn.execute(delete(sandbox_emails).where(sandbox_emails.c.order_id.in_(test_ids))).rowcount
    subs = conn.execute(
        delete(subscriptions).where(
            or_(subscriptions.c.order_id.in_(test_ids), subscriptions.c.line_item_id.in_(item_ids))
        )
    ).rowcount
    conn.execute(delete(serial_assignments).where(serial_assignments.c.line_item_id.in_(item_ids)))
    removed_serials = 0
    if serial_ids:
        # only the generated TEST- serials: a test order never holds a real one
        removed_serials = conn.execute(
            delete(serials).where(serials.c.id.in_(serial_ids), serials.c.status == TEST_STATUS)
        ).rowcount
    conn.execute(delete(download_stats).where(download_stats.c.order_line_id.in_(line_ids)))
    conn.execute(delete(shipments).where(shipments.c.order_id.in_(test_ids)))
    conn.execute(delete(line_items).where(line_items.c.order_line_id.in_(line_ids)))
    conn.execute(delete(order_lines).where(order_lines.c.order_id.in_(test_ids)))
    # renewal orders of a test order are test orders too: children first
    conn.execute(update(orders).where(orders.c.id.in_(test_ids)).values(parent_order_id=None))
    conn.execute(delete(orders).where(orders.c.id.in_(test_ids)))
    return [len(test_ids), int(removed_serials), int(subs), int(emails), int(outbox_rows)]


def count_test_orders(ctx: Context, merchant_id: int) -> int:
    with ctx.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(orders.c.merchant_id == merchant_id, orders.c.test.is_(True))
            ).scalar_one()
        )


# the status of a generated TEST- serial: never available, never counted as stock
TEST_STATUS = "test"


def new_serials(conn: Connection, now: dt.datetime, product_id: int, count: int) -> list[tuple[int, str]]:
    """`count` generated TEST- serials of a product for a test order, in the caller's transaction:
    rows of `serials` in status TEST_STATUS, never available, never counted as stock."""
    made = []
    for _ in range(count):
        value = new_test_serial()
        serial_id = inserted_id(
            conn.execute(
                serials.insert().values(product_id=product_id, value=value, status=TEST_STATUS, imported_at=now)
            )
        )
        made.append((serial_id, value))
    return made
