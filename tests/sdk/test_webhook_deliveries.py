"""resell_client's delivery log and redelivery (list_webhook_deliveries, redeliver_webhook_event),
sync and async, against the real server, a real receiver and the real worker."""

from __future__ import annotations

import asyncio

import pytest
from resell_client import Client, InvalidRequest, NotFound, models

from resell.services import orders as order_service
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
from tests.sdk.conftest import async_client, sdk_client


def test_the_log_a_page_at_a_time_and_a_redelivery(
    ctx: Context, sdk: Client, world: World, server: str, receiver: Receiver
) -> None:
    hook = sdk.create_webhook(receiver.url, ["order.created"])
    who = caller_of(ctx, world.a)
    for pon in ("SDK-1", "SDK-2"):
        order_service.submit_order(ctx, who, order_body(pon, (1003, 1)))
    dispatcher.run_pass(ctx)
    events = [e.event_id for e in outbox_events(ctx, "order.created")]

    first = sdk.list_webhook_deliveries(hook.id, limit=1)
    assert isinstance(first, models.WebhookDeliveries) and first.id == hook.id
    (newest,) = first.deliveries
    assert isinstance(newest, models.WebhookDelivery)
    assert (newest.event_type, newest.attempt, newest.status_code) == ("order.created", 1, 204)
    assert newest.at.tzinfo is not None and first.next_before == newest.id
    older = sdk.list_webhook_deliveries(hook.id, limit=1, before=first.next_before)
    assert len(older.deliveries) == 1 and older.next_before is None and older.deliveries[0].id < newest.id
    assert sorted([newest.event_id, older.deliveries[0].event_id]) == sorted(events)

    done = sdk.redeliver_webhook_event(hook.id, events[0])
    assert isinstance(done, models.RedeliveredEvent)
    assert (done.id, done.event_id, done.event_type) == (hook.id, events[0], "order.created")
    assert dispatcher.run_pass(ctx).delivered == 1
    assert receiver.all()[-1].headers["webhook-id"] == events[0]

    with pytest.raises(NotFound) as unknown:
        sdk.redeliver_webhook_event(hook.id, "no-such-event")
    assert unknown.value.response_code == 1011
    with pytest.raises(InvalidRequest) as bad_limit:
        sdk.list_webhook_deliveries(hook.id, limit=500)
    assert bad_limit.value.response_code == 111
    with sdk_client(server, world.b) as other, pytest.raises(NotFound) as theirs:
        other.list_webhook_deliveries(hook.id)
    assert theirs.value.response_code == 1010

    async def awaited() -> None:
        async with async_client(server, world.a) as client:
            log = await client.list_webhook_deliveries(hook.id)
            assert [(d.event_id, d.attempt) for d in log.deliveries][:1] == [(events[0], 2)]
            again = await client.redeliver_webhook_event(hook.id, events[1])
            assert again.event_id == events[1]

    asyncio.run(awaited())
    assert dispatcher.run_pass(ctx).delivered == 1
    assert receiver.all()[-1].headers["webhook-id"] == events[1]
