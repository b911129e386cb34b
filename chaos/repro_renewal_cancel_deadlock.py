"""Reproduce, deterministically, the PostgreSQL deadlock `make chaos` found between cancelOrder and a renewal.

cancelOrder locks the order FOR UPDATE, then updates its subscriptions (TERMINATED). The worker's renewal
job claimed the due subscriptions FOR UPDATE, then inserted the renewal order, whose foreign key
parent_order_id takes FOR KEY SHARE on that same order: each waited for the other, and PostgreSQL killed
one (the merchant's cancelOrder answered 500, or the worker's batch rolled back).

Here a raw connection plays cancelOrder's two steps, and the real `subscriptions.renew_due` runs between
them in a thread. With the fix (`_hold_roots`) the renewal skips the order being cancelled and the cancel
goes through; `--without-fix` disables it and shows the deadlock.

    .venv/bin/python chaos/repro_renewal_cancel_deadlock.py [--without-fix]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from chaos.harness import PG_ADMIN, order_body  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--without-fix", action="store_true")
    args = parser.parse_args()

    from resell.config import Settings
    from resell.db.engine import Database
    from resell.db.migrate import upgrade
    from resell.db.tables import subscriptions as subs
    from resell.services import iam, merchants, stock
    from resell.services import orders as order_service
    from resell.services import subscriptions as sub_service
    from resell.services.catalog_import import import_catalog
    from resell.services.context import Context

    if args.without_fix:
        sub_service._hold_roots = lambda conn, due: due  # type: ignore[assignment]

    name = f"resell_repro_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        ctx = Context.from_settings(Settings(database_url=url, jwt_secret="x" * 40, var_dir=Path("/tmp")))
        upgrade(ctx.db)
        import_catalog(
            ctx,
            {
                "publishers": [{"key": "p", "name": "P"}],
                "products": [
                    {
                        "ref": 1,
                        "name": "Daily",
                        "publisher": "p",
                        "serialSource": "pool",
                        "deliveryMode": "serial",
                        "subscriptionPeriod": "P1D",
                        "prices": [{"currency": "EUR", "amountDutyFree": 1}],
                    }
                ],
            },
        )
        stock.import_serials(ctx, 1, [f"S{i}" for i in range(10)])
        _m, (cat,) = merchants.create_merchant(ctx, "shop", catalogs_to_add=[merchants.CatalogSpec("EUR", "EUR")])
        caller = iam.caller_for_secret(ctx, cat.secret)
        view = order_service.submit_order(ctx, caller, order_body("PON", [(1, 1)]))
        order_id = view.order_number
        with ctx.db.write() as conn:  # due now
            conn.execute(update(subs).values(next_change_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
            sub_id = conn.execute(select(subs.c.id)).scalar_one()

        cancel = Database(url, pool_size=1)
        outcome: dict[str, object] = {}
        with cancel.engine.connect() as t1:
            t1.begin()
            t1.execute(text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id})  # cancelOrder 1

            def worker() -> None:
                try:
                    outcome["renewal"] = sub_service.renew_due(ctx)
                except Exception as exc:  # noqa: BLE001
                    outcome["renewal"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"

            thread = threading.Thread(target=worker)
            thread.start()
            time.sleep(1.0)  # the renewal has claimed the subscription (and, without the fix, waits for the order)
            try:
                t1.execute(  # cancelOrder step 2: terminate the order's subscriptions
                    text("UPDATE subscriptions SET status = 'TERMINATED', next_change_at = NULL WHERE id = :id"),
                    {"id": sub_id},
                )
                t1.commit()
                outcome["cancel"] = "committed"
            except Exception as exc:  # noqa: BLE001
                outcome["cancel"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                t1.rollback()
            thread.join(timeout=30)
        cancel.dispose()
        print(f"cancelOrder: {outcome.get('cancel')}")
        print(f"renew_due:   {outcome.get('renewal')}")
        deadlocked = any("Deadlock" in str(v) for v in outcome.values())
        print("DEADLOCK" if deadlocked else "no deadlock")
        ctx.db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    sys.exit(1 if deadlocked else 0)


if __name__ == "__main__":
    main()
