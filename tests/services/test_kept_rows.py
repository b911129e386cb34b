"""What the hot path keeps (db/kept.py): the catalogue row a secret opens (services/iam.py), the
files of an order's products (services/orders.py) and the products' stock statuses
(services/catalog.py). A kept value saves the query, a change made through this process shows at
once, one made elsewhere (here: by SQL behind the services' back, as another process's write looks
from this one) within RESELL_CACHE_SECONDS, and a kept catalogue row never refuses what the database
would let in."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from resell.db import kept
from resell.db.tables import catalogs, merchants, product_files, products, serials
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.secrets import hash_secret
from resell.services import catalog, delivery_mail, files, iam, sandbox
from resell.services import merchants as merchant_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, Merchant, World, order_body


class KeptClock:
    """The clock kept values expire by (db/kept.py), moved by the test instead of a sleep."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def kept_clock(monkeypatch: pytest.MonkeyPatch) -> KeptClock:
    moved = KeptClock()
    monkeypatch.setattr(kept, "_clock", moved)
    return moved


def keeping(ctx: Context, seconds: float) -> Context:
    return Context(db=ctx.db, settings=ctx.settings.model_copy(update={"cache_seconds": seconds}), clock=ctx.clock)


def token(ctx: Context, world: World) -> str:
    return iam.issue_tokens(ctx, world.a.realm, world.a.client_secret).access_token


def eur_catalog(ctx: Context, world: World) -> Any:
    with ctx.db.read() as conn:
        return conn.execute(select(catalogs).where(catalogs.c.secret_hash == hash_secret(world.a.secret))).one()


def refuses_the_secret(ctx: Context, bearer: str, secret: str) -> bool:
    """Whether authentication refuses `secret` as the contract says: 71, the secret is not valid."""
    with pytest.raises(Refusal) as refused:
        iam.authenticate(ctx, bearer, secret)
    return refused.value.code == codes.SECRET_NOT_VALID


def behind_the_services(ctx: Context, statement: Any) -> None:
    """A write as another process's looks from this one: nothing here is told of it, and it is
    committed on the engine, beside this process's units of work (`Database.write`), so not counted
    among their commits either (`Database.commits`)."""
    with ctx.db.engine.begin() as conn:
        conn.execute(statement)


class CountedLookups:
    """The secret lookup, counted; `during` runs in the middle of each one."""

    def __init__(self, real: Any, during: Any = None) -> None:
        self.real, self.during, self.calls = real, during, 0

    def first(self, conn: Any, **params: Any) -> Any:
        self.calls += 1
        row = self.real.first(conn, **params)
        if self.during is not None:
            self.during()
        return row


