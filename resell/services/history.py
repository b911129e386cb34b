"""Order history: a merchant's orders for one of its customers, by customer id or by end-user email.

SOAP v2.x renders these (customer getOrderHistory by `partnerId`, the merchant's customer id given
in createOrder; order getAllOrders by the end user's email); a REST rendering would call the same
functions. The orders come through `tenancy.merchant_orders`: another merchant's never appear.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select

from resell.db.tables import orders
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.order_request import normalized_email
from resell.domain.request_fields import is_blank
from resell.services.context import Caller, Context
from resell.services.tenancy import merchant_orders

# Order status as the history reports it: statusCode and statusDescription.
STATUSES: dict[str, tuple[int, str]] = {
    "active": (1, "active"),  # delivered; licences and downloads valid
    "cancelled": (2, "cancelled"),  # licences revoked, downloads stopped
}


@dataclass(frozen=True)
class OrderSummary:
    partner_order_number: str
    order_number: int
    status_code: int
    status_description: str
    date_order: dt.datetime  # the merchant's orderDate
    date_invoice: dt.datetime  # when resell recorded (and billed) the order


@dataclass(frozen=True)
class History:
    partner_id: str | None
    email: str | None
    orders: list[OrderSummary]  # newest first


def _summaries(ctx: Context, query: Select) -> list:  # type: ignore[type-arg]
    with ctx.db.read() as conn:
        return list(
            conn.execute(
                query.with_only_columns(
                    orders.c.id,
                    orders.c.partner_order_number,
                    orders.c.status,
                    orders.c.order_date,
                    orders.c.created_at,
                    orders.c.customer_email,
                    orders.c.customer_partner_id,
                ).order_by(orders.c.created_at.desc(), orders.c.id.desc())
            )
        )


def _history(rows: list, partner_id: str | None, email: str | None, not_found: int) -> History:  # type: ignore[type-arg]
    if not rows:
        raise Refusal(not_found)
    return History(
        partner_id=partner_id,
        email=email,
        orders=[
            OrderSummary(
                partner_order_number=r.partner_order_number,
                order_number=r.id,
                status_code=STATUSES[r.status][0],
                status_description=STATUSES[r.status][1],
                date_order=r.order_date,
                date_invoice=r.created_at,
            )
            for r in rows
        ],
    )


def by_partner_id(ctx: Context, caller: Caller, raw_partner_id: object) -> History:
    """The caller's orders of the customer it called `partnerId` in createOrder (100 missing, 1010 unknown)."""
    if is_blank(raw_partner_id) or isinstance(raw_partner_id, bool) or not isinstance(raw_partner_id, str | int):
        raise Refusal(codes.HISTORY_PARTNER_ID_MISSING)
    partner_id = str(raw_partner_id).strip()
    rows = _summaries(ctx, merchant_orders(caller).where(orders.c.customer_partner_id == partner_id))
    return _history(rows, partner_id, rows[0].customer_email if rows else None, codes.PARTNER_NOT_FOUND)


def by_email(ctx: Context, caller: Caller, raw_email: object) -> History:
    """The caller's orders for an end-user email (100 missing, 101 not an email, 1010 none)."""
    if is_blank(raw_email):
        raise Refusal(codes.HISTORY_EMAIL_MISSING)
    email = normalized_email(raw_email, codes.HISTORY_EMAIL_NOT_VALID)
    rows = _summaries(ctx, merchant_orders(caller).where(orders.c.customer_email == email))
    return _history(rows, rows[0].customer_partner_id if rows else None, email, codes.CUSTOMER_NOT_FOUND)
