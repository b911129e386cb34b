"""The `resell` command, driven through Typer's CliRunner against the test database."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from click.testing import Result
from sqlalchemy import func, inspect, select

from resell.config import Settings, get_settings
from resell.db.engine import Database
from resell.db.migrate import alembic_config
from resell.db.tables import (
    audit_events,
    catalog_changes,
    catalog_products,
    catalogs,
    categories,
    feed_configs,
    merchants,
    metadata,
    operating_systems,
    option_eligibility,
    product_prices,
    products,
    publishers,
    serials,
)
from resell.services import iam, staff
from resell.services import orders as order_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Caller, Context
from tests.conftest import TEST_CATALOG, World, add_prices, order_body, run_cli

Run = Callable[..., Result]
BASE_URL = "http://cli.test"


@pytest.fixture
def cli_var(tmp_path: Path) -> Path:
    return tmp_path / "cli-var"


@pytest.fixture
def cli(settings: Settings, cli_var: Path) -> Iterator[Run]:
    """`cli("stock", "report")` runs the command on the test's database, with a var dir of its own."""
    env: dict[str, str | None] = {
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_VAR_DIR": str(cli_var),
        "RESELL_PUBLIC_BASE_URL": BASE_URL,
        "RESELL_JWT_SECRET": None,
    }
    get_settings.cache_clear()
    yield lambda *args: run_cli(env, *args)
    get_settings.cache_clear()


def flat(text: str) -> str:
    """The text without any whitespace: immune to the console wrapping long lines."""
    return "".join(text.split())


def says(result: Result, *fragments: str) -> bool:
    everything = flat(result.stdout + result.stderr)
    return all(flat(fragment) in everything for fragment in fragments)


def count(ctx: Context, table: Any, *where: Any) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def serial_values(ctx: Context, ref: int) -> list[str]:
    with ctx.db.read() as conn:
        return list(conn.execute(
            select(serials.c.value).join(products, products.c.id == serials.c.product_id).where(products.c.ref == ref)
        ).scalars())


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def caller(ctx: Context, realm: str, client_secret: str, secret: str) -> Caller:
    pair = iam.issue_tokens(ctx, realm, client_secret)
    return iam.authenticate(ctx, pair.access_token, secret)


# ---------------------------------------------------------------- db upgrade


def test_db_upgrade_is_idempotent(cli: Run, ctx: Context) -> None:
    head = ScriptDirectory.from_config(alembic_config(ctx.db)).get_current_head()
    assert head
    first, second = cli("db", "upgrade"), cli("db", "upgrade")
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert f"database at revision {head}" in first.stdout
    assert first.stdout == second.stdout
    with ctx.db.read() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [head]
    import_catalog(ctx, TEST_CATALOG)  # the schema is usable
    assert count(ctx, products) == 7


