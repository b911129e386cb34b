"""Serials from a publisher's key generator during createOrder, against a real HTTP receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from resell.config import Settings
from resell.db.tables import (
    line_items,
    order_lines,
    orders,
    outbox,
    products,
    publishers,
    serial_assignments,
    serials,
    subscriptions,
)
from resell.domain.signing import publisher_secret
from resell.services import stock
from resell.services import subscriptions as subscription_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Merchant, World, order_body, settings_for
from tests.delivery_support import HttpReceiver, Received, free_port, sell, wait_until

TIMEOUT = 0.5


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return settings_for(
        tmp_path,
        db_url,
        keygen_timeout_seconds=TIMEOUT,
        keygen_attempts=2,
    )


class Generator:
    """What the publisher's generator does next: a list of behaviours, one per call, the last one repeated."""

    def __init__(self) -> None:
        self.plan: list[str] = ["ok"]
        self.made = 0
        self.lock = threading.Lock()

    def __call__(self, request: Received) -> tuple[int, bytes] | str:
        if request.path == "/revoked":
            return 200, b"{}"
        with self.lock:
            step = self.plan.pop(0) if len(self.plan) > 1 else self.plan[0]
            quantity = json.loads(request.body)["quantity"]
            keys = [f"GEN-{self.made + i:04d}" for i in range(quantity)]
            if step == "ok":
                self.made += quantity
        if step == "ok":
            return 200, json.dumps({"serials": keys}).encode()
        if step == "repeat":
            return 200, json.dumps({"serials": [f"GEN-{i:04d}" for i in range(quantity)]}).encode()
        if step == "short":
            return 200, json.dumps({"serials": keys[:-1]}).encode()
        if step == "garbage":
            return 200, b"<html>oops</html>"
        if step == "hang":
            return "hang"
        return int(step), b'{"error": "no"}'


@pytest.fixture
def generator() -> Generator:
    return Generator()


@pytest.fixture
def receiver(generator: Generator) -> Iterator[HttpReceiver]:
    server = HttpReceiver(generator)
    yield server
    server.close()


def gen_catalog(keygen_url: str | None, callback_url: str | None) -> dict:
    publisher = {"key": "gen", "name": "Generator Games"}
    if keygen_url:
        publisher["keygenUrl"] = keygen_url
    if callback_url:
        publisher["callbackUrl"] = callback_url
    return {
        "publishers": [publisher],
        "products": [
            {
                "ref": 1501,
                "name": "Generated key",
                "publisher": "gen",
                "serialSource": "generator",
                "deliveryMode": "serial",
                "prices": [{"currency": "EUR", "amountDutyFree": 15}],
            }
        ],
    }


@pytest.fixture
def gen_product(ctx: Context, world: World, receiver: HttpReceiver) -> None:
    import_catalog(ctx, gen_catalog(receiver.url + "/keys", receiver.url + "/revoked"))
    sell(ctx, "shop-a", 1501)


def count(ctx: Context, table, *where) -> int:  # type: ignore[no-untyped-def]
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def generated_serials(ctx: Context) -> list[str]:
    with ctx.db.read() as conn:
        return list(
            conn.execute(
                select(serials.c.value)
                .join(products, products.c.id == serials.c.product_id)
                .where(products.c.ref == 1501)
                .order_by(serials.c.value)
            ).scalars()
        )


def keygen_calls(receiver: HttpReceiver) -> list[Received]:
    return [r for r in receiver.requests if r.path == "/keys"]


