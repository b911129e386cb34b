"""Feed configurations and fetches (resell.services.feeds): chunks, and when a fetch counts as done."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from resell.db.tables import feed_configs
from resell.domain.codes import Refusal
from resell.services import feeds, merchants
from resell.services.merchants import MerchantError
from tests.conftest import World


def last_fetch(ctx, config_id: int):  # type: ignore[no-untyped-def]
    with ctx.db.read() as conn:
        return conn.execute(select(feed_configs.c.last_fetch_at).where(feed_configs.c.id == config_id)).scalar_one()


def test_configure_creates_then_changes_a_configuration(ctx, world: World) -> None:
    made = feeds.configure(ctx, "shop-a", "eur", " acme ", "main")
    assert (made.catalog_name, made.currency, made.provider, made.name, made.format, made.language) == (
        "shop-a EUR",
        "EUR",
        "acme",
        "main",
        "xml",
        "en",
    )
    again = feeds.configure(ctx, "shop-a", "EUR", "acme", "main", "CSV", "FR")
    assert (again.id, again.format, again.language) == (made.id, "csv", "fr")
    feeds.configure(ctx, "shop-a", "USD", "acme", "main")
    assert [(f.currency, f.format) for f in feeds.list_configs(ctx, "shop-a")] == [("EUR", "csv"), ("USD", "xml")]
    assert feeds.list_configs(ctx, "shop-b") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("shop-a", "EUR", "acme", "main", "json"), "format must be one of xml, csv"),
        (("shop-a", "EUR", "acme", "main", "xml", "english"), "ISO 639-1"),
        (("shop-a", "GBP", "acme", "main"), "no GBP catalogue"),
        (("nobody", "EUR", "acme", "main"), "no EUR catalogue"),
        (("shop-a", "EUR", "", "main"), "1 to 100 characters"),
        (("shop-a", "EUR", "acme", "x" * 101), "1 to 100 characters"),
    ],
)
def test_configure_refuses_operator_mistakes(ctx, world: World, args, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MerchantError, match=message):
        feeds.configure(ctx, *args)


def test_a_merchant_with_two_catalogues_in_one_currency_must_be_told_which(ctx, world: World) -> None:
    merchants.add_catalog(ctx, "shop-b", merchants.CatalogSpec("shop-b EUR 2", "EUR"))
    with pytest.raises(MerchantError, match="has 2 EUR catalogues"):
        feeds.configure(ctx, "shop-b", "EUR", "acme", "main")


def test_products_come_in_chunks_in_ref_order(ctx, world: World, monkeypatch) -> None:
    monkeypatch.setattr(feeds, "CHUNK", 3)
    feeds.configure(ctx, "shop-a", "EUR", "acme", "main")
    feed = feeds.open_feed(ctx, world.a.secret, "acme", "main", None)
    chunks = [[p.ref for p in chunk] for chunk in feed.chunks()]
    assert chunks == [[1001, 1002, 1003], [1004, 1005, 1090], [1091]]


def test_only_a_complete_fetch_moves_the_last_fetch(ctx, world: World, clock, monkeypatch) -> None:
    monkeypatch.setattr(feeds, "CHUNK", 2)
    config = feeds.configure(ctx, "shop-a", "EUR", "acme", "main")
    interrupted = feeds.open_feed(ctx, world.a.secret, "acme", "main", "last").chunks()
    assert len(next(interrupted)) == 2
    interrupted.close()  # the client went away
    assert last_fetch(ctx, config.id) is None

    started = clock.now
    feed = feeds.open_feed(ctx, world.a.secret, "acme", "main", "last")
    clock.advance(minutes=3)  # the fetch takes a while: it counts from when it started
    assert sum(len(chunk) for chunk in feed.chunks()) == 7
    assert feed.fetched and last_fetch(ctx, config.id) == feed.generated_at == started


def test_open_feed_refusals(ctx, world: World) -> None:
    feeds.configure(ctx, "shop-a", "EUR", "acme", "main")

    def code(*args: str | None) -> int:
        with pytest.raises(Refusal) as refused:
            feeds.open_feed(ctx, *args)
        return refused.value.code

    assert code(None, "acme", "main", None) == 70
    assert code("x", "acme", "main", None) == 71
    assert code(world.a.secret, " ", "main", None) == 100
    assert code(world.a.secret, "acme", None, None) == 110
    assert code(world.a.secret, "other", "main", None) == 1010
    assert code(world.a.secret, "acme", "main", "2026-02-30") == 121
