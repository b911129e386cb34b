"""The `resell` command: serve the API, migrate, seed the demo, manage merchants, catalogue and stock."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from resell.cli_support import context, err, fail, out
from resell.config import Settings, get_settings
from resell.private_files import private_dir
from resell.services.context import Context

app = typer.Typer(help="resell: digital distribution through resellers.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
merchant_app = typer.Typer(help="Merchants and their catalogues.", no_args_is_help=True)
catalog_app = typer.Typer(help="The product catalogue.", no_args_is_help=True)
stock_app = typer.Typer(help="Licence-key stock.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(merchant_app, name="merchant")
app.add_typer(catalog_app, name="catalog")
app.add_typer(stock_app, name="stock")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default RESELL_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default RESELL_PORT or 8000")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes (RESELL_WORKERS)")] = None,
) -> None:
    """Serve the Connect API (OpenAPI docs at /docs, metrics at /metrics or RESELL_METRICS_BIND)."""
    import uvicorn

    settings = get_settings()
    allowed_proxies = settings.forwarded_allow_ips.strip()
    ctx = context()  # a database `resell db upgrade` has not migrated stops here, before binding
    workers = workers or settings.workers
    if workers > 1:
        _share_metrics(settings)
    if settings.metrics_address is None:
        ctx.db.dispose()
    else:
        _serve_metrics(ctx)
    uvicorn.run(
        "resell.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        access_log=False,
        log_level=settings.log_level.lower(),
        # X-Forwarded-For/-Proto believed from RESELL_FORWARDED_ALLOW_IPS only (uvicorn's own default
        # believes 127.0.0.1, where anyone on the machine could name their own address to the throttles)
        proxy_headers=bool(allowed_proxies),
        forwarded_allow_ips=allowed_proxies or None,
    )


def _share_metrics(settings: Settings) -> None:
    """Several workers: each writes its metrics under PROMETHEUS_MULTIPROC_DIR (set before any worker
    starts) and a scrape sums them. Unless the operator chose the directory, it is var/metrics, emptied
    here: the values of a previous run must not be added to this one's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = settings.var_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    private_dir(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())


def _serve_metrics(ctx: Context) -> None:
    """/metrics on RESELL_METRICS_BIND, bound now so that a busy or wrong address stops `serve` in one line."""
    import socket

    from resell.api.rest.observability import serve_metrics

    host, port = ctx.settings.metrics_address or ("", 0)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        fail(f"cannot listen on RESELL_METRICS_BIND={ctx.settings.metrics_bind}: {reason}")
        return
    serve_metrics(ctx, sock)


@app.command()
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


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version (SQLite by default, RESELL_DATABASE_URL)."""
    from resell.db.migrate import current_revision, upgrade

    ctx = context(migrated=False)
    upgrade(ctx.db)
    out.print(f"database at revision [bold]{current_revision(ctx.db)}[/]")


def _print_credentials(document: dict) -> None:
    first = document["merchants"][0]
    catalog = first["catalogs"][0]
    base = document["baseUrl"]
    out.print(f"[bold]Demo credentials[/] (also in {get_settings().var_dir / 'demo-credentials.json'}):")
    for merchant in document["merchants"]:
        out.print(f"  realmName [cyan]{merchant['realmName']}[/]  clientSecret [cyan]{merchant['clientSecret']}[/]")
        for cat in merchant["catalogs"]:
            out.print(
                f"    catalogue {cat['currency']}: secret [cyan]{cat['secret']}[/]  "
                f"products {', '.join(map(str, cat['productRefs']))}"
            )
    credentials = json.dumps(
        {"realmName": first["realmName"], "clientSecret": first["clientSecret"], "grantType": "client_credentials"}
    )
    stock = json.dumps({"productRefs": catalog["productRefs"][:1]})
    read_token = "python3 -c 'import sys, json; print(json.load(sys.stdin)[\"access_token\"])'"
    out.print("\n[bold]Try it[/] (token, then stock):")
    out.print(
        f"TOKEN=$(curl -s -X POST {base}/iam/tokens -H 'Content-Type: application/json' "
        f"-d '{credentials}' | {read_token})\n"
        f"curl -s -X POST {base}/connect/stock -H \"Authorization: Bearer $TOKEN\" -H 'secret: {catalog['secret']}' "
        f"-H 'Content-Type: application/json' -d '{stock}'",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


@app.command()
def demo(
    serials: Annotated[int, typer.Option(help="serials per pooled demo product")] = 1000,
) -> None:
    """Seed the demo catalogue and two demo merchants into an empty database, and print the credentials."""
    from resell.services import demo as demo_service

    ctx = context()
    if demo_service.is_seeded(ctx):
        document = demo_service.load_credentials(ctx)
        if document is None:
            out.print("The database already holds merchants; no demo credentials file to show.")
            return
    else:
        with err.status("seeding the demo catalogue and stock..."):
            document = demo_service.seed(ctx, serials)
    _print_credentials(document)


def _product_refs(products: str | None) -> list[int] | None:
    if not products:
        return None
    try:
        return [int(ref) for ref in products.split(",") if ref.strip()]
    except ValueError:
        fail(f"--products takes product refs separated by commas, not {products!r}")
        raise


@merchant_app.command("create")
def merchant_create(
    realm: str,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    currency: Annotated[list[str], typer.Option(help="add a catalogue in this currency (repeatable)")] = [],  # noqa: B006
    products: Annotated[str | None, typer.Option(help="comma-separated product refs (default: all)")] = None,
    cancel_period_days: Annotated[int | None, typer.Option(help="cancel period of its catalogues")] = None,
) -> None:
    """Create a merchant (and catalogues); prints its secrets once: they are stored hashed only."""
    from resell.services import merchants

    refs = _product_refs(products)
    specs = [merchants.CatalogSpec(f"{realm} {c.upper()}", c, refs, cancel_period_days) for c in currency]
    try:
        created, cats = merchants.create_merchant(context(), realm, name, catalogs_to_add=specs)
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    out.print(f"merchant [bold]{created.realm}[/] created. Keep these secrets now; they are not shown again.")
    out.print(f"  realmName    {created.realm}\n  clientSecret {created.client_secret}")
    for cat in cats:
        out.print(f"  catalogue {cat.currency} secret {cat.secret} ({len(cat.product_refs)} products)")


@merchant_app.command("add-catalog")
def merchant_add_catalog(
    realm: str,
    currency: str,
    name: Annotated[str | None, typer.Option()] = None,
    products: Annotated[str | None, typer.Option(help="comma-separated product refs (default: all)")] = None,
    cancel_period_days: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Add a catalogue (currency, products) to a merchant; prints its secret once."""
    from resell.services import merchants

    spec = merchants.CatalogSpec(
        name or f"{realm} {currency.upper()}", currency, _product_refs(products), cancel_period_days
    )
    try:
        cat = merchants.add_catalog(context(), realm, spec)
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    out.print(f"catalogue {cat.currency} secret {cat.secret} ({len(cat.product_refs)} products)")


