"""Renewals by real `resell worker --once --now ...` processes: the whole story of a subscription end to end,
and two workers at the same time never renewing a subscription twice."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select, text

from resell.db.tables import audit_events, orders, subscriptions
from resell.services import stock
from resell.services import subscriptions as subscription_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, Clock, Merchant, World, order_body
from tests.renewal_support import (  # noqa: F401 - fixtures: fresh_stock_check (autouse), receiver
    SUBSCRIPTION_REF,
    Receiver,
    buy,
    caller_of,
    finish,
    fresh_stock_check,
    receiver_fixture,
    subscription,
    worker_process,
)


def periodic_count(output: str) -> int:
    # "periodic jobs: N, delivered: ..., retried later: ..., failed: ..."
    return int(output.split("periodic jobs:")[1].split(",")[0])


def test_a_subscription_bought_over_the_api_renews_by_itself_and_stops_once_cancelled(
    ctx: Context, shop_a: Merchant, clock: Clock, receiver: Receiver
) -> None:
    hook = shop_a.call(
        "POST",
        "/webhooks",
        {"url": receiver.url, "events": ["subscription.renewed", "subscription.cancelled", "subscription.expired"]},
    ).json()
    assert hook["responseCode"] == 0
    receiver.secret = hook["signingSecret"]
    created = shop_a.call("POST", "/order/new", order_body("PON", (1005, 1)))
    assert created.status_code == 201, created.text
    first_item = created.json()["orderLines"][0]["lineItems"][0]
    sub_id = first_item["subscriptionId"]
    body = {"partnerOrderNumber": "PON", "subscriptionId": sub_id}
    term_end = clock.now.replace(year=clock.now.year + 1)

    # The clock passes the term: a worker process, as if at that time, renews it.
    clock.now = term_end + dt.timedelta(minutes=1)
    finish(worker_process(ctx.settings, clock.now))
    (renewed,) = receiver.by_type("subscription.renewed")  # verified with standardwebhooks.Webhook
    assert renewed.error is None
    assert renewed.verified["data"]["subscriptionId"] == sub_id
    assert renewed.verified["data"]["renewalPartnerOrderNumber"] == "PON-1"
    assert renewed.headers["webhook-id"] and renewed.headers["webhook-signature"].startswith("v1,")

    renewal = shop_a.call("GET", "/order/PON-1").json()  # getOrderData on PON-1: the new licence
    assert renewal["responseCode"] == 0
    (item,) = renewal["orderLines"][0]["lineItems"]
    assert item["subscriptionId"] == sub_id and len(item["serials"]) == 1
    assert item["serials"][0]["data"] != first_item["serials"][0]["data"]
    status = shop_a.call("POST", "/subscription", body).json()
    assert (status["generation"], status["technicalStatus"]) == (1, "ACTIVE")
    next_end = status["expiration_datetime"]

    # cancelSubscription stops the next renewal; the licence stays active until the term ends.
    assert shop_a.call("PUT", "/subscription", body).json()["responseCode"] == 0
    clock.now = term_end + dt.timedelta(days=200)
    finish(worker_process(ctx.settings, clock.now))
    status = shop_a.call("POST", "/subscription", body).json()
    assert (status["technicalStatus"], status["expiration_datetime"]) == ("CANCELLED", next_end)
    assert shop_a.call("GET", "/order/PON-1").json()["orderLines"][0]["lineItems"][0]["serials"] == item["serials"]
    assert [r.verified["type"] for r in receiver.all()] == ["subscription.renewed", "subscription.cancelled"]

    clock.now = dt.datetime.fromisoformat(next_end.replace("Z", "+00:00")) + dt.timedelta(minutes=1)
    finish(worker_process(ctx.settings, clock.now))
    status = shop_a.call("POST", "/subscription", body).json()
    assert (status["technicalStatus"], status["generation"]) == ("EXPIRED", 1)
    assert shop_a.call("GET", "/order/PON-2").json()["responseCode"] == 1010  # never renewed again
    assert receiver.by_type("subscription.expired")[0].error is None
    assert all(r.error is None for r in receiver.all())


def _hold_the_renewals(ctx: Context):  # type: ignore[no-untyped-def]
    """A transaction that makes every worker wait before it claims a subscription: on PostgreSQL an
    EXCLUSIVE lock on the table (FOR UPDATE needs ROW SHARE); on SQLite the write lock itself."""
    hold = ctx.db.write()
    conn = hold.__enter__()
    if ctx.db.is_postgres:
        conn.execute(text("LOCK TABLE subscriptions IN EXCLUSIVE MODE"))
    return hold


def _wait_until_both_wait(ctx: Context, processes: list[subprocess.Popen[str]], db_path: str | None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), "a worker ended while the renewals were held"
        if ctx.db.is_postgres:
            with ctx.db.engine.connect() as probe:
                waiting = probe.execute(
                    text("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'subscriptions'::regclass")
                ).scalar_one()
            if waiting >= len(processes):
                return
        else:  # each has opened the database file: it is blocked on the write lock we hold
            opened = 0
            for p in processes:
                fds = Path(f"/proc/{p.pid}/fd")
                try:
                    opened += any(os.path.realpath(fd) == db_path for fd in fds.iterdir())
                except OSError:
                    pass
            if opened == len(processes):
                return
        time.sleep(0.05)  # polling interval of a wait with a deadline
    raise AssertionError("the workers never reached the renewals")


def test_two_worker_processes_at_the_same_time_never_renew_a_subscription_twice(
    ctx: Context, world: World, clock: Clock
) -> None:
    subscribers = 250  # more than two batches of 100: side by side, each worker claims its own
    stock.import_serials(ctx, 1005, [f"EXTRA-{i}" for i in range(2 * subscribers)])
    who = caller_of(ctx, world.a)
    for i in range(subscribers):
        buy(ctx, who, f"S{i}")
    when = clock.now + dt.timedelta(days=366)
    db_path = None if ctx.db.is_postgres else os.path.realpath(ctx.settings.effective_database_url[len("sqlite:///") :])

    hold = _hold_the_renewals(ctx)
    try:
        processes = [worker_process(ctx.settings, when) for _ in range(2)]
        _wait_until_both_wait(ctx, processes, db_path)
    finally:
        hold.__exit__(None, None, None)  # both start claiming at once
    outputs = [finish(p) for p in processes]

    with ctx.db.read() as conn:
        actors = (
            conn.execute(
                select(audit_events.c.actor).where(
                    audit_events.c.entity == "subscription", audit_events.c.action == "renewed"
                )
            )
            .scalars()
            .all()
        )
    by_process = Counter(actors)
    assert set(by_process) <= {f"worker:renewals@{socket.gethostname()}:{p.pid}" for p in processes}
    assert sum(by_process.values()) == subscribers, (by_process, outputs)  # each renewed once, by one of them
    assert all(
        periodic_count(o) >= by_process[f"worker:renewals@{socket.gethostname()}:{p.pid}"]
        for o, p in zip(outputs, processes, strict=True)
    )
    if ctx.db.is_postgres:  # SKIP LOCKED: both worked side by side
        assert len(by_process) == 2, by_process
    with ctx.db.read() as conn:
        generations = conn.execute(select(subscriptions.c.generation)).scalars().all()
        renewal_orders = (
            conn.execute(select(orders.c.partner_order_number).where(orders.c.parent_order_id.is_not(None)))
            .scalars()
            .all()
        )
        renewal_serials = conn.execute(
            text(
                "SELECT count(*) FROM serial_assignments sa JOIN line_items li ON li.id = sa.line_item_id "
                "WHERE li.renews_subscription_id IS NOT NULL"
            )
        ).scalar_one()
        total_orders = conn.execute(select(func.count()).select_from(orders)).scalar_one()
    assert generations == [1] * subscribers
    assert sorted(renewal_orders) == sorted(f"S{i}-1" for i in range(subscribers))
    assert renewal_serials == subscribers and total_orders == 2 * subscribers


def test_worker_once_now_reports_what_it_did(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    buy(ctx, who, "PON", quantity=2)
    early = finish(worker_process(ctx.settings, clock.now + dt.timedelta(days=364)))
    assert periodic_count(early) == 0
    late = finish(worker_process(ctx.settings, clock.now + dt.timedelta(days=366)))
    assert periodic_count(late) == 2
    with ctx.db.read() as conn:
        assert conn.execute(select(orders.c.partner_order_number).where(orders.c.generation == 1)).scalars().all() == [
            "PON-1"
        ]


def test_a_renewal_never_deadlocks_with_a_cancel_order_of_the_same_order(
    ctx: Context, world: World, clock: Clock
) -> None:
    """cancelOrder locks the order FOR UPDATE, then TERMINATEs its subscriptions. A renewal that had
    claimed those subscriptions and then waited for the order (the renewal order's parent_order_id
    takes FOR KEY SHARE on it) deadlocked with it on PostgreSQL: `_hold_roots` makes the renewal skip
    an order being cancelled. On SQLite the renewal simply waits for the cancel's write lock."""
    (yearly,) = [p for p in TEST_CATALOG["products"] if p["ref"] == SUBSCRIPTION_REF]
    import_catalog(ctx, {"products": [{**yearly, "subscriptionPeriod": "P1D"}]})  # a daily subscription
    (sub_id,) = buy(ctx, caller_of(ctx, world.a), "PON")
    order_id = subscription(ctx, sub_id).order_id
    clock.advance(days=1, seconds=1)  # due now

    outcome: dict[str, object] = {}

    def renewal() -> None:
        try:
            outcome["renewal"] = subscription_service.renew_due(ctx)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["renewal"] = exc

    thread = threading.Thread(target=renewal)
    lock_order = "SELECT id FROM orders WHERE id = :id" + (" FOR UPDATE" if ctx.db.is_postgres else "")
    try:
        with ctx.db.write() as cancel:  # SQLite: BEGIN IMMEDIATE, the write lock
            cancel.execute(text(lock_order), {"id": order_id})  # cancelOrder, step 1
            thread.start()
            thread.join(timeout=1.0)  # the renewal has claimed the subscription, or waits for the write lock
            cancel.execute(  # cancelOrder, step 2: terminate the order's subscriptions
                text("UPDATE subscriptions SET status = 'TERMINATED', next_change_at = NULL WHERE id = :id"),
                {"id": sub_id},
            )
        outcome["cancel"] = "committed"
    except Exception as exc:  # noqa: BLE001 - reported by the assertion below
        outcome["cancel"] = exc
    finally:
        if thread.ident is not None:
            thread.join(timeout=30)
    assert not thread.is_alive(), "the renewal never finished"

    assert outcome["cancel"] == "committed", outcome
    result = outcome["renewal"]
    assert isinstance(result, subscription_service.RenewalPass), outcome
    assert (result.renewed, result.renewal_orders) == (0, [])
    assert subscription(ctx, sub_id).status == "TERMINATED"
    with ctx.db.read() as conn:
        renewals = conn.execute(
            select(func.count()).select_from(orders).where(orders.c.parent_order_id == order_id)
        ).scalar_one()
    assert renewals == 0
