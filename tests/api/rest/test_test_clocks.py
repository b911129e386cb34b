"""Test clocks of sandbox catalogues over real HTTP: GET and POST /connect/sandbox/clock, and the
renewals, expiries and events of the sandbox's subscriptions when the clock passes their moment."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from resell.db.tables import orders, outbox
from resell.services import subscriptions
from resell.services.context import Context
from tests.conftest import Clock, Merchant, World, order_body

CLOCK = "/sandbox/clock"


def z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def years(moment: dt.datetime, n: int) -> dt.datetime:
    return moment.replace(year=moment.year + n)


@pytest.fixture
def sandbox(shop_a: Merchant, world: World) -> Merchant:
    """shop-a, calling with its EUR catalogue's sandbox secret."""
    shop_a.secret = world.a.sandbox_secret
    assert shop_a.secret.startswith("test_")
    return shop_a


def subscribe(shop: Merchant, pon: str, quantity: int = 1) -> list[int]:
    reply = shop.call("POST", "/order/new", order_body(pon, (1005, quantity)))
    assert reply.status_code == 201, reply.text
    return [item["subscriptionId"] for item in reply.json()["orderLines"][0]["lineItems"]]


def status(shop: Merchant, pon: str, sub_id: int) -> dict[str, Any]:
    data = shop.call("POST", "/subscription", {"partnerOrderNumber": pon, "subscriptionId": sub_id}).json()
    assert data["code"] == 0, data
    return data  # type: ignore[no-any-return]


def advance(shop: Merchant, by: str | None = None, to: str | None = None) -> dict[str, Any]:
    body = {"advanceBy": by} if by is not None else {"advanceTo": to}
    reply = shop.call("POST", CLOCK, body)
    assert reply.status_code == 200
    return reply.json()  # type: ignore[no-any-return]


