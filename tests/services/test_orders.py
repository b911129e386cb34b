"""createOrder's reply is built from what it wrote, after the commit, outside the writer's turn."""

from __future__ import annotations

from typing import Any

import pytest

from resell.services import orders as order_service
from resell.services.context import Context
from tests.conftest import World, order_body
from tests.renewal_support import caller_of

# the order view's read of what an order holds (getOrderData and getDownloadInfo read it back with
# it); the products' files, which createOrder does not write, are the one read its turn makes for the reply
VIEW_READS = ("_ORDER_CONTENTS",)


def test_the_create_order_reply_is_what_was_written_and_is_built_outside_the_writers_turn(
    ctx: Context, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_turn: list[bool] = []  # shared with the group-commit thread
    reads_in_turn: list[str] = []
    grouped = ctx.db.write_grouped

    def traced(work: Any) -> Any:
        def job(conn: Any) -> Any:
            in_turn.append(True)
            try:
                return work(conn)
            finally:
                in_turn.pop()

        return grouped(job)

    monkeypatch.setattr(ctx.db, "write_grouped", traced)
    for name in VIEW_READS:
        statement = getattr(order_service, name)
        for method in ("all", "first"):
            original = getattr(statement, method)

            def recording(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                if in_turn:
                    reads_in_turn.append(_name)
                return _original(*args, **kwargs)

            monkeypatch.setattr(statement, method, recording)

    who = caller_of(ctx, world.a)
    # serials from the pool, a product with files and none, a subscription
    created = order_service.submit_order(ctx, who, order_body("VIEW-1", (1001, 2), (1002, 1), (1005, 1)))
    assert reads_in_turn == []
    assert created == order_service.get_order(ctx, who, "VIEW-1")  # what a read-back shows, field by field
    assert created.lines[2].line_items[0].subscription_id is not None
