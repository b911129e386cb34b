"""The `resell` command: serve the API, migrate, seed the demo, manage merchants, catalogue, stock and staff.

One module per command group; this one only assembles them, in the order `resell --help` lists them.
The helpers they share (consoles, context, fail) are in `support`.
"""

from __future__ import annotations

import typer

from resell.cli import (
    audit,
    catalog,
    db,
    demo,
    feed,
    files,
    mail,
    merchant,
    order,
    publishers,
    report,
    sandbox,
    serve,
    shipments,
    staff,
    stock,
    webhooks,
    worker,
)

app = typer.Typer(help="resell: digital distribution through resellers.", no_args_is_help=True)
app.command()(serve.serve)
app.command()(worker.worker)
app.command()(demo.demo)
app.add_typer(db.app, name="db")
app.add_typer(merchant.app, name="merchant")
app.add_typer(catalog.app, name="catalog")
app.add_typer(stock.app, name="stock")
app.add_typer(files.app, name="files")
app.add_typer(shipments.app, name="shipments")
app.add_typer(publishers.app, name="publishers")
app.add_typer(mail.app, name="mail")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(order.app, name="order")
app.add_typer(audit.app, name="audit")
app.add_typer(staff.app, name="staff")
app.add_typer(feed.app, name="feed")
app.add_typer(report.app, name="report")
app.add_typer(sandbox.app, name="sandbox")