def test_generated_serials_are_signed_for_and_handed_out(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, gen_product: None
) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("GEN-1", (1501, 2), (1001, 1)))
    assert reply.status_code == 201, reply.text
    line = reply.json()["orderLines"][0]
    assert [item["serials"][0]["data"] for item in line["lineItems"]] == ["GEN-0000", "GEN-0001"]
    (call,) = keygen_calls(receiver)
    secret = publisher_secret(ctx.settings.effective_publisher_key, "gen")
    sent = Webhook(secret).verify(call.body, call.headers)  # a Standard Webhooks library accepts it
    assert sent["productRef"] == 1501 and sent["quantity"] == 2 and sent["requestId"] == call.headers["webhook-id"]
    assert generated_serials(ctx) == ["GEN-0000", "GEN-0001"]
    assert count(ctx, serials, serials.c.status == "assigned", serials.c.value.like("GEN-%")) == 2
    assert shop_a.call("GET", "/order/GEN-1").json()["orderLines"][0] == line
    other = publisher_secret(ctx.settings.effective_publisher_key, "pub")
    assert other != secret and "gen" not in secret  # one key per publisher, derived, not stored


def test_a_duplicate_order_asks_no_generator_for_keys(
    shop_a: Merchant, receiver: HttpReceiver, gen_product: None
) -> None:
    assert shop_a.call("POST", "/order/new", order_body("GEN-DUP", (1001, 1))).status_code == 201
    again = shop_a.call("POST", "/order/new", order_body("GEN-DUP", (1501, 1)))
    assert again.json()["responseCode"] == 1010
    assert keygen_calls(receiver) == []


def test_a_generator_that_times_out_refuses_the_whole_order_and_leaves_nothing(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, generator: Generator, gen_product: None
) -> None:
    generator.plan = ["hang"]
    ctx.settings.keygen_timeout_seconds = 2.0  # a window wide enough to order something else meanwhile
    before = count(ctx, serials, serials.c.status == "available")
    outcome: dict = {}

    def order() -> None:
        started = time.monotonic()
        outcome["reply"] = shop_a.call("POST", "/order/new", order_body("GEN-SLOW", (1501, 1), (1001, 1)))
        outcome["seconds"] = time.monotonic() - started

    slow = threading.Thread(target=order)
    slow.start()
    wait_until(lambda: keygen_calls(receiver), what="the first generator call")
    # meanwhile the API and the database are free: another order goes through at once
    other = Merchant(str(shop_a.http.base_url), shop_a.creds)
    assert other.call("POST", "/order/new", order_body("GEN-FAST", (1003, 1))).status_code == 201
    assert slow.is_alive()
    slow.join(30)
    other.http.close()
    reply = outcome["reply"].json()
    assert reply["responseCode"] == 1051 and reply["orderNumber"] is None and reply["orderLines"] == []
    assert outcome["seconds"] >= 2 * 2.0
    calls = keygen_calls(receiver)
    assert len(calls) == 2  # one retry
    assert calls[0].headers["webhook-id"] == calls[1].headers["webhook-id"]  # same request id: idempotent
    assert shop_a.call("GET", "/order/GEN-SLOW").json()["responseCode"] == 1010
    assert count(ctx, orders) == 1  # only GEN-FAST
    assert count(ctx, serials, serials.c.status == "available") == before - 1  # GEN-FAST's 1003 serial only
    assert generated_serials(ctx) == []
    assert count(ctx, outbox, outbox.c.kind == "publisher.serials_revoked") == 0  # nothing was generated


@pytest.mark.parametrize(
    ("plan", "calls", "code"),
    [
        (["503", "ok"], 2, 0),  # a 5xx is retried
        (["429", "ok"], 2, 0),
        (["503", "503"], 2, 1051),
        (["400"], 1, 1051),  # a 4xx is the publisher's final word
        (["short"], 1, 1051),
        (["garbage"], 1, 1051),
    ],
)
def test_generator_retries_and_refusals(
    ctx: Context,
    shop_a: Merchant,
    receiver: HttpReceiver,
    generator: Generator,
    gen_product: None,
    plan: list[str],
    calls: int,
    code: int,
) -> None:
    generator.plan = list(plan)
    reply = shop_a.call("POST", "/order/new", order_body("GEN-R", (1501, 1)))
    assert reply.json()["responseCode"] == code, reply.text
    assert len(keygen_calls(receiver)) == calls
    assert len(generated_serials(ctx)) == (1 if code == 0 else 0)


