"""`resell worker`: the outbox and the periodic jobs, until stopped or for one pass."""

from __future__ import annotations

from typing import Annotated

import typer

from resell.cli.support import context, err, fail, out
from resell.config import get_settings


def worker(
    once: Annotated[bool, typer.Option("--once", help="run a single pass and exit")] = False,
    now: Annotated[str | None, typer.Option(help="with --once: run the pass as if at this ISO 8601 time")] = None,
) -> None:
    """Deliver the outbox (emails, webhooks, publisher calls) and run periodic jobs, until stopped."""
    import signal

    from resell.domain.periods import parse_timestamp
    from resell.logs import configure
    from resell.worker import dispatcher

    settings = get_settings()
    configure(settings.log_level, settings.log_json)
    ctx = context()
    if now is not None:
        if not once:
            fail("--now goes with --once")
        try:
            fixed = parse_timestamp(now)
        except ValueError:
            fail(f"--now {now!r} is not an ISO 8601 date-time")
            return
        ctx.clock = lambda: fixed
    if once:
        stats = dispatcher.run_pass(ctx)
        out.print(
            f"periodic jobs: {stats.periodic}, delivered: {stats.delivered}, "
            f"retried later: {stats.retried}, failed: {stats.failed}"
        )
        return
    stopping = False

    def stop(_signum, _frame):  # type: ignore[no-untyped-def]
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    err.print("worker running; Ctrl-C to stop")
    dispatcher.run_forever(ctx, should_stop=lambda: stopping)
