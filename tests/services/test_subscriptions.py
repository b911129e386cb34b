"""Subscriptions (docs/subscriptions-and-webhooks.md): status, cancel, renew, the worker's renewals and
their failures, termination by cancelOrder, and the audit rows all of it leaves."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select, update

from resell.db.tables import orders, products, serials
from resell.domain.codes import Refusal
from resell.domain.periods import parse_period
from resell.domain.retry import RENEWALS
from resell.services import orders as order_service
from resell.services import stock
from resell.services import subscriptions as subs
from resell.services.context import Context
from tests.conftest import Clock, World, order_body
from tests.renewal_support import (
    SUBSCRIPTION_REF,
    audit_trail,
    buy,
    caller_of,
    order_count,
    outbox_events,
    subscription,
)

YEAR = parse_period("P1Y")


def refused(code: int, fn, *args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Refusal) as caught:
        fn(*args)
    assert caught.value.code == code, caught.value


def drain(ctx: Context, ref: int = SUBSCRIPTION_REF) -> int:
    """Take every serial left in the pool (as other orders would)."""
    with ctx.db.write() as conn:
        product_id = conn.execute(select(products.c.id).where(products.c.ref == ref)).scalar_one()
        left = stock.available_at_most(conn, product_id, 10_000)
        stock.allocate(conn, product_id, left)
    return left


def serial_of(ctx: Context, who, pon: str) -> list[str]:  # type: ignore[no-untyped-def]
    view = order_service.get_order(ctx, who, pon)
    return [s for line in view.lines for item in line.line_items for s in item.serials]


# ---------------------------------------------------------------- getSubscriptionStatus


def test_a_new_subscription_is_active_generation_0_for_one_period(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    first, second = buy(ctx, who, "PON", quantity=2)
    assert first != second
    view = subs.get_status(ctx, who, "PON", first)
    assert (view.status, view.generation, view.period, view.product_ref) == ("ACTIVE", 0, "P1Y", SUBSCRIPTION_REF)
    assert view.partner_order_number == "PON" and view.subscription_id == first
    assert view.expires_at == clock.now + YEAR and view.next_change_at == view.expires_at
    assert view.created_at == view.updated_at == clock.now
    assert view.currency == "EUR" and float(view.amount) == 30.0  # the catalogue price: the line gave none
    assert subs.get_status(ctx, who, "PON", str(second)).subscription_id == second  # ids as strings of digits


@pytest.mark.parametrize(
    ("pon", "sub_id", "code"),
    [
        (None, 1, 100),
        ("  ", 1, 100),
        ("PON", None, 110),
        ("PON", "", 110),
        ("PON", "abc", 111),
        ("PON", 0, 111),
        ("PON", -4, 111),
        ("PON", 1.5, 111),
        ("PON", True, 111),
        ("NOPE", 1, 1010),
        ("PON", 999_999, 1010),
    ],
)
def test_status_refusals_carry_the_contracts_codes(ctx: Context, world: World, pon, sub_id, code) -> None:  # type: ignore[no-untyped-def]
    who = caller_of(ctx, world.a)
    buy(ctx, who, "PON")
    refused(code, subs.get_status, ctx, who, pon, sub_id)


def test_a_subscription_is_found_only_through_its_own_order_and_merchant(ctx: Context, world: World) -> None:
    a, b = caller_of(ctx, world.a), caller_of(ctx, world.b)
    (sub_a,) = buy(ctx, a, "PON")
    (other,) = buy(ctx, a, "OTHER")
    buy(ctx, b, "PON")  # the same partnerOrderNumber at another merchant
    refused(1010, subs.get_status, ctx, a, "OTHER", sub_a)  # another order of the same merchant
    refused(1010, subs.get_status, ctx, b, "PON", sub_a)  # another merchant's subscription
    refused(1010, subs.cancel_subscription, ctx, b, "PON", sub_a)
    refused(1010, subs.renew_subscription, ctx, b, "PON", sub_a)
    assert subs.get_status(ctx, a, "OTHER", other).status == "ACTIVE"
    assert subscription(ctx, sub_a).status == "ACTIVE"  # b's attempts changed nothing


# ---------------------------------------------------------------- renewals by the worker


def test_renews_when_the_term_ends_with_a_new_order_serial_and_generation(
    ctx: Context, world: World, clock: Clock
) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    first_serial = serial_of(ctx, who, "PON")
    bought_at = clock.now

    clock.now = bought_at + YEAR - dt.timedelta(seconds=1)
    assert subs.renew_due(ctx).total == 0  # not yet
    clock.now = bought_at + YEAR
    result = subs.renew_due(ctx)
    assert (result.renewed, result.renewal_orders) == (1, ["PON-1"])

    row = subscription(ctx, sub_id)
    assert (row.status, row.generation) == ("ACTIVE", 1)
    assert row.expires_at == bought_at + YEAR + YEAR == row.next_change_at
    renewal = order_service.get_order(ctx, who, "PON-1")  # readable with getOrderData: the same merchant
    assert renewal.order_date == clock.now and renewal.status == "active"
    (line,) = renewal.lines
    (item,) = line.line_items
    assert line.product_ref == SUBSCRIPTION_REF and item.subscription_id == sub_id
    assert len(item.serials) == 1 and item.serials != first_serial
    assert serial_of(ctx, who, "PON") == first_serial  # the first order stands as it was
    with ctx.db.read() as conn:
        new = conn.execute(select(orders).where(orders.c.partner_order_number == "PON-1")).one()
        root = conn.execute(select(orders).where(orders.c.partner_order_number == "PON")).one()
    assert (new.parent_order_id, new.generation, new.renewed_subscription_id) == (root.id, 1, sub_id)
    assert new.customer_email == root.customer_email and new.merchant_id == root.merchant_id

    (event,) = outbox_events(ctx, "subscription.renewed")
    assert event.payload == {
        "merchantId": root.merchant_id,
        "subscriptionId": sub_id,
        "partnerOrderNumber": "PON",
        "orderNumber": root.id,
        "productRef": SUBSCRIPTION_REF,
        "generation": 1,
        "expirationDatetime": row.expires_at.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "renewalPartnerOrderNumber": "PON-1",
        "renewalOrderNumber": new.id,
    }
    actions = [a for a, _, _ in audit_trail(ctx, "subscription", sub_id)]
    assert actions == ["created", "renewed"]
    assert audit_trail(ctx, "order", new.id)[0][0] == "created"
    assert subs.renew_due(ctx).total == 0  # once per term


def test_a_pass_far_behind_catches_up_term_by_term(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    start = clock.now
    clock.now = start + YEAR + YEAR + YEAR + dt.timedelta(days=1)
    assert subs.renew_due(ctx).renewal_orders == ["PON-1", "PON-2", "PON-3"]
    row = subscription(ctx, sub_id)
    assert row.generation == 3 and row.expires_at == start + YEAR + YEAR + YEAR + YEAR  # terms back to back


def test_cancelled_subscription_keeps_its_licence_until_the_term_ends_then_expires(
    ctx: Context, world: World, clock: Clock
) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    ends = clock.now + YEAR
    done = subs.cancel_subscription(ctx, who, "PON", sub_id)
    assert (done.partner_order_number, done.subscription_id) == ("PON", sub_id)
    view = subs.get_status(ctx, who, "PON", sub_id)
    assert view.status == "CANCELLED" and view.expires_at == ends and view.next_change_at == ends
    assert serial_of(ctx, who, "PON")  # the order and its licence stand
    refused(1011, subs.cancel_subscription, ctx, who, "PON", sub_id)
    refused(1011, subs.renew_subscription, ctx, who, "PON", sub_id)

    clock.now = ends
    result = subs.renew_due(ctx)
    assert (result.renewed, result.expired) == (0, 1)
    view = subs.get_status(ctx, who, "PON", sub_id)
    assert view.status == "EXPIRED" and view.next_change_at is None and view.generation == 0
    assert order_count(ctx) == 1  # no renewal order
    assert [e.payload["subscriptionId"] for e in outbox_events(ctx, "subscription.cancelled")] == [sub_id]
    assert [e.payload["reason"] for e in outbox_events(ctx, "subscription.expired")] == ["cancelled"]
    assert [a for a, _, _ in audit_trail(ctx, "subscription", sub_id)] == ["created", "cancelled", "expired"]
    refused(1011, subs.cancel_subscription, ctx, who, "PON", sub_id)


def test_cancelling_the_order_terminates_its_subscriptions_at_once(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    sub_ids = buy(ctx, who, "PON", quantity=2)
    order_service.cancel_order(ctx, who, "PON", 2, "refund")
    for sub_id in sub_ids:
        view = subs.get_status(ctx, who, "PON", sub_id)
        assert view.status == "TERMINATED" and view.next_change_at is None
        assert audit_trail(ctx, "subscription", sub_id)[-1][0] == "terminated"
    refused(1011, subs.cancel_subscription, ctx, who, "PON", sub_ids[0])
    refused(1011, subs.renew_subscription, ctx, who, "PON", sub_ids[0])
    clock.advance(days=800)
    assert subs.renew_due(ctx).total == 0
    assert order_count(ctx) == 1


def test_cancelling_a_renewal_order_terminates_the_subscription(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    clock.advance(days=366)
    subs.renew_due(ctx)
    order_service.cancel_order(ctx, who, "PON-1", 3, None)
    assert subscription(ctx, sub_id).status == "TERMINATED"
    assert subs.get_status(ctx, who, "PON-1", sub_id).status == "TERMINATED"


def test_a_straggler_in_a_cancelled_order_is_terminated_by_the_worker(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    with ctx.db.write() as conn:  # an order cancelled by hand in the database, bypassing cancelOrder
        conn.execute(update(orders).where(orders.c.partner_order_number == "PON").values(status="cancelled"))
    clock.advance(days=366)
    assert subs.renew_due(ctx).terminated == 1
    assert subscription(ctx, sub_id).status == "TERMINATED" and order_count(ctx) == 1


def test_subscriptions_of_one_order_renew_together_into_one_order(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    first, second = buy(ctx, who, "PON", quantity=2)
    (elsewhere,) = buy(ctx, who, "ELSEWHERE")
    clock.advance(days=366)
    assert sorted(subs.renew_due(ctx, batch=1).renewal_orders) == ["ELSEWHERE-1", "PON-1"]
    (line,) = order_service.get_order(ctx, who, "PON-1").lines
    assert line.product_ref == SUBSCRIPTION_REF
    assert sorted(item.subscription_id for item in line.line_items) == [first, second]
    assert all(len(item.serials) == 1 for item in line.line_items)
    for sub_id in (first, second):
        view = subs.get_status(ctx, who, "PON-1", sub_id)  # through the renewal's own number too
        assert (view.generation, view.status, view.partner_order_number) == (1, "ACTIVE", "PON-1")
    refused(1010, subs.get_status, ctx, who, "PON-1", elsewhere)  # PON-1 holds no term of it
    assert len(outbox_events(ctx, "subscription.renewed")) == 3  # one event per subscription


def test_a_subscription_renewed_apart_from_its_sibling_gets_the_next_free_number(
    ctx: Context, world: World, clock: Clock
) -> None:
    who = caller_of(ctx, world.a)
    first, second = buy(ctx, who, "PON", quantity=2)
    assert subs.renew_subscription(ctx, who, "PON", first).partner_order_number == "PON-1"
    clock.advance(days=366)
    assert subs.renew_due(ctx).renewal_orders == ["PON-1-2"]  # the sibling's generation 1
    assert subscription(ctx, second).generation == 1 and subscription(ctx, first).generation == 1
    (line,) = order_service.get_order(ctx, who, "PON-1-2").lines
    assert [item.subscription_id for item in line.line_items] == [second]


# ---------------------------------------------------------------- no stock: pending, retried, reported


def test_no_stock_goes_to_renewal_pending_is_retried_and_succeeds_once_stock_is_back(
    ctx: Context, world: World, clock: Clock
) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    ends = clock.now + YEAR
    assert drain(ctx) == 9
    clock.now = ends
    result = subs.renew_due(ctx)
    assert (result.renewed, result.failed) == (0, 1)
    view = subs.get_status(ctx, who, "PON", sub_id)
    assert view.status == "RENEWAL_PENDING" and view.generation == 0
    assert view.next_change_at == ends + RENEWALS.first_delay
    row = subscription(ctx, sub_id)
    assert row.renewal_attempts == 1 and row.last_renewal_error == "no stock to renew"
    (failed,) = outbox_events(ctx, "subscription.renewal_failed")
    assert failed.payload["attempts"] == 1 and failed.payload["final"] is False
    assert failed.payload["nextAttemptAt"] == view.next_change_at.isoformat().replace("+00:00", "Z")
    assert order_count(ctx) == 1  # the failed renewal left no order behind

    assert subs.renew_due(ctx).total == 0  # not before the retry is due
    clock.now = ends + RENEWALS.first_delay
    assert subs.renew_due(ctx).failed == 1  # still no stock: reported once only, retried later
    assert subscription(ctx, sub_id).next_change_at == clock.now + 2 * RENEWALS.first_delay
    assert len(outbox_events(ctx, "subscription.renewal_failed")) == 1

    stock.import_serials(ctx, SUBSCRIPTION_REF, ["NEW-1"])
    clock.now = subscription(ctx, sub_id).next_change_at
    assert subs.renew_due(ctx).renewal_orders == ["PON-1"]
    row = subscription(ctx, sub_id)
    assert (row.status, row.generation, row.renewal_attempts, row.last_renewal_error) == ("ACTIVE", 1, 0, None)
    assert row.expires_at == ends + YEAR  # the new term follows the last one, not the late renewal
    assert serial_of(ctx, who, "PON-1") == ["NEW-1"]
    actions = [a for a, _, _ in audit_trail(ctx, "subscription", sub_id)]
    assert actions == ["created", "renewal_failed", "renewal_failed", "renewed"]


def test_a_renewal_that_never_finds_stock_is_reported_again_and_expires(
    ctx: Context, world: World, clock: Clock
) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    drain(ctx)
    clock.advance(days=366)
    started = clock.now
    for _attempt in range(RENEWALS.max_attempts):
        assert subs.renew_due(ctx).failed == 1
        nxt = subscription(ctx, sub_id).next_change_at
        if nxt is not None:
            clock.now = nxt
    assert clock.now - started < dt.timedelta(days=4)
    view = subs.get_status(ctx, who, "PON", sub_id)
    assert view.status == "EXPIRED" and view.next_change_at is None
    reports = outbox_events(ctx, "subscription.renewal_failed")
    assert [(r.payload["attempts"], r.payload["final"]) for r in reports] == [(1, False), (8, True)]
    assert [e.payload["reason"] for e in outbox_events(ctx, "subscription.expired")] == ["renewal failed"]
    clock.advance(days=30)
    assert subs.renew_due(ctx).total == 0


def test_a_renewal_order_number_the_merchant_already_used_moves_to_the_next_free_one(
    ctx: Context, world: World, clock: Clock
) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    order_service.submit_order(ctx, who, order_body("PON-1", (1002, 1)))  # the merchant's own PON-1
    clock.advance(days=366)
    assert subs.renew_due(ctx).renewal_orders == ["PON-1-2"]
    assert subscription(ctx, sub_id).generation == 1
    (line,) = order_service.get_order(ctx, who, "PON-1").lines
    assert line.product_ref == 1002  # the merchant's order is untouched


# ---------------------------------------------------------------- renewSubscription


def test_renew_subscription_renews_now_and_answers_the_new_order(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    ends = clock.now + YEAR
    done = subs.renew_subscription(ctx, who, "PON", sub_id)
    assert done.partner_order_number == "PON-1" and done.subscription_id == sub_id
    assert order_service.get_order(ctx, who, "PON-1").order_number == done.order_number
    row = subscription(ctx, sub_id)
    assert (row.generation, row.expires_at) == (1, ends + YEAR)  # a term added after the current one
    assert subs.renew_subscription(ctx, who, "PON-1", sub_id).partner_order_number == "PON-2"
    assert [e.payload["generation"] for e in outbox_events(ctx, "subscription.renewed")] == [1, 2]


def test_renew_subscription_without_stock_is_1044_and_changes_nothing(ctx: Context, world: World) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    drain(ctx)
    before = subscription(ctx, sub_id)
    refused(1044, subs.renew_subscription, ctx, who, "PON", sub_id)
    assert subscription(ctx, sub_id) == before and order_count(ctx) == 1
    assert outbox_events(ctx, "subscription.renewed") == []


# ---------------------------------------------------------------- never twice


def test_concurrent_passes_renew_each_subscription_once(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    sub_ids = [s for i in range(5) for s in buy(ctx, who, f"PON{i}")]
    clock.advance(days=366)
    results: list[subs.RenewalPass] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(subs.renew_due(ctx, batch=2))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(p for r in results for p in r.renewal_orders) == sorted(f"PON{i}-1" for i in range(5))
    assert all(subscription(ctx, s).generation == 1 for s in sub_ids)
    assert order_count(ctx) == 10


# ---------------------------------------------------------------- audit of the order's serials


def test_orders_audit_each_serial_assigned_and_revoked(ctx: Context, world: World) -> None:
    who = caller_of(ctx, world.a)
    order_service.submit_order(ctx, who, order_body("PON", (1003, 2)))
    with ctx.db.read() as conn:
        ids = conn.execute(select(serials.c.id).where(serials.c.status == "assigned").order_by(serials.c.id)).scalars()
        assigned = list(ids)
    assert len(assigned) == 2
    order_service.cancel_order(ctx, who, "PON", 4, None)
    for serial_id in assigned:
        trail = audit_trail(ctx, "serial", serial_id)
        assert [(a, b["status"], c["status"]) for a, b, c in trail] == [
            ("assigned", "available", "assigned"),
            ("revoked", "assigned", "revoked"),
        ]
