"""A merchant's own view of its webhooks (resell.services.webhooks: merchant_delivery_log,
merchant_redeliver) and merchant accounts of the back office (resell.services.staff), on a real
receiver over loopback with the real worker."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from resell.db.tables import audit_events, merchants
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.services import orders as order_service
from resell.services import staff
from resell.services import webhooks as endpoints
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import World, order_body
from tests.renewal_support import (  # noqa: F401 - fixtures: fresh_stock_check (autouse), receiver
    Receiver,
    caller_of,
    fresh_stock_check,
    outbox_events,
    receiver_fixture,
)


def merchant_id(ctx: Context, realm: str) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(merchants.c.id).where(merchants.c.realm == realm)).scalar_one())


def register(ctx: Context, rec: Receiver, realm: str = "shop-a", events: tuple[str, ...] = ("order.created",)) -> int:
    made = endpoints.add_endpoint(ctx, rec.url, list(events), realm=realm)
    rec.secret = made.signing_secret
    return made.endpoint.id


def refused(code: int, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Refusal) as caught:
        call()
    assert caught.value.code == code


def test_a_merchant_account_names_its_merchant_and_no_other_role_does(ctx: Context, world: World) -> None:
    with pytest.raises(staff.StaffError, match="needs --merchant"):
        staff.create_account(ctx, "m@shop.test", "merchant", actor="operator")
    with pytest.raises(staff.StaffError, match="support account has no merchant"):
        staff.create_account(ctx, "m@shop.test", "support", actor="operator", merchant="shop-a")
    with pytest.raises(staff.StaffError, match="merchant account has no publisher"):
        staff.create_account(ctx, "m@shop.test", "merchant", actor="operator", merchant="shop-a", publisher="pub")
    with pytest.raises(staff.StaffError, match="no merchant 'nope'"):
        staff.create_account(ctx, "m@shop.test", "merchant", actor="operator", merchant="nope")
    member, _ = staff.create_account(ctx, "m@shop.test", "merchant", actor="operator", merchant="shop-a")
    assert (member.role, member.merchant_id, member.publisher_id) == ("merchant", merchant_id(ctx, "shop-a"), None)
    (listed,) = [a for a in staff.list_accounts(ctx) if a.email == "m@shop.test"]
    assert (listed.merchant_realm, listed.owner) == ("shop-a", "shop-a")


def test_the_delivery_log_is_newest_first_a_page_at_a_time_and_the_merchants_own(
    ctx: Context, world: World, receiver: Receiver
) -> None:
    mine = register(ctx, receiver)
    theirs = register(ctx, receiver, "shop-b")
    who = caller_of(ctx, world.a)
    for pon in ("P-1", "P-2", "P-3"):
        order_service.submit_order(ctx, who, order_body(pon, (1003, 1)))
    assert dispatcher.run_pass(ctx).delivered == 3
    events = [e.event_id for e in outbox_events(ctx, "order.created")]
    a, b = merchant_id(ctx, "shop-a"), merchant_id(ctx, "shop-b")

    first = endpoints.merchant_delivery_log(ctx, a, str(mine), "2")
    assert first.endpoint.id == mine and first.endpoint.url == receiver.url
    assert [(d.event_type, d.attempt, d.status_code) for d in first.deliveries] == [("order.created", 1, 204)] * 2
    assert first.deliveries[0].duration_ms is not None and first.next_before == first.deliveries[1].id
    second = endpoints.merchant_delivery_log(ctx, a, mine, 2, first.next_before)
    assert len(second.deliveries) == 1 and second.next_before is None
    ids = [d.id for d in first.deliveries + second.deliveries]
    assert ids == sorted(ids, reverse=True)  # newest first (the worker sends them in any order)
    assert sorted(d.event_id for d in first.deliveries + second.deliveries) == sorted(events)

    refused(codes.WEBHOOK_NOT_FOUND, lambda: endpoints.merchant_delivery_log(ctx, a, theirs))  # shop-b's
    refused(codes.WEBHOOK_NOT_FOUND, lambda: endpoints.merchant_delivery_log(ctx, b, mine))
    refused(codes.WEBHOOK_ID_NOT_VALID, lambda: endpoints.merchant_delivery_log(ctx, a, "x"))
    refused(codes.DELIVERY_LIMIT_NOT_VALID, lambda: endpoints.merchant_delivery_log(ctx, a, mine, "201"))
    refused(codes.DELIVERY_BEFORE_NOT_VALID, lambda: endpoints.merchant_delivery_log(ctx, a, mine, None, "-3"))
    assert endpoints.merchant_delivery_log(ctx, b, theirs).deliveries == []  # shop-a's orders are not shop-b's


def test_redeliver_queues_the_same_event_id_to_that_endpoint_only_and_audits_it(
    ctx: Context, world: World, receiver: Receiver
) -> None:
    other = register(ctx, receiver, events=("order.created", "order.cancelled"))
    mine = register(ctx, receiver)  # the receiver verifies with this one's secret
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("P-1", (1003, 1)))
    assert dispatcher.run_pass(ctx).delivered == 2
    (event,) = outbox_events(ctx, "order.created")
    a = merchant_id(ctx, "shop-a")

    done = endpoints.merchant_redeliver(ctx, a, str(mine), event.event_id, actor="staff:m@shop.test")
    assert (done.endpoint_id, done.event_id, done.event_type) == (mine, event.event_id, "order.created")
    assert dispatcher.run_pass(ctx).delivered == 1  # to `mine` only
    got = receiver.all()
    assert len(got) == 3 and got[-1].headers["webhook-id"] == event.event_id and got[-1].error is None
    assert got[-1].verified is not None and got[-1].verified["type"] == "order.created"
    log = endpoints.merchant_delivery_log(ctx, a, mine).deliveries
    assert [(d.event_id, d.attempt) for d in log] == [(event.event_id, 2), (event.event_id, 1)]
    assert len(endpoints.merchant_delivery_log(ctx, a, other).deliveries) == 1
    with ctx.db.read() as conn:
        trail = conn.execute(
            select(audit_events.c.actor, audit_events.c.after).where(audit_events.c.action == "redelivered")
        ).all()
    assert [(t.actor, t.after) for t in trail] == [("staff:m@shop.test", {"deliveries": 1, "endpointId": mine})]

    b = merchant_id(ctx, "shop-b")
    theirs = register(ctx, receiver, "shop-b")
    refused(codes.WEBHOOK_EVENT_NOT_FOUND, lambda: endpoints.merchant_redeliver(ctx, b, theirs, event.event_id, "x"))
    refused(codes.WEBHOOK_NOT_FOUND, lambda: endpoints.merchant_redeliver(ctx, b, mine, event.event_id, "x"))
    refused(codes.WEBHOOK_EVENT_NOT_FOUND, lambda: endpoints.merchant_redeliver(ctx, a, mine, "no-such-event", "x"))
    refused(codes.WEBHOOK_EVENT_ID_MISSING, lambda: endpoints.merchant_redeliver(ctx, a, mine, " ", "x"))
    cancelled_only = register(ctx, receiver, events=("order.cancelled",))
    refused(
        codes.WEBHOOK_EVENT_NOT_FOUND,
        lambda: endpoints.merchant_redeliver(ctx, a, cancelled_only, event.event_id, "x"),
    )
    receiver.mode = "gone"  # 410 disables the endpoint: nothing more is redelivered to it
    endpoints.merchant_redeliver(ctx, a, mine, event.event_id, "x")
    dispatcher.run_pass(ctx)
    refused(codes.WEBHOOK_NOT_ACTIVE, lambda: endpoints.merchant_redeliver(ctx, a, mine, event.event_id, "x"))


def test_the_listing_holds_live_catalogues_each_with_its_sandbox_twin(ctx: Context, world: World) -> None:
    from resell.db.tables import catalogs
    from resell.services import merchants as merchant_service

    detail = merchant_service.merchant_detail(ctx, "shop-a")
    assert [c.name for c in detail.catalogs] == ["shop-a EUR", "shop-a USD"]  # no twin listed on its own
    with ctx.db.read() as conn:
        twins = dict(
            conn.execute(select(catalogs.c.live_catalog_id, catalogs.c.id).where(catalogs.c.sandbox.is_(True))).all()
        )
    assert [c.sandbox_catalog_id for c in detail.catalogs] == [twins[c.catalog_id] for c in detail.catalogs]
    with ctx.db.write() as conn:  # a catalogue made before the sandbox existed has none
        conn.execute(catalogs.delete().where(catalogs.c.id == detail.catalogs[1].sandbox_catalog_id))
    again = merchant_service.merchant_detail(ctx, "shop-a")
    assert again.catalogs[1].sandbox_catalog_id is None and again.catalogs[1].test_orders == 0