def test_db_upgrade_creates_the_schema_in_an_empty_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "resell.db"
    env: dict[str, str | None] = {"RESELL_DATABASE_URL": f"sqlite:///{path}", "RESELL_VAR_DIR": str(tmp_path / "v")}
    first = run_cli(env, "db", "upgrade")
    assert first.exit_code == 0, first.output
    db = Database(f"sqlite:///{path}")
    try:
        tables = set(inspect(db.engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= tables
        second = run_cli(env, "db", "upgrade")
        assert second.exit_code == 0, second.output
        assert second.stdout == first.stdout
        assert set(inspect(db.engine).get_table_names()) == tables
    finally:
        db.dispose()


NOT_MIGRATED = "error: the database at {path} is not migrated: run `resell db upgrade`\n"


def fresh_env(tmp_path: Path) -> dict[str, str | None]:
    """Settings for a machine where `resell db upgrade` was never run (the default SQLite file in var/)."""
    return {"RESELL_VAR_DIR": str(tmp_path / "var"), "RESELL_DATABASE_URL": None, "COLUMNS": "80"}


@pytest.mark.parametrize(
    "args",
    [["demo"], ["stock", "report"], ["worker", "--once"], ["merchant", "create", "shop"], ["files", "list"]],
    ids=" ".join,
)
def test_commands_on_a_database_never_migrated_stop_with_one_line(tmp_path: Path, args: list[str]) -> None:
    result = run_cli(fresh_env(tmp_path), *args)
    assert result.exit_code == 1
    assert result.stderr == NOT_MIGRATED.format(path=(tmp_path / "var" / "resell.db").resolve())  # one line
    assert result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback


def test_a_database_stamped_by_an_unknown_release_is_refused(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "var" / "resell.db"
    path.parent.mkdir()
    path.write_bytes(sqlite_template.read_bytes())
    db = Database(f"sqlite:///{path}")
    with db.write() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff0099'")
    db.dispose()
    result = run_cli(fresh_env(tmp_path), "stock", "report")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the database at {path.resolve()} is at revision ffff0099, which this release of resell "
        "does not know: run the release that migrated it\n"
    )


def test_a_database_that_cannot_be_reached_is_one_line_without_its_password(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://resell:hunter2@127.0.0.1:{port}/resell"
    result = run_cli({**fresh_env(tmp_path), "RESELL_DATABASE_URL": url}, "stock", "report")
    assert result.exit_code == 1
    hidden = f"postgresql+psycopg://resell:***@127.0.0.1:{port}/resell"
    assert result.stderr.startswith(f"error: cannot open the database at {hidden}: ")
    assert result.stderr.count("\n") == 1 and "hunter2" not in result.output and "Traceback" not in result.output


def test_commands_run_once_db_upgrade_has_run(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    assert run_cli(env, "stock", "report").exit_code == 1
    assert run_cli(env, "db", "upgrade").exit_code == 0  # db upgrade itself never asks for a schema
    report = run_cli(env, "stock", "report")
    assert report.exit_code == 0, report.output


def test_serve_on_a_database_never_migrated_exits_before_binding(tmp_path: Path) -> None:
    """A real `resell serve` process: it exits 1 with the line instead of serving 500s; the port stays free."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "RESELL_VAR_DIR": str(tmp_path / "var"), "RESELL_PORT": str(port), "COLUMNS": "300"}
    env.pop("RESELL_DATABASE_URL", None)
    run = subprocess.run(
        [sys.executable, "-m", "resell.cli", "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1
    assert run.stderr == NOT_MIGRATED.format(path=(tmp_path / "var" / "resell.db").resolve())
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # nothing listens on it


# ---------------------------------------------------------------- catalog import


def test_catalog_import_prints_counts_and_is_an_upsert(cli: Run, ctx: Context, tmp_path: Path) -> None:
    file = write_json(tmp_path / "catalog.json", TEST_CATALOG)
    result = cli("catalog", "import", str(file))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "imported 1 publishers, 2 operatingSystems, 1 categories, 7 products"
    with ctx.db.read() as conn:
        refs = conn.execute(select(products.c.ref).order_by(products.c.ref)).scalars().all()
    assert refs == [1001, 1002, 1003, 1004, 1005, 1090, 1091]
    assert count(ctx, categories) == 2 and count(ctx, operating_systems) == 2

    again = cli("catalog", "import", str(file))
    assert again.exit_code == 0, again.output
    assert count(ctx, products) == 7 and count(ctx, publishers) == 1 and count(ctx, product_prices) == 4


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(TEST_CATALOG)
    change(data)
    return data


def _product(data: dict[str, Any], ref: int) -> dict[str, Any]:
    return next(p for p in data["products"] if p["ref"] == ref)


BAD_CATALOGS: dict[str, tuple[Any, list[str]]] = {
    "bad-json": ('{"publishers": [{"key": "pub", "name": "P"}], "products": [', ["line 1 column"]),
    "not-an-object": ("[1, 2]", ["not valid"]),
    "unknown-publisher": (
        _with(lambda d: _product(d, 1002).update(publisher="ghost")),
        ["product 1002: unknown publisher 'ghost'"],
    ),
    "bad-currency": (
        _with(lambda d: _product(d, 1003)["prices"][0].update(currency="XYZ")),
        ["products.2.prices.0.currency", "'XYZ' is not an ISO 4217 currency"],
    ),
    "unknown-upsell": (
        _with(lambda d: _product(d, 1001).update(upSells=[4242])),
        ["product 1001: upSells names unknown product refs [4242]"],
    ),
    "unknown-key": (
        _with(lambda d: _product(d, 1001).update(shortDesc="typo")),
        ["products.0.shortDesc"],
    ),
    "bad-period": (
        _with(lambda d: _product(d, 1005).update(subscriptionPeriod="PT24H")),
        ["subscriptionPeriod 'PT24H' is not an ISO 8601 period"],
    ),
    "huge-period": (
        _with(lambda d: _product(d, 1005).update(subscriptionPeriod="P9999999999D")),
        ["subscriptionPeriod 'P9999999999D' is not an ISO 8601 period"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CATALOGS))
def test_catalog_import_of_an_invalid_file_fails_clearly_and_writes_nothing(
    cli: Run, ctx: Context, tmp_path: Path, case: str
) -> None:
    content, fragments = BAD_CATALOGS[case]
    file = tmp_path / "bad.json"
    file.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    result = cli("catalog", "import", str(file))
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # a message, not a traceback
    assert says(result, "error:", str(file), *fragments), result.output
    assert "imported" not in result.stdout
    for table in (publishers, operating_systems, categories, products, product_prices):
        assert count(ctx, table) == 0, table.name


def test_catalog_import_failing_late_leaves_an_earlier_import_untouched(
    cli: Run, ctx: Context, tmp_path: Path
) -> None:
    assert cli("catalog", "import", str(write_json(tmp_path / "ok.json", TEST_CATALOG))).exit_code == 0

    def rename_then_break(data: dict[str, Any]) -> None:
        _product(data, 1001)["name"] = "Renamed"
        data["publishers"].append({"key": "new-pub", "name": "New"})
        _product(data, 1091)["option"]["eligibleRefs"] = [1001, 777]

    result = cli("catalog", "import", str(write_json(tmp_path / "bad.json", _with(rename_then_break))))
    assert result.exit_code == 1
    assert says(result, "option.eligibleRefs names unknown product refs [777]"), result.output
    with ctx.db.read() as conn:
        assert conn.execute(select(products.c.name).where(products.c.ref == 1001)).scalar_one() == "Serial and files"
    assert count(ctx, publishers) == 1


def test_catalog_import_of_a_missing_file(cli: Run, tmp_path: Path) -> None:
    result = cli("catalog", "import", str(tmp_path / "nope.json"))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert says(result, "error:", "nope.json", "No such file"), result.output


# ---------------------------------------------------------------- stock import


def test_stock_import_skips_duplicates_and_blank_lines_and_reads_crlf(
    cli: Run, ctx: Context, world: World, tmp_path: Path
) -> None:
    file = tmp_path / "serials.txt"
    file.write_bytes(b"NEW-1\r\nNEW-2\r\nNEW-1\r\n\r\n   \r\nS1001-0000\r\n  NEW-3  \r\n\n\tNEW-4")
    result = cli("stock", "import", "1001", str(file))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "4 serials added, 2 duplicates skipped"
    stored = serial_values(ctx, 1001)
    assert len(stored) == 24
    assert set(stored) == set(world.serials[1001]) | {"NEW-1", "NEW-2", "NEW-3", "NEW-4"}
    assert count(ctx, serials, serials.c.value.like("%\r%")) == 0

    # the same file again: all of it is a duplicate now, nothing is added
    again = cli("stock", "import", "1001", str(file))
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "0 serials added, 6 duplicates skipped"
    assert len(serial_values(ctx, 1001)) == 24


def test_stock_import_counts_over_long_lines(cli: Run, ctx: Context, world: World, tmp_path: Path) -> None:
    file = tmp_path / "serials.txt"
    file.write_text("X" * 501 + "\n" + "Y" * 500 + "\n", encoding="utf-8")
    result = cli("stock", "import", "1003", str(file))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1 serials added, 0 duplicates skipped, 1 rejected (over 500 characters)"
    assert "Y" * 500 in serial_values(ctx, 1003) and len(serial_values(ctx, 1003)) == 6


@pytest.mark.parametrize(("ref", "fragment"), [
    ("999999", "no product with ref 999999"),
    ("1002", "product 1002 does not draw serials from a pool (serialSource=none)"),
])
def test_stock_import_refuses_unknown_products_and_products_without_a_pool(
    cli: Run, ctx: Context, world: World, tmp_path: Path, ref: str, fragment: str
) -> None:
    file = tmp_path / "serials.txt"
    file.write_text("K-1\nK-2\n", encoding="utf-8")
    before = count(ctx, serials)
    result = cli("stock", "import", ref, str(file))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert says(result, "error:", fragment), result.output
    assert "added" not in result.stdout
    assert count(ctx, serials) == before


@pytest.mark.parametrize(("content", "fragment"), [
    (b"serial\nNEW-1\nNEW-2\n", "1 bad line (line 1: header 'serial')"),
    (b"\r\nLicence key\r\nNEW-1\r\n", "1 bad line (line 2: header 'Licence key')"),
    (b"NEW-1\nNEW-2,Pro,EUR\nNEW-3;x\nNEW-4\tx\nNEW-5|x\n",
     "4 bad lines (line 2: separator ','; line 3: separator ';'; line 4: separator '\\t'; line 5: separator '|')"),
    (b"NEW-1\nNEW-\xff\xfe2\nNEW-3\n", "1 bad line (line 2: not UTF-8)"),
    (b"code\n" + b"".join(b"NEW-%d\n" % i for i in range(50)) + b"a,b\n" * 9,
     "10 bad lines (line 1: header 'code'; line 52: separator ','; line 53: separator ','; "
     "line 54: separator ','; line 55: separator ',' and 5 more)"),
])
def test_stock_import_refuses_a_bad_file_whole_with_its_line_numbers(
    cli: Run, ctx: Context, world: World, tmp_path: Path, content: bytes, fragment: str
) -> None:
    file = tmp_path / "serials.txt"
    file.write_bytes(content)
    before = count(ctx, serials)
    result = cli("stock", "import", "1001", str(file))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert says(result, "error: file refused, nothing imported: " + fragment), result.output
    assert "added" not in result.stdout
    assert count(ctx, serials) == before  # the good lines were not imported either


def test_stock_import_of_a_missing_file(cli: Run, world: World, tmp_path: Path) -> None:
    result = cli("stock", "import", "1001", str(tmp_path / "none.txt"))
    assert result.exit_code == 1
    assert says(result, "error:", "none.txt: no such file"), result.output


# ---------------------------------------------------------------- stock report


def test_stock_report_after_an_order_and_a_cancellation(cli: Run, ctx: Context, world: World) -> None:
    shop = caller(ctx, world.a.realm, world.a.client_secret, world.a.secret)
    order_service.submit_order(ctx, shop, order_body("R-1", (1001, 2), (1003, 1)))
    order_service.submit_order(ctx, shop, order_body("R-2", (1001, 1), (1005, 1)))
    order_service.cancel_order(ctx, shop, "R-2", 3, "test")

    result = cli("stock", "report", "--json")
    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)
    assert [line["ref"] for line in lines] == [1001, 1002, 1003, 1004, 1005, 1090, 1091]
    by_ref = {line["ref"]: line for line in lines}
    assert by_ref[1001] == {"ref": 1001, "name": "Serial and files", "serial_source": "pool",
                            "available": 17, "assigned": 2, "revoked": 1}
    assert (by_ref[1003]["available"], by_ref[1003]["assigned"], by_ref[1003]["revoked"]) == (4, 1, 0)
    assert (by_ref[1005]["available"], by_ref[1005]["assigned"], by_ref[1005]["revoked"]) == (9, 0, 1)
    assert (by_ref[1002]["serial_source"], by_ref[1002]["available"]) == ("none", 0)

    table = cli("stock", "report")
    assert table.exit_code == 0, table.output
    rows = {}
    for text in table.stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", text) if c.strip()]
        if cells and cells[0].isdigit():
            rows[int(cells[0])] = cells
    assert rows[1001] == ["1001", "Serial and files", "pool", "17", "2", "1"]
    assert rows[1005][3:] == ["9", "0", "1"]
    assert sorted(rows) == [1001, 1002, 1003, 1004, 1005, 1090, 1091]


# ---------------------------------------------------------------- merchants


def _secrets(result: Result) -> tuple[str, dict[str, tuple[str, int]]]:
    client = re.search(r"clientSecret\s+(\S+)", result.stdout)
    assert client, result.output
    found = re.findall(r"catalogue (\w{3}) secret (\S+) \((\d+) products\)", result.stdout)
    return client.group(1), {currency: (secret, int(n)) for currency, secret, n in found}


def test_merchant_create_prints_working_secrets_once(cli: Run, ctx: Context) -> None:
    import_catalog(ctx, TEST_CATALOG)
    result = cli("merchant", "create", "new-shop", "--name", "New Shop", "--currency", "EUR", "--currency", "usd")
    assert result.exit_code == 0, result.output
    assert "new-shop" in result.stdout
    client_secret, cats = _secrets(result)
    assert sorted(cats) == ["EUR", "USD"]
    assert cats["EUR"][1] == cats["USD"][1] == 7  # all products by default
    assert len({client_secret, cats["EUR"][0], cats["USD"][0]}) == 3

    eur = caller(ctx, "new-shop", client_secret, cats["EUR"][0])
    usd = caller(ctx, "new-shop", client_secret, cats["USD"][0])
    assert (eur.currency, usd.currency) == ("EUR", "USD")
    assert eur.merchant_id == usd.merchant_id and eur.catalog_id != usd.catalog_id
    with pytest.raises(iam.Unauthorized):
        iam.issue_tokens(ctx, "new-shop", cats["EUR"][0])

    with ctx.db.read() as conn:  # stored hashed only
        merchant = conn.execute(select(merchants).where(merchants.c.realm == "new-shop")).one()
        stored = [*merchant, *(v for row in conn.execute(select(catalogs)).all() for v in row)]
    assert merchant.name == "New Shop"
    assert not {client_secret, cats["EUR"][0], cats["USD"][0]} & {str(v) for v in stored}

    # a second creation of the realm is refused, changes nothing and shows no secret
    duplicate = cli("merchant", "create", "new-shop", "--currency", "GBP")
    assert duplicate.exit_code == 1
    assert isinstance(duplicate.exception, SystemExit)
    assert says(duplicate, "error:", "merchant 'new-shop' exists already"), duplicate.output
    assert "clientSecret" not in duplicate.stdout
    assert count(ctx, merchants, merchants.c.realm == "new-shop") == 1
    assert count(ctx, catalogs, catalogs.c.sandbox.is_(False)) == 2  # each with its sandbox twin
    iam.issue_tokens(ctx, "new-shop", client_secret)  # the original secret still works


def test_merchant_create_with_a_product_subset(cli: Run, ctx: Context) -> None:
    import_catalog(ctx, TEST_CATALOG)
    result = cli("merchant", "create", "small", "--currency", "EUR", "--products", "1001,1003")
    assert result.exit_code == 0, result.output
    client_secret, cats = _secrets(result)
    assert cats["EUR"][1] == 2
    eur = caller(ctx, "small", client_secret, cats["EUR"][0])
    with ctx.db.read() as conn:
        refs = conn.execute(
            select(products.c.ref).join(catalog_products, catalog_products.c.product_id == products.c.id)
            .where(catalog_products.c.catalog_id == eur.catalog_id).order_by(products.c.ref)
        ).scalars().all()
    assert refs == [1001, 1003]


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--currency", "XYZ"], "'XYZ' is not an ISO 4217 currency"),
    (["--currency", "EUR", "--products", "1001,999"], "unknown product refs: [999]"),
    (["--currency", "EUR", "--currency", "USD", "--products", "1003"], "no USD price for product refs: [1003]"),
])
def test_merchant_create_that_fails_creates_no_merchant(
    cli: Run, ctx: Context, extra: list[str], fragment: str
) -> None:
    """All or nothing: a merchant whose secret was never shown would be unusable, and its realm taken."""
    import_catalog(ctx, TEST_CATALOG)
    result = cli("merchant", "create", "half-made", *extra)
    assert result.exit_code == 1
    assert says(result, "error:", fragment), result.output
    assert "clientSecret" not in result.stdout
    assert count(ctx, merchants, merchants.c.realm == "half-made") == 0
    retry = cli("merchant", "create", "half-made", "--currency", "EUR")
    assert retry.exit_code == 0, retry.output


def test_merchant_add_catalog(cli: Run, ctx: Context, world: World) -> None:
    add_prices(ctx, "GBP", 1001, 1003)
    result = cli("merchant", "add-catalog", world.a.realm, "gbp", "--products", "1001,1003")
    assert result.exit_code == 0, result.output
    found = re.search(r"catalogue GBP secret (\S+) \(2 products\)", result.stdout)
    assert found, result.output
    gbp = caller(ctx, world.a.realm, world.a.client_secret, found.group(1))
    assert gbp.currency == "GBP"
    with ctx.db.read() as conn:
        name = conn.execute(select(catalogs.c.name).where(catalogs.c.id == gbp.catalog_id)).scalar_one()
    assert name == f"{world.a.realm} GBP"


@pytest.mark.parametrize(("args", "fragment"), [
    (["shop-a", "EUR", "--products", "1001,999"], "unknown product refs: [999]"),
    (["shop-a", "GBP", "--products", "1001,1002"], "no GBP price for product refs: [1001, 1002]"),
    (["ghost", "EUR"], "no merchant 'ghost'"),
    (["shop-a", "XYZ"], "'XYZ' is not an ISO 4217 currency"),
    (["shop-a", "EUR", "--products", "1001,abc"], "abc"),
])
def test_merchant_add_catalog_refusals(cli: Run, ctx: Context, world: World, args: list[str], fragment: str) -> None:
    before = count(ctx, catalogs)
    result = cli("merchant", "add-catalog", *args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # a message, not a traceback
    assert says(result, "error:", fragment), result.output
    assert "secret" not in result.stdout
    assert count(ctx, catalogs) == before


def test_merchant_remove_catalog_only_without_orders_and_audited(cli: Run, ctx: Context, world: World) -> None:
    from resell.domain.codes import Refusal
    from resell.services import feeds

    feeds.configure(ctx, "shop-a", "USD", "acme", "main")
    usd = caller(ctx, "shop-a", world.a.client_secret, world.a.other_secret)
    eur = caller(ctx, "shop-a", world.a.client_secret, world.a.secret)
    order_service.submit_order(ctx, eur, order_body("KEEP-1", (1002, 1)))
    before = count(ctx, catalogs, catalogs.c.sandbox.is_(False))

    unknown = cli("merchant", "remove-catalog", "shop-a", "nope")
    assert unknown.exit_code == 1
    assert says(unknown, "error:", f"merchant 'shop-a' has no catalogue 'nope': {eur.catalog_id} 'shop-a EUR', "
                f"{usd.catalog_id} 'shop-a USD'"), unknown.output
    with_orders = cli("merchant", "remove-catalog", "shop-a", "shop-a EUR")
    assert with_orders.exit_code == 1
    assert says(with_orders, "error:", "catalogue 'shop-a EUR' of merchant 'shop-a' has 1 order: not removed")
    assert count(ctx, catalogs, catalogs.c.sandbox.is_(False)) == before

    removed = cli("merchant", "remove-catalog", "shop-a", str(usd.catalog_id))  # by id
    assert removed.exit_code == 0, removed.output
    assert says(removed, "catalogue 'shop-a USD' of merchant 'shop-a' removed")
    assert count(ctx, catalogs, catalogs.c.sandbox.is_(False)) == before - 1  # and its sandbox with it
    for table in (catalog_products, feed_configs, catalog_changes):
        assert count(ctx, table, table.c.catalog_id == usd.catalog_id) == 0
    with pytest.raises(Refusal):  # its secret no longer names a catalogue
        caller(ctx, "shop-a", world.a.client_secret, world.a.other_secret)
    caller(ctx, "shop-a", world.a.client_secret, world.a.secret)  # the other one still works
    with ctx.db.read() as conn:
        row = conn.execute(select(audit_events.c.entity_id, audit_events.c.before).where(
            audit_events.c.action == "catalog_removed")).one()
    assert row.before == {"catalog": "shop-a USD", "id": usd.catalog_id, "currency": "USD"}
    assert row.entity_id == str(usd.merchant_id)


# ---------------------------------------------------------------- demo


def test_demo_seeds_once_then_prints_the_same_credentials(cli: Run, ctx: Context, cli_var: Path) -> None:
    first = cli("demo", "--serials", "30")
    assert first.exit_code == 0, first.output
    path = cli_var / "demo-credentials.json"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())

    # the shape the README's walkthrough relies on
    assert set(document) == {"baseUrl", "merchants", "backOffice"}
    assert document["baseUrl"] == BASE_URL
    back_office = document["backOffice"]
    assert back_office["url"] == BASE_URL + "/admin" and back_office["email"] == "admin@demo.test"
    checked = staff.check_password(ctx, back_office["email"], back_office["password"])
    assert checked is not None and checked.member.role == "admin" and not checked.needs_totp
    assert says(first, back_office["url"], back_office["password"])
    assert [m["realmName"] for m in document["merchants"]] == ["demo-shop", "other-shop"]
    for merchant in document["merchants"]:
        assert set(merchant) == {"realmName", "clientSecret", "catalogs"}
        assert merchant["catalogs"]
        for cat in merchant["catalogs"]:
            assert set(cat) == {"secret", "sandboxSecret", "currency", "productRefs"}
            assert cat["productRefs"] and all(isinstance(r, int) for r in cat["productRefs"])
            assert cat["productRefs"] == sorted(cat["productRefs"])
            # every secret works, and is printed: the live one and its sandbox's (docs/merchants.md)
            found = caller(ctx, merchant["realmName"], merchant["clientSecret"], cat["secret"])
            assert found.currency == cat["currency"] and not found.test
            assert cat["sandboxSecret"].startswith("test_")
            sandbox = caller(ctx, merchant["realmName"], merchant["clientSecret"], cat["sandboxSecret"])
            assert sandbox.test and sandbox.catalog_id == found.catalog_id
            assert says(first, merchant["clientSecret"], cat["secret"])
            assert says(first, f"catalogue {cat['currency']}: sandbox secret {cat['sandboxSecret']}")
    assert [c["currency"] for c in document["merchants"][0]["catalogs"]] == ["EUR", "USD"]
    assert 100004 in document["merchants"][0]["catalogs"][0]["productRefs"]

    snapshot = (count(ctx, merchants), count(ctx, catalogs), count(ctx, products), count(ctx, serials))
    assert snapshot[0] == 2

    second = cli("demo", "--serials", "30")
    assert second.exit_code == 0, second.output
    assert second.stdout == first.stdout  # the same credentials, printed again
    for merchant in document["merchants"]:
        assert says(second, merchant["realmName"], merchant["clientSecret"])
    assert (count(ctx, merchants), count(ctx, catalogs), count(ctx, products), count(ctx, serials)) == snapshot
    assert json.loads(path.read_text()) == document


def test_demo_content(cli: Run, ctx: Context) -> None:
    result = cli("demo", "--serials", "30")
    assert result.exit_code == 0, result.output
    with ctx.db.read() as conn:
        rows = conn.execute(select(products)).all()
        available = dict(conn.execute(
            select(serials.c.product_id, func.count()).where(serials.c.status == "available")
            .group_by(serials.c.product_id)
        ).all())
        prices: dict[int, set[str]] = {}
        for product_id, currency in conn.execute(select(product_prices.c.product_id, product_prices.c.currency)):
            prices.setdefault(product_id, set()).add(currency)
        eligible: dict[int, set[int]] = {}
        for option_id, product_id in conn.execute(select(option_eligibility)):
            eligible.setdefault(option_id, set()).add(product_id)
    by_ref = {row.ref: row for row in rows}

    last_five = by_ref[100004]
    assert last_five.serial_source == "pool" and available.get(last_five.id) == 5
    pooled = [row for row in rows if row.serial_source == "pool" and row.ref != 100004]
    assert len(pooled) >= 3
    assert all(available.get(row.id, 0) >= 30 for row in pooled)
    assert all(prices.get(row.id, set()) >= {"EUR", "USD"} for row in rows)
    assert any(row.release_date is not None and row.release_date > dt.date.today() for row in rows)
    assert any(row.subscription_period == "P1Y" for row in rows)

    base = {row.id for row in rows if row.type != "option"}
    for kind in ("download_extension", "backup_dvd"):
        options = [row for row in rows if row.type == "option" and row.option_kind == kind]
        assert options, kind
        for option in options:
            assert eligible.get(option.id), kind
            assert eligible[option.id] < base, kind  # some products only
    assert any(row.option_kind == "download_extension" and row.option_period for row in rows)


def test_demo_on_a_database_with_merchants_does_not_seed(cli: Run, ctx: Context, world: World) -> None:
    result = cli("demo")
    assert result.exit_code == 0, result.output
    assert says(result, "already holds merchants")
    assert count(ctx, products) == 7
    assert count(ctx, merchants) == 2
    assert count(ctx, products, products.c.ref == 100004) == 0
