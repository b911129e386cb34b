"""`resell feed configure | list` and `resell merchant products`, through Typer's CliRunner."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from click.testing import Result

from resell.config import Settings
from resell.services import feeds
from tests.conftest import World, add_prices, run_cli

Run = Callable[..., Result]


@pytest.fixture
def cli(settings: Settings, tmp_path) -> Iterator[Run]:  # type: ignore[no-untyped-def]
    env: dict[str, str | None] = {
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_VAR_DIR": str(tmp_path / "cli-var"),
        "RESELL_PUBLIC_BASE_URL": "http://cli.test",
    }

    yield lambda *args: run_cli(env, *args)


def flat(result: Result) -> str:
    return "".join((result.stdout + result.stderr).split())


def test_feed_configure_prints_the_url_and_list_shows_it(cli: Run, ctx, world: World) -> None:
    made = cli(
        "feed", "configure", "shop-a", "--currency", "EUR", "--provider", "acme", "--config", "daily", "--format", "csv"
    )
    assert made.exit_code == 0, made.output
    assert "http://cli.test/flow/getcatalog/v2.4/?secret=SECRET&provider=acme&config=daily" in flat(made)
    (config,) = feeds.list_configs(ctx, "shop-a")
    assert (config.currency, config.provider, config.name, config.format) == ("EUR", "acme", "daily", "csv")
    listed = cli("feed", "list", "shop-a")
    assert listed.exit_code == 0 and "daily" in listed.stdout and "never" in listed.stdout


def test_feed_configure_refuses_a_bad_format_or_catalogue(cli: Run, world: World) -> None:
    bad = cli("feed", "configure", "shop-a", "--currency", "EUR", "--provider", "p", "--config", "c", "--format", "pdf")
    assert bad.exit_code == 1 and "formatmustbeoneofxml,csv" in flat(bad)
    none = cli("feed", "configure", "shop-a", "--currency", "JPY", "--provider", "p", "--config", "c")
    assert none.exit_code == 1 and "noJPYcatalogue" in flat(none)


def test_merchant_products_adds_and_removes(cli: Run, ctx, world: World) -> None:
    refused = cli("merchant", "products", "shop-a", "USD", "--add", "1001,1003", "--remove", "1002")
    assert refused.exit_code == 1 and "error:noUSDpriceforproductrefs:[1001,1003]" in flat(refused)
    add_prices(ctx, "USD", 1001, 1003)
    done = cli("merchant", "products", "shop-a", "USD", "--add", "1001,1003", "--remove", "1002")
    assert done.exit_code == 0, done.output
    assert "added[1001,1003],removed[1002]" in flat(done)
    again = cli("merchant", "products", "shop-a", "USD", "--add", "1001")
    assert "addednothing,removednothing" in flat(again)
    unknown = cli("merchant", "products", "shop-a", "USD", "--remove", "42")
    assert unknown.exit_code == 1 and "unknownproductrefs:[42]" in flat(unknown)


def test_merchant_products_names_the_catalogue_when_the_currency_has_two(cli: Run, ctx, world: World) -> None:
    from resell.services import merchants

    merchants.add_catalog(ctx, "shop-a", merchants.CatalogSpec("shop-a EUR 2", "EUR", [1003]))
    ambiguous = cli("merchant", "products", "shop-a", "EUR", "--add", "1001")
    assert ambiguous.exit_code == 1
    assert "merchant'shop-a'has2EURcatalogues:" in flat(ambiguous), ambiguous.output
    assert "'shop-aEUR','shop-aEUR2'" not in flat(ambiguous) and "'shop-aEUR2';nameone" in flat(ambiguous)
    chosen = cli("merchant", "products", "shop-a", "EUR", "--catalog", "shop-a EUR 2", "--add", "1001")
    assert chosen.exit_code == 0, chosen.output
    assert "added[1001],removednothing" in flat(chosen)
    missing = cli("merchant", "products", "shop-a", "EUR", "--catalog", "nope", "--add", "1001")
    assert missing.exit_code == 1 and "noEURcatalogue'nope'" in flat(missing)
