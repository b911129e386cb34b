"""Subscription renewals, run as a periodic job of every worker pass.

Each pass renews, expires or retries every subscription whose term (or retry) is due by the
platform's clock (`resell worker --once --now ISO` runs a pass as if at that time); see
resell.services.subscriptions for the rules and for why concurrent workers never renew twice.
"""

from __future__ import annotations

from resell.logs import get_logger
from resell.services import subscriptions
from resell.services.context import Context
from resell.worker.dispatcher import periodic

log = get_logger("resell.renewals")


@periodic
def renew_subscriptions(ctx: Context) -> int:
    result = subscriptions.renew_due(ctx)
    if result.total:
        log.info(
            "renewals",
            renewed=result.renewed,
            expired=result.expired,
            terminated=result.terminated,
            failed=result.failed,
        )
    return result.total
