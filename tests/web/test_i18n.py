"""Every end-user surface in the customer's language: the catalogues, the choice of language, and the
locker, download pages and delivery email rendered in each of the ten languages (a real Chromium)."""

from __future__ import annotations

import copy
import datetime as dt
import html as html_module
import io
import os
import re
from pathlib import Path

import httpx
import pytest
from babel.dates import format_date
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from playwright.sync_api import Browser
from sqlalchemy import select, update

from resell import i18n
from resell.db.tables import order_lines, product_files
from resell.services import branding, delivery_mail
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.services.order_contents import file_title
from tests.conftest import TEST_CATALOG, Merchant, World, order_body
from tests.delivery_support import attach

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "resell" / "locale"
SIZE = 20_000_000  # 19.1 MiB

# one known sentence per language: (sign-in heading, order heading, cancelled notice, 404 heading, email intro)
KNOWN = {
    "en": (
        "Your digital locker",
        "Order {n}",
        "This order was cancelled on",
        "Page not found",
        "Thank you for your order.",
    ),
    "fr": (
        "Votre espace de téléchargement",
        "Commande {n}",
        "Cette commande a été annulée le",
        "Page introuvable",
        "Merci pour votre commande.",
    ),
    "de": (
        "Ihr Download-Bereich",
        "Bestellung {n}",
        "Diese Bestellung wurde am",
        "Seite nicht gefunden",
        "Vielen Dank für Ihre Bestellung.",
    ),
    "es": (
        "Su área de descargas",
        "Pedido {n}",
        "Este pedido se canceló el",
        "Página no encontrada",
        "Gracias por su pedido.",
    ),
    "it": (
        "La tua area download",
        "Ordine {n}",
        "Questo ordine è stato annullato il",
        "Pagina non trovata",
        "Grazie per il tuo ordine.",
    ),
    "pt": (
        "Sua área de downloads",
        "Pedido {n}",
        "Este pedido foi cancelado em",
        "Página não encontrada",
        "Obrigado pelo seu pedido.",
    ),
    "nl": (
        "Je downloadomgeving",
        "Bestelling {n}",
        "Deze bestelling is op",
        "Pagina niet gevonden",
        "Bedankt voor je bestelling.",
    ),
    "pl": (
        "Twoja strefa pobierania",
        "Zamówienie {n}",
        "To zamówienie zostało anulowane",
        "Nie znaleziono strony",
        "Dziękujemy za zamówienie.",
    ),
    "sv": (
        "Din nedladdningssida",
        "Order {n}",
        "Den här ordern avbröts den",
        "Sidan hittades inte",
        "Tack för din beställning.",
    ),
    "ja": (
        "ダウンロードページ",
        "ご注文 {n}",
        "このご注文は",
        "ページが見つかりません",
        "ご注文いただきありがとうございます。",
    ),
}
SIZES = {
    "en": "19.1 MB",
    "fr": "19,1\u202fMo",
    "de": "19,1 MB",
    "es": "19,1 MB",
    "it": "19,1 MB",
    "pt": "19,1 MB",
    "nl": "19,1 MB",
    "pl": "19,1 MB",
    "sv": "19,1 MB",
    "ja": "19.1 MB",
}
# the products' own texts in the languages of the screenshots (the catalogue's `texts`): (name, remark)
PRODUCT_TEXTS = {
    "fr": ("Série et fichiers", "Bonjour %FIRSTNAME%, installez %GAMENAME% puis saisissez votre numéro de série."),
    "de": ("Seriennummer und Dateien", "Hallo %FIRSTNAME%, installieren Sie %GAMENAME% und geben Sie die Nummer ein."),
    "ja": ("シリアルとファイル", "%FIRSTNAME% 様、%GAMENAME% をインストールし、シリアル番号を入力してください。"),
}
REGION = {
    "en": "en_US",
    "fr": "fr_FR",
    "de": "de_DE",
    "es": "es_ES",
    "it": "it_IT",
    "pt": "pt_BR",
    "nl": "nl_NL",
    "pl": "pl_PL",
    "sv": "sv_SE",
    "ja": "ja_JP",
}


def catalogue(lang: str):  # type: ignore[no-untyped-def]
    with (LOCALE / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=lang)


