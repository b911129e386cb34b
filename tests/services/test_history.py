"""Order history (resell.services.history): one customer's orders of the calling merchant only."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from resell.db.tables import merchants
from resell.domain.codes import Refusal
from resell.services import history, iam, orders
from resell.services.context import Caller
from tests.conftest import World, order_body


def caller(ctx, secret: str) -> Caller:  # type: ignore[no-untyped-def]
    return iam.caller_for_secret(ctx, secret)


def refusal(call) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(Refusal) as refused:
        call()
    return refused.value.code


def test_history_by_partner_id_is_the_callers_orders_newest_first(ctx, world: World, clock) -> None:
    a, b = caller(ctx, world.a.secret), caller(ctx, world.b.secret)
    first = orders.submit_order(ctx, a, order_body("A-1", (1003, 1)))
    clock.advance(hours=1)
    second = orders.submit_order(ctx, a, order_body("A-2", (1002, 1), orderDate="2026-11-29T08:30:00+01:00"))
    orders.submit_order(ctx, b, order_body("B-1", (1002, 1)))
    orders.submit_order(
        ctx,
        a,
        order_body(
            "A-OTHER",
            (1002, 1),
            customer={**order_body("x")["customer"], "partnerId": "someone-else", "email": "other@example.com"},
        ),
    )
    clock.advance(hours=1)
    orders.cancel_order(ctx, a, "A-1", 4, None)

    found = history.by_partner_id(ctx, a, "cust-1")
    assert (found.partner_id, found.email) == ("cust-1", "buyer@example.com")
    assert [(o.partner_order_number, o.order_number, o.status_code, o.status_description) for o in found.orders] == [
        ("A-2", second.order_number, 1, "active"),
        ("A-1", first.order_number, 2, "cancelled"),
    ]
    assert found.orders[0].date_order == dt.datetime(2026, 11, 29, 7, 30, tzinfo=dt.UTC)
    assert found.orders[0].date_invoice == clock.now - dt.timedelta(hours=1)
    assert [o.partner_order_number for o in history.by_partner_id(ctx, b, "cust-1").orders] == ["B-1"]


def test_history_spans_the_merchants_catalogues(ctx, world: World) -> None:
    eur, usd = caller(ctx, world.a.secret), caller(ctx, world.a.other_secret)
    orders.submit_order(ctx, eur, order_body("EUR-1", (1002, 1)))
    orders.submit_order(ctx, usd, order_body("USD-1", (1002, 1), currency="USD"))
    assert {o.partner_order_number for o in history.by_partner_id(ctx, eur, "cust-1").orders} == {"EUR-1", "USD-1"}
    assert {o.partner_order_number for o in history.by_email(ctx, usd, "buyer@example.com").orders} == {
        "EUR-1",
        "USD-1",
    }


def test_history_by_email_matches_the_email_as_create_order_stored_it(ctx, world: World) -> None:
    a, b = caller(ctx, world.a.secret), caller(ctx, world.b.secret)
    orders.submit_order(ctx, a, order_body("E-1", (1002, 1)))
    found = history.by_email(ctx, a, "  buyer@EXAMPLE.COM ")
    assert (found.email, found.partner_id) == ("buyer@example.com", "cust-1")
    assert [o.partner_order_number for o in found.orders] == ["E-1"]
    assert refusal(lambda: history.by_email(ctx, b, "buyer@example.com")) == 1010  # not another merchant's


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_partner_id_or_email_is_100(ctx, world: World, raw) -> None:  # type: ignore[no-untyped-def]
    a = caller(ctx, world.a.secret)
    assert refusal(lambda: history.by_partner_id(ctx, a, raw)) == 100
    assert refusal(lambda: history.by_email(ctx, a, raw)) == 100


def test_unknown_partner_is_1010_and_a_bad_email_101(ctx, world: World) -> None:
    a = caller(ctx, world.a.secret)
    assert refusal(lambda: history.by_partner_id(ctx, a, "cust-1")) == 1010  # no order yet
    assert refusal(lambda: history.by_partner_id(ctx, a, True)) == 100
    assert refusal(lambda: history.by_email(ctx, a, "not-an-email")) == 101
    orders.submit_order(ctx, a, order_body("N-1", (1002, 1), customer={**order_body("x")["customer"], "partnerId": 77}))
    assert [o.partner_order_number for o in history.by_partner_id(ctx, a, 77).orders] == ["N-1"]


def test_caller_for_secret_names_the_merchant_of_the_catalogue(ctx, world: World) -> None:
    a = caller(ctx, world.a.secret)
    usd = caller(ctx, world.a.other_secret)
    assert (a.realm, a.currency, usd.realm, usd.currency) == ("shop-a", "EUR", "shop-a", "USD")
    assert a.merchant_id == usd.merchant_id and a.catalog_id != usd.catalog_id
    assert caller(ctx, f"  {world.b.secret}\n").realm == "shop-b"
    assert refusal(lambda: iam.caller_for_secret(ctx, None)) == 70
    assert refusal(lambda: iam.caller_for_secret(ctx, " ")) == 70
    assert refusal(lambda: iam.caller_for_secret(ctx, "unknown")) == 71
    with ctx.db.write() as conn:
        conn.execute(update(merchants).where(merchants.c.realm == "shop-b").values(active=False))
    iam.forget_credentials(ctx.db)  # what a service does once such a change commits (else: within a second)
    assert refusal(lambda: iam.caller_for_secret(ctx, world.b.secret)) == 71