def test_a_generator_nobody_answers_or_none_at_all_is_1051(ctx: Context, shop_a: Merchant, world: World) -> None:
    import_catalog(ctx, gen_catalog(f"http://127.0.0.1:{free_port()}/keys", None))
    sell(ctx, "shop-a", 1501)
    assert shop_a.call("POST", "/order/new", order_body("GEN-DOWN", (1501, 1))).json()["responseCode"] == 1051
    with ctx.db.write() as conn:
        conn.execute(publishers.update().where(publishers.c.key == "gen").values(keygen_url=None))
    assert shop_a.call("POST", "/order/new", order_body("GEN-NONE", (1501, 1))).json()["responseCode"] == 1051
    assert count(ctx, orders) == 0


def test_keys_made_for_an_order_refused_afterwards_go_back_to_the_publisher(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, gen_product: None
) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("GEN-1044", (1501, 2), (1003, 6)))  # 1003: 5 in stock
    assert reply.json()["responseCode"] == 1044
    assert len(keygen_calls(receiver)) == 1 and generated_serials(ctx) == []
    dispatcher.run_pass(ctx)
    (callback,) = [r for r in receiver.requests if r.path == "/revoked"]
    body = Webhook(publisher_secret(ctx.settings.effective_publisher_key, "gen")).verify(
        callback.body, callback.headers
    )
    assert body["reason"] == "order_not_created" and body["orderNumber"] is None
    assert body["serials"] == [{"productRef": 1501, "serial": "GEN-0000"}, {"productRef": 1501, "serial": "GEN-0001"}]


def test_a_key_the_generator_repeats_is_never_handed_out_twice(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, generator: Generator, gen_product: None
) -> None:
    assert shop_a.call("POST", "/order/new", order_body("GEN-A", (1501, 1))).status_code == 201
    generator.plan = ["repeat"]  # answers GEN-0000 again
    assert shop_a.call("POST", "/order/new", order_body("GEN-B", (1501, 1))).json()["responseCode"] == 1051
    assert generated_serials(ctx) == ["GEN-0000"]
    dispatcher.run_pass(ctx)
    assert [r for r in receiver.requests if r.path == "/revoked"] == []  # GEN-0000 is GEN-A's: not released


def test_the_signing_key_command_prints_the_publishers_key(ctx: Context, gen_product: None, settings) -> None:
    from typer.testing import CliRunner

    from resell.cli import app
    from resell.config import get_settings

    env = {
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_JWT_SECRET": settings.jwt_secret,
        "RESELL_VAR_DIR": str(settings.var_dir),
    }
    get_settings.cache_clear()
    try:
        shown = CliRunner().invoke(app, ["publishers", "signing-key", "gen"], env=env)
        unknown = CliRunner().invoke(app, ["publishers", "signing-key", "nobody"], env=env)
    finally:
        get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.strip() == publisher_secret(ctx.settings.effective_publisher_key, "gen")
    assert unknown.exit_code == 1 and "no publisher" in unknown.output


def test_publisher_urls_must_be_https_except_to_this_machine(ctx: Context) -> None:
    from resell.services.catalog_import import CatalogImportError

    with pytest.raises(CatalogImportError, match="https"):
        import_catalog(ctx, gen_catalog("http://keys.example.com/generate", None))
    import_catalog(ctx, gen_catalog("https://keys.example.com/generate", "http://localhost:9000/cb"))


