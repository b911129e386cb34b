"""Product texts per language: the catalogue's `texts`, and what the end user reads of them in the
delivery email (through a real SMTP server), the locker (over HTTP) and getCrossUpSell."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from resell.config import Settings
from resell.db.tables import product_texts, products
from resell.services import delivery_mail
from resell.services import subscriptions as subscription_service
from resell.services.catalog_import import CatalogImportError, import_catalog
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import TEST_CATALOG, Merchant, World, order_body, settings_for
from tests.delivery_support import SmtpSink, free_port

FRENCH_REMARK = "Bonjour %FIRSTNAME% %LASTNAME%, installez <b>%GAMENAME%</b>. Commande %IDTRAN%."
TEXTS = {
    "fr": {"name": "Série et fichiers", "shortDescription": "Une série, des fichiers.", "remark": FRENCH_REMARK},
    "DE": {"name": "Seriennummer und Dateien"},  # a name only; keys are lower-cased
}


def catalogue_with_texts(texts: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(TEST_CATALOG)
    data["products"][0]["texts"] = TEXTS if texts is None else texts  # product 1001
    data["products"][2]["texts"] = {"fr": {"name": "Série seule", "shortDescription": "Rien qu’une série."}}  # 1003
    yearly = {"name": "Annuel", "remark": "Votre abonnement %GAMENAME%, commande %IDTRAN%."}
    data["products"][4]["texts"] = {"fr": yearly}  # 1005
    return data


def stored_texts(ctx: Context, ref: int) -> dict[str, tuple]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(product_texts)
            .join(products, products.c.id == product_texts.c.product_id)
            .where(products.c.ref == ref)
        ).all()
    return {r.language: (r.name, r.short_description, r.remark_template) for r in rows}


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp_port: int) -> Settings:
    return settings_for(
        tmp_path, db_url, smtp_host="127.0.0.1", smtp_port=smtp_port, mail_from="Shop <orders@shop.test>",
        smtp_timeout_seconds=30,
    )


@pytest.fixture
def sink(smtp_port: int) -> Iterator[SmtpSink]:
    server = SmtpSink(smtp_port)
    yield server
    server.stop()


@pytest.fixture
def texts(ctx: Context, world: World) -> None:
    import_catalog(ctx, catalogue_with_texts())


def create(shop: Merchant, pon: str, language: str, *lines: tuple[int, int]) -> dict[str, Any]:
    body = order_body(pon, *(lines or ((1001, 1),)))
    body["customer"]["language"] = language
    reply = shop.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the catalogue format


def test_the_import_stores_the_texts_per_language_and_a_reimport_replaces_them(ctx: Context, world: World) -> None:
    import_catalog(ctx, catalogue_with_texts())
    assert stored_texts(ctx, 1001) == {
        "fr": ("Série et fichiers", "Une série, des fichiers.", FRENCH_REMARK),
        "de": ("Seriennummer und Dateien", None, None),
    }
    import_catalog(ctx, catalogue_with_texts())  # the same file twice changes nothing
    assert set(stored_texts(ctx, 1001)) == {"fr", "de"}
    import_catalog(ctx, catalogue_with_texts({"it": {"remark": "Ciao %FIRSTNAME%"}}))
    assert stored_texts(ctx, 1001) == {"it": (None, None, "Ciao %FIRSTNAME%")}
    import_catalog(ctx, TEST_CATALOG)  # texts left out: none any more
    assert stored_texts(ctx, 1001) == {}


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ({"xx": {"name": "?"}}, "'xx' not an ISO 639-1 language code"),
        ({"fr_FR": {"name": "?"}}, "'fr_FR' not an ISO 639-1 language code"),
        ({"fr": {"name": "?"}, "FR": {"name": "!"}}, "a language is given twice"),
        ({"fr": {"nom": "?"}}, "products.0.texts.fr.nom: Extra inputs are not permitted"),
        ({"fr": {"name": ""}}, "products.0.texts.fr.name"),
    ],
)
def test_bad_texts_are_refused_with_their_path_and_nothing_is_written(
    ctx: Context, world: World, texts: dict[str, Any], message: str
) -> None:
    with pytest.raises(CatalogImportError) as refused:
        import_catalog(ctx, catalogue_with_texts(texts))
    assert message in str(refused.value)
    assert "products.0.texts" in str(refused.value)
    assert stored_texts(ctx, 1003) == {}  # the valid product of the same file was not imported either


# ---------------------------------------------------------------- what the end user reads


def test_the_french_email_carries_the_french_name_and_remark(
    ctx: Context, shop_a: Merchant, texts: None, sink: SmtpSink
) -> None:
    assert delivery_mail.set_every_order(ctx, "shop-a", "EUR", True) == 1
    order = create(shop_a, "TEXTS-FR", "fr_FR", (1001, 1), (1002, 1))
    number = order["orderNumber"]
    dispatcher.run_pass(ctx)
    (message,) = sink.messages
    assert message["Content-Language"] == "fr"
    assert message["Subject"] == f"Votre commande {number}\u00a0: Série et fichiers, Download only"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f"Bonjour Ada Lovelace, installez <b>Série et fichiers</b>. Commande {number}." in html
    assert f"Bonjour Ada Lovelace, installez Série et fichiers. Commande {number}." in text
    assert "Download only" in text  # no French name: the default
    for body in (text, html):
        assert "Hi Ada" not in body and "Serial and files" not in body
    # the Connect API's reply keeps the catalogue's default remark (its wire format has no language)
    assert order["orderLines"][0]["remark"] == f"Hi Ada Lovelace: Serial and files, order {number}"


def test_a_language_without_texts_reads_the_default(
    ctx: Context, shop_a: Merchant, texts: None, sink: SmtpSink
) -> None:
    assert delivery_mail.set_every_order(ctx, "shop-a", "EUR", True) == 1
    number = create(shop_a, "TEXTS-ES", "es_ES")["orderNumber"]
    dispatcher.run_pass(ctx)
    text = sink.messages[0].get_body(preferencelist=("plain",)).get_content()
    assert f"Hi Ada Lovelace: Serial and files, order {number}" in text
    number = create(shop_a, "TEXTS-DE", "de_DE")["orderNumber"]
    dispatcher.run_pass(ctx)
    text = sink.messages[1].get_body(preferencelist=("plain",)).get_content()
    assert "Seriennummer und Dateien" in text  # translated name ...
    assert f"Hi Ada Lovelace: Serial and files, order {number}" in text  # ... untranslated remark: the default


def test_the_renewal_email_carries_the_french_texts_too(
    ctx: Context, shop_a: Merchant, texts: None, sink: SmtpSink, clock
) -> None:  # type: ignore[no-untyped-def]
    assert delivery_mail.set_every_order(ctx, "shop-a", "EUR", True) == 1
    first = create(shop_a, "TEXTS-SUB", "fr_FR", (1005, 1))["orderNumber"]
    dispatcher.run_pass(ctx)
    clock.advance(days=366)
    assert subscription_service.renew_due(ctx).renewal_orders == ["TEXTS-SUB-1"]
    renewal = shop_a.call("GET", "/order/TEXTS-SUB-1").json()["orderNumber"]
    dispatcher.run_pass(ctx)
    assert len(sink.messages) == 2
    for message, number in zip(sink.messages, (first, renewal), strict=True):
        assert message["Content-Language"] == "fr" and message["Subject"].endswith("\u00a0: Annuel")
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert f"Votre abonnement Annuel, commande {number}." in text


def test_the_locker_shows_the_french_texts(ctx: Context, shop_a: Merchant, texts: None, http: httpx.Client) -> None:
    number = create(shop_a, "TEXTS-LOCKER", "fr_FR", (1001, 1), (1003, 1))["orderNumber"]
    signed_in = http.post("/locker", data={"orderNumber": str(number), "email": "buyer@example.com"})
    assert signed_in.status_code == 303
    page = http.get("/locker/order").text
    assert '<html lang="fr">' in page
    assert "<h2>Série et fichiers</h2>" in page and "<h2>Série seule</h2>" in page
    assert f"Bonjour Ada Lovelace, installez <b>Série et fichiers</b>. Commande {number}." in page
    assert "Serial and files" not in page and "Hi Ada" not in page


def test_cross_up_sell_names_the_products_in_the_requested_language(
    ctx: Context, shop_a: Merchant, texts: None
) -> None:
    def suggestions(language: str) -> dict[int, tuple[str, str]]:
        body = {"language": language, "products": [{"productRef": 1001, "quantity": 1}]}
        reply = shop_a.call("POST", "/order/crossupsell", body).json()
        return {s["ref"]: (s["name"], s["shortDescription"]) for s in reply["productsReturn"]}

    assert suggestions("FR")[1003] == ("Série seule", "Rien qu’une série.")
    assert suggestions("FR,EN")[1002] == ("Download only", "")  # no French texts: the default
    assert suggestions("EN")[1003] == ("Serial only", "")