def test_a_kept_row_saves_the_query(ctx: Context, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = CountedLookups(iam._CATALOG_BY_SECRET)
    monkeypatch.setattr(iam, "_CATALOG_BY_SECRET", lookups)
    bearer = token(ctx, world)
    first = iam.authenticate(ctx, bearer, world.a.secret)
    for _ in range(5):
        assert iam.authenticate(ctx, bearer, world.a.secret) == first
    assert iam.caller_for_secret(ctx, world.a.secret) == first  # SOAP and the feed share the rows
    assert lookups.calls == 1
    with pytest.raises(Refusal) as refused:  # an unknown secret is looked up each time, never kept
        iam.authenticate(ctx, bearer, "not-a-secret")
    with pytest.raises(Refusal):
        iam.authenticate(ctx, bearer, "not-a-secret")
    assert refused.value.code == codes.SECRET_NOT_VALID
    assert lookups.calls == 3


def test_a_change_elsewhere_shows_once_the_kept_row_expires(ctx: Context, world: World, kept_clock: KeptClock) -> None:
    ctx = keeping(ctx, 0.5)
    bearer = token(ctx, world)
    iam.authenticate(ctx, bearer, world.a.secret)
    rotated = update(catalogs).where(catalogs.c.id == eur_catalog(ctx, world).id).values(secret_hash="rotated")
    behind_the_services(ctx, rotated)
    iam.authenticate(ctx, bearer, world.a.secret)  # kept: the old secret still opens, for those seconds
    kept_clock.advance(0.6)
    assert refuses_the_secret(ctx, bearer, world.a.secret)


def test_nothing_is_kept_at_zero_seconds(ctx: Context, world: World) -> None:
    ctx = keeping(ctx, 0)
    bearer = token(ctx, world)
    iam.authenticate(ctx, bearer, world.a.secret)
    behind_the_services(
        ctx, update(catalogs).where(catalogs.c.id == eur_catalog(ctx, world).id).values(secret_hash="x")
    )
    with pytest.raises(Refusal):
        iam.authenticate(ctx, bearer, world.a.secret)


def test_a_change_through_this_process_shows_at_once(ctx: Context, world: World) -> None:
    ctx = keeping(ctx, 60)
    bearer = token(ctx, world)
    iam.authenticate(ctx, bearer, world.a.secret)
    new = merchant_service.rotate_catalog_secret(ctx, world.a.realm, eur_catalog(ctx, world).name).secret
    assert refuses_the_secret(ctx, bearer, world.a.secret)
    iam.authenticate(ctx, bearer, new)
    assert iam.revoke_all_tokens(ctx, world.a.realm)
    with pytest.raises(iam.Unauthorized) as unauthorized:
        iam.authenticate(ctx, bearer, new)
    assert unauthorized.value.kind == iam.REVOKED


def test_a_kept_row_never_refuses_a_token_made_after_a_reset_elsewhere(ctx: Context, world: World) -> None:
    ctx = keeping(ctx, 60)
    old = token(ctx, world)
    iam.authenticate(ctx, old, world.a.secret)  # kept, with token generation 0
    behind_the_services(
        ctx,
        update(merchants)
        .where(merchants.c.realm == world.a.realm)
        .values(token_generation=merchants.c.token_generation + 1),
    )
    new = token(ctx, world)  # generation 1: the kept row would refuse it, the database lets it in
    assert iam.authenticate(ctx, new, world.a.secret).realm == world.a.realm
    with pytest.raises(iam.Unauthorized):  # and the row read again ends the old token at once
        iam.authenticate(ctx, old, world.a.secret)


def test_a_row_read_while_a_change_commits_is_not_kept(
    ctx: Context, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read may have seen the state before the change: keeping it would undo the forgetting."""
    ctx = keeping(ctx, 60)
    lookups = CountedLookups(iam._CATALOG_BY_SECRET, during=lambda: iam.forget_credentials(ctx.db))
    monkeypatch.setattr(iam, "_CATALOG_BY_SECRET", lookups)
    bearer = token(ctx, world)
    iam.authenticate(ctx, bearer, world.a.secret)
    iam.authenticate(ctx, bearer, world.a.secret)
    assert lookups.calls == 2


def test_a_catalogue_removed_here_is_refused_at_once(ctx: Context, world: World) -> None:
    ctx = keeping(ctx, 60)
    bearer = token(ctx, world)
    iam.authenticate(ctx, bearer, world.a.other_secret)  # the USD catalogue's row, kept
    merchant_service.remove_catalog(ctx, world.a.realm, f"{world.a.realm} USD")
    assert refuses_the_secret(ctx, bearer, world.a.other_secret)


def test_a_sandbox_secret_rotated_here_is_refused_at_once(ctx: Context, world: World) -> None:
    ctx = keeping(ctx, 60)
    bearer = token(ctx, world)
    assert iam.authenticate(ctx, bearer, world.a.sandbox_secret).test  # kept
    rotated = sandbox.provide_sandbox(ctx, eur_catalog(ctx, world).id)
    assert refuses_the_secret(ctx, bearer, world.a.sandbox_secret)
    assert not rotated.created and iam.authenticate(ctx, bearer, rotated.secret).test


def test_a_delivery_email_switched_here_shows_at_once(ctx: Context, world: World) -> None:
    ctx = keeping(ctx, 60)
    bearer = token(ctx, world)
    before = iam.authenticate(ctx, bearer, world.a.secret).delivery_email  # kept
    assert delivery_mail.set_every_order(ctx, world.a.realm, "EUR", not before) == 1
    assert iam.authenticate(ctx, bearer, world.a.secret).delivery_email is (not before)


# ---------------------------------------------------------------- the files of an order's products


def files_shown(shop: Merchant, pon: str) -> str:
    return json.dumps(shop.call("GET", f"/order/{pon}").json()["orderLines"][0]["files"])


def relabelled_elsewhere(ctx: Context, shop: Merchant, pon: str) -> None:
    """An order of product 1001, its file "Installer" shown, then relabelled "Renamed" behind the
    services: the order still shows "Installer" (kept), until something makes it read again."""
    assert shop.call("POST", "/order/new", order_body(pon, (1001, 1))).json()["responseCode"] == 0
    assert "Installer" in files_shown(shop, pon)
    relabelled = update(product_files).where(product_files.c.file_name == "setup.exe").values(label="Renamed")
    behind_the_services(ctx, relabelled)
    assert "Installer" in files_shown(shop, pon)  # kept: another process's change shows later


def test_an_orders_files_are_kept_and_a_file_attached_here_shows_at_once(
    ctx: Context, shop_a: Merchant, tmp_path: Path
) -> None:
    relabelled_elsewhere(ctx, shop_a, "FILES-1")
    (tmp_path / "manual.pdf").write_bytes(b"%PDF-1.4 the manual")
    files.add_file(ctx, 1001, tmp_path / "manual.pdf", label="User manual")
    shown = files_shown(shop_a, "FILES-1")  # a change through this process: read again at once
    assert "User manual" in shown and "Renamed" in shown and "Installer" not in shown


def test_an_orders_files_follow_a_change_elsewhere_once_expired(
    ctx: Context, shop_a: Merchant, kept_clock: KeptClock
) -> None:
    relabelled_elsewhere(ctx, shop_a, "FILES-2")
    kept_clock.advance(ctx.settings.cache_seconds + 0.1)
    assert "Renamed" in files_shown(shop_a, "FILES-2")


def test_an_orders_files_follow_a_catalogue_imported_here_at_once(ctx: Context, shop_a: Merchant) -> None:
    relabelled_elsewhere(ctx, shop_a, "FILES-3")
    imported = copy.deepcopy(TEST_CATALOG)
    assert imported["products"][0]["files"][0]["fileName"] == "setup.exe"
    imported["products"][0]["files"][0]["label"] = "Imported"
    import_catalog(ctx, imported)
    assert "Imported" in files_shown(shop_a, "FILES-3")


# ---------------------------------------------------------------- stock statuses


def status_of_1001(ctx: Context, world: World) -> int | None:
    [item] = catalog.stock_statuses(ctx, iam.caller_for_secret(ctx, world.a.secret), [1001])
    return item.status


def sold_out_by_another_process(ctx: Context) -> None:
    """Every serial of 1001 taken by another process."""
    of_1001 = select(products.c.id).where(products.c.ref == 1001).scalar_subquery()
    behind_the_services(ctx, update(serials).where(serials.c.product_id == of_1001).values(status="assigned"))


def any_write_of_this_process(ctx: Context, world: World) -> None:
    """A write of this process that changes no stock: a stock status outlives none."""
    with ctx.db.write() as conn:
        conn.execute(
            update(merchants)
            .where(merchants.c.realm == world.a.realm)
            .values(token_generation=merchants.c.token_generation)
        )


def test_a_stock_status_is_kept_until_this_process_commits_a_write(
    ctx: Context, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = keeping(ctx, 60)
    lookups = CountedLookups(catalog._STOCK_PRODUCT)
    monkeypatch.setattr(catalog, "_STOCK_PRODUCT", lookups)
    assert status_of_1001(ctx, world) == 100
    assert status_of_1001(ctx, world) == 100
    assert lookups.calls == 1
    sold_out_by_another_process(ctx)
    assert status_of_1001(ctx, world) == 100  # kept: another process's sale shows later
    any_write_of_this_process(ctx, world)
    assert status_of_1001(ctx, world) == 300
    assert lookups.calls == 2
    items = catalog.stock_statuses(ctx, iam.caller_for_secret(ctx, world.a.secret), [999_999, 999_999])
    assert [item.code for item in items] == [codes.PRODUCT_NOT_FOUND] * 2  # an unknown product is never kept
    assert lookups.calls == 3


def test_a_stock_change_elsewhere_shows_once_the_status_expires(
    ctx: Context, world: World, kept_clock: KeptClock
) -> None:
    ctx = keeping(ctx, 0.5)
    assert status_of_1001(ctx, world) == 100
    sold_out_by_another_process(ctx)
    assert status_of_1001(ctx, world) == 100
    kept_clock.advance(0.6)
    assert status_of_1001(ctx, world) == 300


def test_a_status_read_while_a_write_commits_is_not_kept(
    ctx: Context, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read may have seen the stock before that write: the count of commits is taken before it."""
    ctx = keeping(ctx, 60)
    lookups = CountedLookups(catalog._STOCK_PRODUCT, during=lambda: any_write_of_this_process(ctx, world))
    monkeypatch.setattr(catalog, "_STOCK_PRODUCT", lookups)
    status_of_1001(ctx, world)
    status_of_1001(ctx, world)
    assert lookups.calls == 2


def test_an_order_taken_here_shows_in_the_stock_status_at_once(shop_a: Merchant) -> None:
    def status() -> int:
        return int(shop_a.call("POST", "/stock", {"productRefs": [1001]}).json()["productStatus"][0]["status"])

    assert status() == 100
    assert shop_a.call("POST", "/order/new", order_body("STOCK-KEPT-1", (1001, 17))).json()["responseCode"] == 0
    assert status() == 200  # 3 of 20 left: at the threshold
    assert shop_a.call("POST", "/order/new", order_body("STOCK-KEPT-2", (1001, 3))).json()["responseCode"] == 0
    assert status() == 300