def test_keys_fetched_for_another_cart_than_the_one_recorded_are_refused(ctx: Context, gen_product: None) -> None:
    """The catalogue may change between fetching the keys and recording the order: then 1051, no half order."""
    import dataclasses

    from resell.domain.codes import Refusal
    from resell.services import keygen, order_writer

    with ctx.db.read() as conn:
        product = conn.execute(
            select(
                products.c.id,
                products.c.ref,
                products.c.serial_source,
                publishers.c.key.label("publisher_key"),
                publishers.c.keygen_url,
            )
            .join(publishers, publishers.c.id == products.c.publisher_id)
            .where(products.c.ref == 1501)
        ).one()
    requests = keygen.requests_for([(product, 2)])
    assert [(r.product_ref, r.quantity, r.publisher) for r in requests] == [(1501, 2, "gen")]
    fetched = keygen.Keys([dataclasses.replace(requests[0], quantity=1)], {product.id: ["ONLY-ONE"]})
    assert not fetched.fit(requests)
    with pytest.raises(Refusal) as refused, ctx.db.write() as conn:
        now = ctx.now()
        order = order_writer.NewOrder(
            merchant_id=0,  # refused before anything is written
            catalog_id=0,
            partner_order_number="P-1",
            order_date=now,
            currency="EUR",
            customer_email="someone@example.com",
            customer_language=None,
            customer_partner_id=None,
            customer={},
            download_end_date=now.date(),
            lines=[order_writer.NewLine(position=0, product=product, quantity=2)],
            actor="test",
        )
        order_writer.insert_order(conn, order, fetched, now)
    assert refused.value.code == 1051
    assert generated_serials(ctx) == []
    keys = keygen.Keys(requests, {product.id: ["K-1", "K-2"]})
    assert keys.fit(requests)
    with ctx.db.write() as conn:
        stored = keygen.store(conn, ctx.now(), keys)
    assert [value for _, value in stored[product.id]] == ["K-1", "K-2"]
    assert generated_serials(ctx) == ["K-1", "K-2"]


# ---------------------------------------------------------------- renewals take their keys from the generator too


def gen_subscription_catalog(keygen_url: str, callback_url: str) -> dict:
    catalog = gen_catalog(keygen_url, callback_url)
    catalog["products"][0] |= {"ref": 1502, "name": "Generated yearly", "subscriptionPeriod": "P1Y"}
    return catalog


@pytest.fixture
def gen_subscription(ctx: Context, world: World, receiver: HttpReceiver) -> None:
    import_catalog(ctx, gen_subscription_catalog(receiver.url + "/keys", receiver.url + "/revoked"))
    sell(ctx, "shop-a", 1502)


def renewal_serials(ctx: Context, generation: int) -> list[str]:
    """The serials of the renewal orders of that generation."""
    with ctx.db.read() as conn:
        return list(
            conn.execute(
                select(serials.c.value)
                .join(serial_assignments, serial_assignments.c.serial_id == serials.c.id)
                .join(line_items, line_items.c.id == serial_assignments.c.line_item_id)
                .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
                .join(orders, orders.c.id == order_lines.c.order_id)
                .where(orders.c.generation == generation)
                .order_by(serials.c.value)
            ).scalars()
        )


def test_a_renewal_of_a_generator_product_gets_a_generated_key(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, gen_subscription: None, clock
) -> None:
    """The renewal order is written by the same order writer as createOrder: the publisher's generator
    makes its key (asked before the renewal's transaction), as it made the first order's."""
    reply = shop_a.call("POST", "/order/new", order_body("GEN-SUB", (1502, 2)))
    assert reply.status_code == 201, reply.text
    assert [i["serials"][0]["data"] for i in reply.json()["orderLines"][0]["lineItems"]] == ["GEN-0000", "GEN-0001"]
    clock.advance(days=366)
    result = subscription_service.renew_due(ctx)
    assert (result.renewed, result.failed, result.renewal_orders) == (2, 0, ["GEN-SUB-1"])
    assert renewal_serials(ctx, 1) == ["GEN-0002", "GEN-0003"]
    first, renewal = keygen_calls(receiver)
    assert json.loads(first.body)["quantity"] == 2 and json.loads(renewal.body)["quantity"] == 2
    assert count(ctx, outbox, outbox.c.kind == "publisher.serials_revoked") == 0  # every key was handed out


