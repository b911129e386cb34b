"""The support desk: `resell order show/find/cancel/resend-email` and `resell audit N|PON`."""

from __future__ import annotations

import json

from resell.services import orders as order_service
from resell.services.context import Context
from tests.conftest import CliRun, World, order_body
from tests.renewal_support import caller_of


def flat(text: str) -> str:
    return "".join(text.split())


def test_audit_by_the_platform_order_number(cli: CliRun, ctx: Context, world: World) -> None:
    view = order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("A-1", (1003, 1)))
    by_number = cli("audit", str(view.order_number), "--json")
    assert by_number.exit_code == 0, by_number.output
    assert [(r["entity"], r["action"]) for r in json.loads(by_number.stdout)][0] == ("order", "created")
    shown = cli("audit", str(view.order_number))
    assert f"A-1(order{view.order_number},merchantshop-a)" in flat(shown.stdout)
    unknown = cli("audit", "987654")
    assert unknown.exit_code == 1 and "no order '987654'" in unknown.stderr
    # a number of another merchant's realm is not that order
    other = cli("audit", str(view.order_number), "--realm", "shop-b")
    assert other.exit_code == 1 and "of merchant 'shop-b'" in other.stderr
