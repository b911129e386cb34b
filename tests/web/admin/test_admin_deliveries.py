"""The deliveries page over HTTP with real SMTP: an email the server refuses is listed failed with its
error; "Redeliver" (CSRF, audited) sends it once the server accepts; filters and keyset pages."""

# ruff: noqa: F811 - the mail tests' fixtures, imported, are parameters here

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import select

from resell.db.tables import audit_events
from resell.services import deliveries
from resell.services.context import Context
from resell.services.outbox import enqueue
from resell.worker import dispatcher
from tests.conftest import World
from tests.delivery_support import SmtpSink
from tests.services.test_deliveries import Refuse, buy
from tests.web.admin.conftest import csrf_of
from tests.worker.test_mail import direct, settings, smtp_port  # noqa: F401 - fixtures


def row_of(page: str, outbox_id: int) -> str:
    found = re.search(rf'<tr id="delivery-{outbox_id}">(.*?)</tr>', page, re.S)
    assert found, page
    return found.group(1)


def test_a_failed_email_is_listed_and_redelivered_once_the_server_accepts(
    ctx: Context,
    world: World,
    direct: bytes,
    smtp_port: int,
    clock,
    staff_client: Callable[[str], httpx.Client],
) -> None:
    controller = Controller(Refuse(), hostname="127.0.0.1", port=smtp_port)  # the SMTP server refuses
    controller.start()
    try:
        number = buy(ctx, world, "PAGE-550")
        assert dispatcher.run_pass(ctx).failed == 1
    finally:
        controller.stop()
    (failed,) = deliveries.for_order(ctx, number)
    http = staff_client("support")
    page = http.get("/admin/deliveries", params={"state": "failed", "kind": "email"})
    assert page.status_code == 200
    row = row_of(page.text, failed.id)
    assert "state-failed" in row and "buyer@example.com" in row and f'href="/admin/orders/{number}"' in row
    assert "gave up: recipient refused" in row and "550" in row
    assert ">Redeliver</button>" in row and "data-confirm=" in row
    # filters: by order; another state or kind hides it
    assert f'id="delivery-{failed.id}"' in http.get("/admin/deliveries", params={"order": str(number)}).text
    assert f'id="delivery-{failed.id}"' not in http.get("/admin/deliveries", params={"state": "retrying"}).text
    assert f'id="delivery-{failed.id}"' not in http.get("/admin/deliveries", params={"kind": "webhook"}).text
    # CSRF: refused without the token, nothing queued
    action = f"/admin/deliveries/{failed.id}/redeliver"
    assert http.post(action, data={}).status_code == 403
    assert http.post(action, data={"csrf_token": "forged"}).status_code == 403
    assert len(deliveries.for_order(ctx, number)) == 1
    sink = SmtpSink(smtp_port)  # now the server accepts
    try:
        clock.advance(minutes=1)
        reply = http.post(action, data={"csrf_token": csrf_of(page.text), "state": "failed", "kind": "email"})
        assert reply.status_code == 303
        assert reply.headers["location"] == f"/admin/deliveries?state=failed&kind=email&redelivered={failed.id}"
        assert f"Delivery {failed.id} is queued again" in http.get(reply.headers["location"]).text
        assert dispatcher.run_pass(ctx).delivered == 1
        (message,) = sink.messages
        assert message["To"] == "buyer@example.com" and str(number) in message["Subject"]
    finally:
        sink.stop()
    old, new = deliveries.for_order(ctx, number)
    assert (old.state, new.state) == ("failed", "delivered")
    listed = http.get("/admin/deliveries", params={"order": str(number)}).text
    assert "state-delivered" in row_of(listed, new.id) and "state-failed" in row_of(listed, old.id)
    with ctx.db.read() as conn:
        (audited,) = conn.execute(select(audit_events).where(audit_events.c.action == "redelivered")).all()
    assert (audited.actor, audited.entity_id) == ("staff:support0@staff.test", str(failed.id))


def test_keyset_pages_and_roles(ctx: Context, world: World, staff_client: Callable[[str], httpx.Client]) -> None:
    with ctx.db.write() as conn:
        for n in range(deliveries.PAGE + 5):
            enqueue(conn, ctx.now(), "test.event", {"n": n})
    http = staff_client("admin")
    first = http.get("/admin/deliveries", params={"kind": ""}).text
    ids = [int(i) for i in re.findall(r'<tr id="delivery-(\d+)">', first)]
    assert len(ids) == deliveries.PAGE and ids == sorted(ids, reverse=True)
    older = re.search(r'href="/admin/deliveries\?([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = http.get("/admin/deliveries?" + older).text
    rest = [int(i) for i in re.findall(r'<tr id="delivery-(\d+)">', second)]
    assert rest and max(rest) < min(ids) and len(set(ids + rest)) == len(ids) + len(rest)
    assert 'rel="next"' not in second and ">Newest</a>" in second
    assert (
        ">Redeliver</button>" not in first
    )  # waiting events are carried out by their webhook rows: nothing to redeliver
    # refused: a waiting row; and roles without the section
    token = csrf_of(first)
    reply = http.post(f"/admin/deliveries/{ids[0]}/redeliver", data={"csrf_token": token})
    assert reply.status_code == 303 and "error=1" in reply.headers["location"]
    assert "cannot go out again" in http.get(reply.headers["location"]).text
    assert staff_client("finance").get("/admin/deliveries").status_code == 403
    assert staff_client("publisher").get("/admin/deliveries").status_code == 403