@merchant_app.command("products")
def merchant_products(
    realm: str,
    currency: str,
    add: Annotated[str | None, typer.Option(help="comma-separated product refs to start selling")] = None,
    remove: Annotated[str | None, typer.Option(help="comma-separated product refs to stop selling")] = None,
) -> None:
    """Add products to, or remove them from, a merchant's catalogue (product feeds report insert / delete)."""
    from resell.services import merchants

    try:
        added, removed = merchants.change_catalog_products(
            context(), realm, currency, _product_refs(add) or [], _product_refs(remove) or []
        )
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    out.print(f"added {added or 'nothing'}, removed {removed or 'nothing'}")


@merchant_app.command("revoke-tokens")
def merchant_revoke_tokens(realm: str) -> None:
    """Emergency: every access and refresh token of the merchant stops working now (it signs in again).

    DELETE /iam/tokens/reset revokes refresh tokens only; access tokens issued before it live out
    their 5 minutes. This is the way to end those too, for a leaked client secret or token."""
    from resell.services import iam

    if not iam.revoke_all_tokens(context(), realm):
        fail(f"no merchant {realm!r}")
        return
    out.print(f"every token of merchant [bold]{realm}[/] revoked; it must sign in again")


@catalog_app.command("import")
def catalog_import(file: Path) -> None:
    """Import (upsert) a catalogue JSON file: see docs/catalog-format.md."""
    from resell.services.catalog_import import CatalogImportError, import_catalog

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        counts = import_catalog(context(), data)
    except (OSError, json.JSONDecodeError, CatalogImportError) as exc:
        fail(f"{file}: {exc}")
        return
    out.print("imported " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))


@stock_app.command("import")
def stock_import(ref: int, file: Path) -> None:
    """Add serials to a product's pool from FILE, one per line (duplicates are skipped and counted)."""
    import io

    from resell.services import stock

    if not file.exists():
        fail(f"{file}: no such file")
    size = file.stat().st_size
    with (
        file.open("rb") as handle,
        Progress(
            TextColumn("[bold]importing[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("bytes"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        ) as progress,
    ):
        task = progress.add_task("serials", total=size)
        # streamed and decoded in C; lines end at "\n" only (the "\r" of a "\r\n" goes with strip())
        lines = io.TextIOWrapper(handle, encoding="utf-8", errors="replace", newline="\n")
        try:
            result = stock.import_serials(
                context(), ref, lines, on_progress=lambda _n: progress.update(task, completed=handle.tell())
            )
        except stock.StockError as exc:
            fail(str(exc))
            return
        progress.update(task, completed=size)
    out.print(
        f"{result.added} serials added, {result.duplicates} duplicates skipped"
        + (f", {result.rejected} rejected (over 500 characters)" if result.rejected else "")
    )


@stock_app.command("report")
def stock_report(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Available / assigned / revoked serials per product."""
    from resell.services import stock

    lines = stock.report(context())
    if as_json:
        json.dump([line.__dict__ for line in lines], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table("ref", "product", "source", "available", "assigned", "revoked")
    for line in lines:
        table.add_row(
            str(line.ref), line.name, line.serial_source, str(line.available), str(line.assigned), str(line.revoked)
        )
    out.print(table)


def _register_command_groups() -> None:
    from resell import cli_feed, cli_fulfilment, cli_integrations

    for module in (cli_fulfilment, cli_integrations, cli_feed):
        for name, group in module.APPS.items():
            app.add_typer(group, name=name)


_register_command_groups()

if __name__ == "__main__":
    app()
