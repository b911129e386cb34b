"""resell_client's test clock methods against the real server: reading and advancing a sandbox's clock,
sync and async, a yearly renewal seen through the SDK, and the refusals as typed exceptions."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from resell_client import InvalidRequest, models

from tests.conftest import Clock, World
from tests.sdk.conftest import async_client, order_request, sdk_client


def test_a_yearly_renewal_through_the_sdk(server: str, world: World, clock: Clock) -> None:
    with sdk_client(server, world.a, secret=world.a.sandbox_secret) as sandbox:
        before = sandbox.get_test_clock()
        assert isinstance(before, models.TestClock)
        assert (before.clock_time, before.frozen) == (clock.now, False)
        order = sandbox.create_order(order_request("SDK-SUB", (1005, 1)))
        sid = order.order_lines[0].line_items[0].subscription_id
        assert sid is not None

        moved = sandbox.advance_test_clock(advance_by="P1Y")
        assert isinstance(moved, models.AdvancedTestClock)
        assert (moved.renewed, moved.expired, moved.failed, moved.frozen) == (1, 0, 0, True)
        assert moved.clock_time == clock.now.replace(year=clock.now.year + 1)
        assert sandbox.get_order("SDK-SUB-1").order_lines[0].line_items[0].subscription_id == sid
        assert sandbox.get_subscription_status("SDK-SUB", sid).generation == 1

        to = moved.clock_time + dt.timedelta(days=1)
        assert sandbox.advance_test_clock(advance_to=to).clock_time == to
        with pytest.raises(InvalidRequest) as back:
            sandbox.advance_test_clock(advance_to=to - dt.timedelta(seconds=1))
        assert back.value.response_code == 1071
        with pytest.raises(ValueError):
            sandbox.advance_test_clock()  # neither: refused before any request
        with pytest.raises(ValueError):
            sandbox.advance_test_clock(advance_to=dt.datetime(2040, 1, 1))  # no time zone


def test_a_live_client_has_no_test_clock(server: str, world: World) -> None:
    with sdk_client(server, world.a) as live:
        with pytest.raises(InvalidRequest) as refused:
            live.get_test_clock()
        assert refused.value.response_code == 1070


def test_the_test_clock_awaited(server: str, world: World) -> None:
    async def scenario() -> None:
        async with async_client(server, world.a, secret=world.a.sandbox_secret) as sandbox:
            assert (await sandbox.get_test_clock()).frozen is False
            moved = await sandbox.advance_test_clock(advance_by="P1M")
            assert moved.frozen is True and (await sandbox.get_test_clock()).clock_time == moved.clock_time

    asyncio.run(scenario())