def test_a_merchant_renewal_of_a_generator_product_gets_a_generated_key(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, gen_subscription: None
) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("GEN-SUB", (1502, 1)))
    subscription_id = reply.json()["orderLines"][0]["lineItems"][0]["subscriptionId"]
    renewed = shop_a.call(
        "POST", "/subscription/renew", {"partnerOrderNumber": "GEN-SUB", "subscriptionId": subscription_id}
    )
    assert renewed.status_code == 200 and renewed.json()["responseCode"] == 0, renewed.text
    assert renewal_serials(ctx, 1) == ["GEN-0001"]


def test_a_renewal_whose_generator_fails_is_retried_later(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, generator: Generator, gen_subscription: None, clock
) -> None:
    shop_a.call("POST", "/order/new", order_body("GEN-SUB", (1502, 1)))
    generator.plan = ["503"]
    clock.advance(days=366)
    result = subscription_service.renew_due(ctx)
    assert (result.renewed, result.failed) == (0, 1)
    with ctx.db.read() as conn:
        sub = conn.execute(select(subscriptions)).one()
    assert (sub.status, sub.last_renewal_error) == ("RENEWAL_PENDING", "licences currently not available")  # 1051
    assert renewal_serials(ctx, 1) == []
    generator.plan = ["ok"]
    clock.advance(hours=2)
    assert subscription_service.renew_due(ctx).renewed == 1
    assert renewal_serials(ctx, 1) == ["GEN-0001"]


def test_keys_generated_for_a_renewal_that_fails_go_back_to_the_publisher(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, gen_subscription: None, clock
) -> None:
    """The keys are fetched before the renewal's transaction; when the renewal fails all the same (here the
    pool of the order's other subscription is empty: 1044), the publisher hears that they were not used."""
    reply = shop_a.call("POST", "/order/new", order_body("GEN-MIX", (1502, 1), (1005, 1)))
    assert reply.status_code == 201, reply.text
    with ctx.db.write() as conn:
        product_id = conn.execute(select(products.c.id).where(products.c.ref == 1005)).scalar_one()
        stock.allocate(conn, product_id, stock.available_at_most(conn, product_id, 1000))
    clock.advance(days=366)
    result = subscription_service.renew_due(ctx)
    assert (result.renewed, result.failed) == (0, 2)
    assert renewal_serials(ctx, 1) == []
    dispatcher.run_pass(ctx)
    (callback,) = [r for r in receiver.requests if r.path == "/revoked"]
    body = Webhook(publisher_secret(ctx.settings.effective_publisher_key, "gen")).verify(
        callback.body, callback.headers
    )
    assert body["reason"] == "order_not_created"
    assert body["serials"] == [{"productRef": 1502, "serial": "GEN-0001"}]


def test_a_renewal_whose_keys_were_not_planned_waits_for_the_next_pass(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, gen_subscription: None, clock, monkeypatch
) -> None:
    """A generator renewal that became due between a batch's plan and its claim (a concurrent worker or
    merchant moved it) has no keys: it is left due, untouched, and the pass ends instead of spinning."""
    shop_a.call("POST", "/order/new", order_body("GEN-SUB", (1502, 1)))
    clock.advance(days=366)
    with monkeypatch.context() as patched:
        patched.setattr(subscription_service, "_plan_keys", lambda *args: {})
        result = subscription_service.renew_due(ctx)
    assert (result.total, result.deferred) == (0, 1)
    with ctx.db.read() as conn:
        assert conn.execute(select(subscriptions.c.status, subscriptions.c.generation)).one() == ("ACTIVE", 0)
    assert subscription_service.renew_due(ctx).renewal_orders == ["GEN-SUB-1"]
    assert renewal_serials(ctx, 1) == ["GEN-0001"]