def renewal_orders(ctx: Context, pon: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(
            select(orders.c.partner_order_number, orders.c.generation, orders.c.order_date, orders.c.test)
            .where(orders.c.partner_order_number.like(f"{pon}-%"))
            .order_by(orders.c.generation)
        ).all()


def events(ctx: Context, kind: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return [r.payload for r in conn.execute(select(outbox).where(outbox.c.kind == kind).order_by(outbox.c.id))]


def test_a_year_ahead_renews_a_yearly_term_bought_in_the_same_second(
    sandbox: Merchant, ctx: Context, clock: Clock
) -> None:
    """The clock's first move starts from now rounded up to the second, not down: a subscription bought
    at .7 s and a clock advanced at .9 s of the same second reach the end of the term together."""
    clock.advance(seconds=0.7)
    (sub_id,) = subscribe(sandbox, "SAME-SECOND")
    clock.advance(seconds=0.2)
    moved = advance(sandbox, by="P1Y")
    assert moved["renewed"] == 1, moved
    assert [r.generation for r in renewal_orders(ctx, "SAME-SECOND")] == [1]
    assert status(sandbox, "SAME-SECOND", sub_id)["generation"] == 1


def test_a_sandbox_clock_follows_real_time_until_advanced(sandbox: Merchant, clock: Clock) -> None:
    assert sandbox.call("GET", CLOCK).json() == {
        "clockTime": z(clock.now),
        "frozen": False,
        "responseCode": 0,
        "responseMessage": "OK",
    }
    moved = advance(sandbox, by="P1D")
    assert moved == {
        "clockTime": z(clock.now + dt.timedelta(days=1)),
        "frozen": True,
        "renewed": 0,
        "expired": 0,
        "failed": 0,
        "responseCode": 0,
        "responseMessage": "OK",
    }
    clock.advance(days=30)  # real time passes; the frozen clock does not
    assert sandbox.call("GET", CLOCK).json()["clockTime"] == moved["clockTime"]


def test_a_yearly_renewal_happens_when_the_clock_passes_the_term(sandbox: Merchant, ctx: Context, clock: Clock) -> None:
    (sub_id,) = subscribe(sandbox, "SUB")
    start = clock.now
    first_end = years(start, 1)
    assert status(sandbox, "SUB", sub_id)["expiration_datetime"] == z(first_end)

    moved = advance(sandbox, by="P1Y")
    assert (moved["clockTime"], moved["renewed"], moved["expired"]) == (z(first_end), 1, 0)

    renewal = sandbox.call("GET", "/order/SUB-1").json()
    assert renewal["responseCode"] == 0
    (item,) = renewal["orderLines"][0]["lineItems"]
    assert item["subscriptionId"] == sub_id and item["serials"][0]["data"].startswith("TEST-")
    (row,) = renewal_orders(ctx, "SUB")
    assert (row.generation, row.order_date, row.test) == (1, first_end, True)  # dated at the term's end

    now = status(sandbox, "SUB", sub_id)
    assert (now["generation"], now["technicalStatus"]) == (1, "ACTIVE")
    assert now["update_datetime"] == z(first_end)  # the clock's date, not the wall clock's
    assert now["expiration_datetime"] == now["next_status_change_datetime"] == z(years(start, 2))

    (renewed,) = events(ctx, "subscription.renewed")
    assert renewed["test"] is True
    assert (renewed["subscriptionId"], renewed["generation"], renewed["renewalPartnerOrderNumber"]) == (
        sub_id,
        1,
        "SUB-1",
    )
    assert renewed["expirationDatetime"] == z(years(start, 2))

    # three years more: three more renewals, each order dated at the end of its own term
    moved = advance(sandbox, by="P3Y")
    assert (moved["renewed"], moved["clockTime"]) == (3, z(years(start, 4)))
    rows = renewal_orders(ctx, "SUB")
    assert [(r.partner_order_number, r.generation) for r in rows] == [(f"SUB-{g}", g) for g in range(1, 5)]
    assert [r.order_date for r in rows] == [years(start, g) for g in range(1, 5)]
    later = status(sandbox, "SUB", sub_id)
    assert (later["generation"], later["expiration_datetime"]) == (4, z(years(start, 5)))
    assert [e["generation"] for e in events(ctx, "subscription.renewed")] == [1, 2, 3, 4]


def test_a_cancelled_subscription_expires_when_the_clock_passes_its_term(
    sandbox: Merchant, ctx: Context, clock: Clock
) -> None:
    (sub_id,) = subscribe(sandbox, "SUB")
    end = years(clock.now, 1)
    advance(sandbox, by="P6M")
    cancel = sandbox.call("PUT", "/subscription", {"partnerOrderNumber": "SUB", "subscriptionId": sub_id}).json()
    assert cancel["responseCode"] == 0
    assert status(sandbox, "SUB", sub_id)["technicalStatus"] == "CANCELLED"

    to_end = z(end - dt.timedelta(seconds=1))
    assert advance(sandbox, to=to_end)["expired"] == 0  # one second before the term ends
    assert status(sandbox, "SUB", sub_id)["technicalStatus"] == "CANCELLED"
    moved = advance(sandbox, by="P3Y")
    assert (moved["renewed"], moved["expired"]) == (0, 1)
    after = status(sandbox, "SUB", sub_id)
    assert (after["technicalStatus"], after["generation"], after["next_status_change_datetime"]) == (
        "EXPIRED",
        0,
        None,
    )
    assert renewal_orders(ctx, "SUB") == []
    (expired,) = events(ctx, "subscription.expired")
    assert (expired["reason"], expired["test"]) == ("cancelled", True)


def test_subscriptions_bought_on_an_advanced_clock_start_at_its_time(sandbox: Merchant, clock: Clock) -> None:
    advance(sandbox, to="2031-06-01T12:00:00+02:00")
    (sub_id,) = subscribe(sandbox, "LATE")
    data = status(sandbox, "LATE", sub_id)
    assert (data["creation_datetime"], data["expiration_datetime"]) == ("2031-06-01T10:00:00Z", "2032-06-01T10:00:00Z")
    assert advance(sandbox, to="2032-06-01T10:00:00Z")["renewed"] == 1
    assert status(sandbox, "LATE", sub_id)["generation"] == 1


def test_the_wall_clock_worker_leaves_clocked_sandboxes_alone(
    sandbox: Merchant, shop_a: Merchant, world: World, ctx: Context, clock: Clock
) -> None:
    (test_sub,) = subscribe(sandbox, "SANDBOX-SUB")
    advance(sandbox, by="P1D")  # the sandbox now lives on its clock
    shop_a.secret = world.a.secret
    (live_sub,) = subscribe(shop_a, "LIVE-SUB")
    clock.advance(days=400)  # real time passes the terms of both
    done = subscriptions.renew_due(ctx)
    assert (done.renewed, done.renewal_orders) == (1, ["LIVE-SUB-1"])
    assert status(shop_a, "LIVE-SUB", live_sub)["generation"] == 1
    sandbox.secret = world.a.sandbox_secret
    assert status(sandbox, "SANDBOX-SUB", test_sub)["generation"] == 0
    # and advancing the sandbox's clock does not touch live subscriptions
    assert advance(sandbox, by="P2Y")["renewed"] == 2
    shop_a.secret = world.a.secret
    assert status(shop_a, "LIVE-SUB", live_sub)["generation"] == 1


def test_concurrent_advances_renew_each_term_once(
    sandbox: Merchant, server: str, world: World, ctx: Context, clock: Clock
) -> None:
    (sub_id,) = subscribe(sandbox, "SUB")
    other = Merchant(server, world.a)
    other.secret = world.a.sandbox_secret
    replies: list[dict[str, Any]] = []
    with ThreadPoolExecutor(2) as pool:
        for reply in pool.map(lambda args: advance(*args), [(sandbox, "P1Y"), (other, "P3Y")]):
            replies.append(reply)
    other.http.close()
    assert sum(r["renewed"] for r in replies) == 4
    assert max(r["clockTime"] for r in replies) == z(years(clock.now, 4))
    rows = renewal_orders(ctx, "SUB")
    assert [(r.partner_order_number, r.generation) for r in rows] == [(f"SUB-{g}", g) for g in range(1, 5)]
    assert status(sandbox, "SUB", sub_id)["generation"] == 4


def test_a_live_secret_has_no_test_clock(shop_a: Merchant) -> None:
    for method, body in (("GET", None), ("POST", {"advanceBy": "P1Y"})):
        data = shop_a.call(method, CLOCK, body).json()
        assert data["responseCode"] == 1070
        assert data["responseMessage"] == "test clocks are for sandbox catalogues: use your test_ secret"
        assert data["clockTime"] is None and data["frozen"] is None


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({}, 100, "send advanceTo or advanceBy (one of them)"),
        ({"advanceTo": "2040-01-01T00:00:00Z", "advanceBy": "P1Y"}, 100, "send advanceTo or advanceBy (one of them)"),
        ({"advanceTo": "2040-01-01T00:00:00"}, 101, None),  # no offset
        ({"advanceTo": "soon"}, 101, None),
        ({"advanceTo": 2040}, 101, None),
        ({"advanceBy": "1Y"}, 111, None),
        ({"advanceBy": "P0D"}, 111, None),
        ({"advanceBy": "-P1Y"}, 111, None),
        ({"advanceBy": "P99999Y"}, 111, None),
    ],
)
def test_advance_refusals(sandbox: Merchant, body: dict[str, Any], code: int, message: str | None) -> None:
    data = sandbox.call("POST", CLOCK, body).json()
    assert data["responseCode"] == code, data
    if message is not None:
        assert data["responseMessage"] == message
    assert sandbox.call("GET", CLOCK).json()["frozen"] is False  # nothing was done


def test_the_clock_does_not_go_back(sandbox: Merchant) -> None:
    advance(sandbox, to="2035-01-01T00:00:00Z")
    data = sandbox.call("POST", CLOCK, {"advanceTo": "2034-12-31T23:59:59+00:00"}).json()
    assert (data["responseCode"], data["responseMessage"]) == (
        1071,
        "a test clock does not go back: it is at 2035-01-01T00:00:00+00:00",
    )
    assert advance(sandbox, to="2035-01-01T01:00:00+01:00")["clockTime"] == "2035-01-01T00:00:00Z"  # the same time