# ---------------------------------------------------------------- the catalogues


def test_the_languages_have_a_catalogue_each_and_nothing_else() -> None:
    assert sorted(p.name for p in LOCALE.iterdir() if p.is_dir()) == sorted(i18n.LANGUAGES)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_catalogue_is_complete_and_compiles(lang: str) -> None:
    cat = catalogue(lang)
    assert not cat.fuzzy
    for message in cat:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{lang}: untranslated {message.id!r}"
        assert not message.fuzzy, f"{lang}: fuzzy {message.id!r}"
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(re.findall(r"%\((\w+)\)s", " ".join(ids)))
        for string in strings:  # the same placeholders (a plural may leave out the count)
            found = set(re.findall(r"%\((\w+)\)s", string))
            assert found == wanted or (found == wanted - {"count"} and "count" in wanted), (lang, message.id, string)
        assert not list(message.check(cat)), (lang, message.id)
    out = io.BytesIO()
    write_mo(out, cat)
    assert out.getvalue()
    assert i18n.translations(lang).gettext("Order number") != "" and i18n.display_name(lang)


def test_every_sentence_of_the_code_and_templates_is_in_the_catalogues() -> None:
    """The extraction is up to date (`make translations` was run): what babel.cfg extracts today is
    exactly what every catalogue holds."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    extracted = {message for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map)}
    extracted = {m if isinstance(m, str) else tuple(m)[:2] for m in extracted}
    assert len(extracted) > 40
    for lang in i18n.LANGUAGES:
        held = {m.id for m in catalogue(lang) if m.id}
        assert held == extracted, (lang, extracted - held, held - extracted)


def test_french_puts_a_no_break_space_before_double_punctuation() -> None:
    for message in catalogue("fr"):
        if not message.id:
            continue
        for string in message.string if isinstance(message.string, tuple) else (message.string,):
            assert not re.search(r"(^|[^\u00a0\u202f])[:;!?](\s|$)", string.replace("://", "")), string
            assert "casier" not in string


def test_a_file_link_names_its_platform_once() -> None:
    assert file_title("Windows installer", "Windows") == "Windows installer"
    assert file_title("Installer", "macOS") == "Installer (macOS)"
    assert file_title("Manual", "") == "Manual"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-CH, fr;q=0.5", "de"),
        ("en-US,en;q=0.9,fr;q=0.8", "en"),
        ("zh-CN, ja;q=0.4", "ja"),
        ("fr;q=0.2, pt-BR;q=0.9", "pt"),
        ("xx, *", None),
        ("", None),
    ],
)
def test_accept_language_negotiation(header: str, expected: str | None) -> None:
    assert i18n.negotiate(header) == expected


# ---------------------------------------------------------------- over HTTP


def new_order(shop: Merchant, pon: str, language: str, *lines: tuple[int, int]) -> dict:
    body = order_body(pon, *(lines or ((1001, 1),)))
    body["customer"]["language"] = language
    reply = shop.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


def html_lang(text: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', text)
    assert match, text[:200]
    return match.group(1)


def sign_in(http: httpx.Client, number: int, lang: str = "") -> httpx.Response:
    return http.post("/locker", data={"orderNumber": str(number), "email": "buyer@example.com", "lang": lang})


def test_accept_language_decides_before_sign_in(http: httpx.Client) -> None:
    assert html_lang(http.get("/locker", headers={"Accept-Language": "de-DE,de;q=0.9"}).text) == "de"
    assert html_lang(http.get("/locker", headers={"Accept-Language": "zh-TW"}).text) == "en"
    assert html_lang(http.get("/locker").text) == "en"
    missing = http.get("/locker/nothing-here", headers={"Accept-Language": "ja"})
    assert missing.status_code == 404 and html_lang(missing.text) == "ja" and "ページが見つかりません" in missing.text


def test_the_orders_language_beats_accept_language(shop_a: Merchant, http: httpx.Client, world: World) -> None:
    number = new_order(shop_a, "I18N-ORDER", "fr_FR")["orderNumber"]
    german = {"Accept-Language": "de"}
    # before sign-in the order's language would tell whether the order exists: the browser's decides
    assert html_lang(http.get(f"/locker?order={number}", headers=german).text) == "de"
    assert html_lang(http.get(f"/locker?order={number + 999}", headers=german).text) == "de"  # no such order
    form = http.get(f"/locker?order={number}&lang=fr", headers=german)  # the email's link
    assert html_lang(form.text) == "fr" and 'name="lang" value="fr"' in form.text
    http.cookies.delete("resell_lang")  # from here on, the order's language decides
    assert sign_in(http, number, "fr").status_code == 303
    page = http.get("/locker/order", headers=german)
    assert html_lang(page.text) == "fr" and f"Commande {number}" in page.text
    assert page.headers["content-language"] == "fr"
    wrong = http.post(
        "/locker", data={"orderNumber": str(number), "email": "x@example.com", "lang": "fr"}, headers=german
    )
    assert wrong.status_code == 401 and "Nous n’avons trouvé aucune commande" in wrong.text  # the form's language


def test_the_switcher_is_remembered_and_beats_the_order(shop_a: Merchant, http: httpx.Client, world: World) -> None:
    number = new_order(shop_a, "I18N-SWITCH", "fr_FR")["orderNumber"]
    form = http.get(f"/locker?order={number}")
    for lang in i18n.LANGUAGES:  # a link per language, keeping the order number
        assert f'href="/locker?order={number}&amp;lang={lang}"' in form.text
    chosen = http.get(f"/locker?order={number}&lang=ja")
    assert html_lang(chosen.text) == "ja"
    assert "resell_lang=ja" in chosen.headers["set-cookie"] and "Path=/" in chosen.headers["set-cookie"]
    assert html_lang(http.get("/locker").text) == "ja"  # remembered
    sign_in(http, number)
    assert html_lang(http.get("/locker/order").text) == "ja"  # the visitor's choice beats the order's
    assert html_lang(http.get("/locker/order?lang=sv").text) == "sv"
    assert html_lang(http.get("/locker?lang=zz").text) == "sv"  # not a language: ignored


def test_refused_downloads_speak_the_orders_language(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World, clock
) -> None:  # type: ignore[no-untyped-def]
    attach(ctx, 1001, "setup.exe", 1000)
    order = new_order(shop_a, "I18N-410", "de_DE")
    url = order["orderLines"][0]["files"][0]["url"].removeprefix("http://resell.test")
    clock.advance(days=22)
    expired = http.get(url, headers={"Accept-Language": "en"})
    end = dt.date.fromisoformat(order["orderLines"][0]["dateEndDownload"])
    assert expired.status_code == 410 and html_lang(expired.text) == "de"
    assert (
        f'endete am <time datetime="{end.isoformat()}">{format_date(end, "long", locale="de")}</time>' in expired.text
    )
    tampered = http.get(url[:-3] + "AAA", headers={"Accept-Language": "it"})
    assert tampered.status_code == 403 and html_lang(tampered.text) == "it"
    assert "Link di download non valido" in tampered.text


# ---------------------------------------------------------------- each language in a real browser



def screenshots(lang: str, page, order_url: str) -> None:  # type: ignore[no-untyped-def]
    """docs/images/locker/<lang>-{desktop,phone}.png, when RESELL_LOCKER_SCREENSHOTS=1 (docs/fulfilment.md)."""
    if os.environ.get("RESELL_LOCKER_SCREENSHOTS") != "1" or lang not in ("fr", "de", "ja"):
        return
    folder = ROOT / "docs" / "images" / "locker"
    folder.mkdir(parents=True, exist_ok=True)
    for name, width, height in (("desktop", 1280, 800), ("phone", 390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(order_url)
        page.screenshot(path=str(folder / f"{lang}-{name}.png"), full_page=True)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_locker_and_the_email_in_each_language(
    lang: str, ctx: Context, shop_a: Merchant, server: str, browser: Browser, world: World
) -> None:
    product_name, remark = PRODUCT_TEXTS.get(lang, ("Serial and files", "Hi %FIRSTNAME% %LASTNAME%: %GAMENAME%"))
    if lang in PRODUCT_TEXTS:
        data = copy.deepcopy(TEST_CATALOG)
        data["products"][0]["texts"] = {lang: {"name": product_name, "remark": remark}}
        import_catalog(ctx, data)
    remark = remark.replace("%FIRSTNAME%", "Ada").replace("%LASTNAME%", "Lovelace").replace("%GAMENAME%", product_name)
    shop_name = "Zoë's Acmé Shop"  # the shop's name and support in every language (resell.domain.branding)
    branding.set_branding(ctx, "shop-a", {"display_name": shop_name, "support_email": "help@acme.example.com"})
    attach(ctx, 1001, "setup.exe", 1000)
    with ctx.db.write() as conn:  # a label that names its platform (shown once), the size of a big file
        conn.execute(update(product_files).values(label="Windows installer", group="Windows", size=SIZE))
    order = new_order(shop_a, f"I18N-{lang}", REGION[lang], (1001, 1), (1003, 1))
    number = order["orderNumber"]
    end = format_date(dt.date.fromisoformat(order["orderLines"][0]["dateEndDownload"]), "long", locale=lang)
    sign_in_heading, order_heading, cancelled, not_found, intro = KNOWN[lang]

    with ctx.db.read() as conn:
        line_ids = list(conn.execute(select(order_lines.c.id).where(order_lines.c.order_id == number)).scalars())
    message = delivery_mail.build(ctx, {"orderNumber": number, "to": "buyer@example.com", "lineIds": line_ids}, "e1")
    assert message is not None
    assert message["Content-Language"] == lang
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f'<html lang="{lang}">' in html
    for body in (text, html):
        assert intro in body and end in body and SIZES[lang] in body
        assert "Windows installer (Windows)" not in body and "Windows installer" in body
        assert product_name in body and remark in body  # the product's texts in the customer's language
        assert shop_name in html_module.unescape(body) and f"I18N-{lang}" in body  # the shop's own order number
        assert "help@acme.example.com" in body
    assert str(number) in message["Subject"]
    assert message["From"].addresses[0].display_name == shop_name
    assert str(message["Reply-To"]) == "help@acme.example.com"

    context = browser.new_context(java_script_enabled=False, locale="en-US", viewport={"width": 1000, "height": 800})
    page = context.new_page()
    link = f"/locker?order={number}&lang={lang}"  # the email's link carries its language
    assert f"http://resell.test{link}" in text
    page.goto(server + link)  # the browser says English: the email's language wins
    assert page.get_attribute("html", "lang") == lang
    assert page.inner_text("h1") == sign_in_heading
    page.fill("#email", "buyer@example.com")
    page.click("button[type=submit]")
    assert page.url == f"{server}/locker/order"
    assert page.get_attribute("html", "lang") == lang
    assert page.inner_text("h1") == order_heading.format(n=number)
    assert page.inner_text("#end-date") == end
    files = page.locator("ul.files li")
    assert files.count() == 1
    assert files.first.inner_text() == f"Windows installer ({SIZES[lang]})"
    assert page.locator("nav.languages a[aria-current]").inner_text() == i18n.display_name(lang)
    assert page.inner_text("section.product h2 >> nth=0") == product_name and remark in page.inner_text(".remark")
    assert page.inner_text("header .shop") == shop_name
    assert shop_name in page.inner_text("#shop-order") and f"I18N-{lang}" in page.inner_text("#shop-order")
    assert shop_name in page.inner_text("#support")
    screenshots(lang, page, f"{server}/locker/order")

    stranger = browser.new_context(java_script_enabled=False, locale="en-US").new_page()
    missing = stranger.goto(f"{server}/locker/nothing-here")  # no cookie: the browser's language
    assert missing is not None and missing.status == 404
    assert stranger.get_attribute("html", "lang") == "en"
    stranger.click(f"nav.languages a[hreflang={lang}]")  # the switcher, without JavaScript
    assert stranger.get_attribute("html", "lang") == lang and stranger.inner_text("h1") == not_found
    stranger.context.close()

    shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": f"I18N-{lang}", "reasonCode": 2})
    page.goto(f"{server}/locker/order")
    assert cancelled in page.inner_text(".notice")
    assert format_date(ctx.now().date(), "long", locale=lang) in page.inner_text(".notice")
    context.close()
