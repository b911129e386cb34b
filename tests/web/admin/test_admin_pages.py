"""The catalogue, merchants and finance pages of /admin over real HTTP: each role's access, the
two-step confirmations, a rotated secret shown once and the old one refused by /iam/tokens and
/connect, the service's refusals shown as they are, CSRF on every action, and the statement and
publisher report files matching the service's figures."""

from __future__ import annotations

import copy
import csv
import io
import re
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
from lxml import html
from sqlalchemy import event, func, select

from resell.db.tables import audit_events, catalogs
from resell.services import iam, reports
from resell.services import orders as order_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, Merchant, World, order_body
from tests.renewal_support import caller_of
from tests.web.admin.conftest import csrf_of
from tests.web.admin.pages_support import NOV, november, other_publisher  # noqa: F401 (november: a fixture)

StaffClient = Callable[[str], httpx.Client]


def audited(ctx: Context, action: str) -> list[str]:
    with ctx.db.read() as conn:
        return list(conn.execute(select(audit_events.c.actor).where(audit_events.c.action == action)).scalars())


# ---------------------------------------------------------------- who may open what


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("admin", ["/admin/catalogue", "/admin/merchants", "/admin/finance", "/admin/merchants/shop-a"], []),
        ("support", [], ["/admin/catalogue", "/admin/merchants", "/admin/finance", "/admin/products"]),
        ("finance", ["/admin/finance"], ["/admin/catalogue", "/admin/merchants/shop-a", "/admin/products"]),
        ("publisher", ["/admin/products", "/admin/finance"], ["/admin/catalogue", "/admin/merchants"]),
    ],
)
def test_pages_by_role(
    staff_client: StaffClient, world: World, role: str, allowed: list[str], refused: list[str]
) -> None:
    http = staff_client(role)
    for path in allowed:
        assert http.get(path).status_code == 200, path
    for path in refused:
        page = http.get(path)
        assert page.status_code == 403, path
        assert "Your role does not give access" in page.text


def test_signed_out_is_sent_to_sign_in(http: httpx.Client, world: World) -> None:
    reply = http.get("/admin/finance", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/admin/login")


# ---------------------------------------------------------------- catalogue


def test_catalogue_list_filter_and_product_page(staff_client: StaffClient, ctx: Context, world: World) -> None:
    other_publisher(ctx)
    admin = staff_client("admin")
    page = admin.get("/admin/catalogue")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
    for text in ("1001", "Serial and files", "EUR 10.00", "20 serials", "Someone else", "other", "table-wrap"):
        assert text in page.text, text
    filtered = admin.get("/admin/catalogue", params={"q": "serial"})
    assert "Serial only" in filtered.text and "Download only" not in filtered.text
    assert "1002" in admin.get("/admin/catalogue", params={"q": "1002"}).text
    assert "Someone else" in admin.get("/admin/catalogue", params={"q": "other"}).text
    assert "No product matches" in admin.get("/admin/catalogue", params={"q": "zzz"}).text

    product = admin.get("/admin/catalogue/1001")
    assert product.status_code == 200
    for text in ("setup.exe", "1,234 bytes", "Up-sell", "1002 Download only", "Cross-sell", "1003 Serial only"):
        assert text in product.text, text
    assert "Option" in product.text and "1090 Download extension" in product.text
    assert "Available</dt><dd>20" in product.text
    option = admin.get("/admin/catalogue/1090")
    assert "Fits" in option.text and "1001 Serial and files" in option.text
    assert admin.get("/admin/catalogue/9999").status_code == 404
    assert admin.get("/admin/catalogue/abc").status_code == 404


def texts_table(page: httpx.Response) -> list[list[str]] | None:
    """The rows of the product page's "Texts per language" table (None: the page has none)."""
    assert page.status_code == 200, page.text
    card = html.fromstring(page.text).xpath("//section[h2='Texts per language']")
    assert len(card) == 1
    rows = card[0].xpath(".//tbody/tr")
    return [[cell.text_content() for cell in row] for row in rows] if rows else None


def test_product_page_shows_the_texts_per_language(staff_client: StaffClient, ctx: Context, world: World) -> None:
    admin = staff_client("admin")
    without = admin.get("/admin/catalogue/1001").text
    catalog = copy.deepcopy(TEST_CATALOG)
    catalog["products"][0]["texts"] = {
        "fr": {"name": "Série et fichiers", "shortDescription": "Vous protège", "remark": "Bonjour <b>%FIRSTNAME%</b>"},
        "de": {"shortDescription": "Hält Sie sicher", "remark": ""},  # an empty remark: its own
    }
    import_catalog(ctx, catalog)
    page = admin.get("/admin/catalogue/1001")
    assert texts_table(page) == [
        ["de", "own", "Hält Sie sicher", "own"],
        ["fr", "Série et fichiers", "Vous protège", "Bonjour <b>%FIRSTNAME%</b>"],
    ]
    assert "Bonjour &lt;b&gt;%FIRSTNAME%&lt;/b&gt;" in page.text  # the remark's HTML shown as text
    assert "<h1>1001 · Serial and files</h1>" in page.text  # the product's own name heads the page
    assert texts_table(staff_client("publisher").get("/admin/products/1001")) == texts_table(page)

    # a product without texts: the page says so and is otherwise what it was
    assert texts_table(admin.get("/admin/catalogue/1002")) is None
    assert "No texts in other languages" in admin.get("/admin/catalogue/1002").text
    import_catalog(ctx, TEST_CATALOG)  # texts left out: removed
    assert admin.get("/admin/catalogue/1001").text == without


def test_publisher_sees_only_its_products(staff_client: StaffClient, ctx: Context, world: World) -> None:
    other_publisher(ctx)
    publisher = staff_client("publisher")
    page = publisher.get("/admin/products")
    assert page.status_code == 200
    assert "1001" in page.text and "20 serials" in page.text
    assert "2001" not in page.text and "Someone else" not in page.text and "Other Publisher" not in page.text
    assert "My products" in page.text and "Catalogue &amp; Merchants" not in page.text
    assert "2001" not in publisher.get("/admin/products", params={"q": "other"}).text
    assert publisher.get("/admin/products/1001").status_code == 200
    assert publisher.get("/admin/products/2001").status_code == 404
    assert publisher.get("/admin/catalogue/1001").status_code == 403


# ---------------------------------------------------------------- merchants


def test_merchant_list_and_page(staff_client: StaffClient, world: World) -> None:
    admin = staff_client("admin")
    listing = admin.get("/admin/merchants")
    assert "shop-a" in listing.text and "shop-b" in listing.text
    page = admin.get("/admin/merchants/shop-a")
    assert page.status_code == 200
    for text in ("shop-a EUR", "shop-a USD", "30 days", "Rotate client secret", "No webhook endpoint"):
        assert text in page.text, text
    assert admin.get("/admin/merchants/nobody").status_code == 404


def token_reply(server: str, realm: str, secret: str) -> int:
    body = {"realmName": realm, "clientSecret": secret, "grantType": "client_credentials"}
    return httpx.post(server + "/iam/tokens", json=body, timeout=30).status_code


def test_rotate_client_secret_confirmed_shown_once_old_refused(
    staff_client: StaffClient, ctx: Context, world: World, server: str
) -> None:
    admin = staff_client("admin")
    page = admin.get("/admin/merchants/shop-a")
    token = csrf_of(page.text)
    first = admin.post("/admin/merchants/shop-a/client-secret", data={"csrf_token": token})
    assert first.status_code == 200 and "Please confirm" in first.text and "stops working" in first.text
    assert token_reply(server, "shop-a", world.a.client_secret) == 200  # not rotated yet
    done = admin.post("/admin/merchants/shop-a/client-secret", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 200
    secret = done.text.split('id="new-secret" class="secret">')[1].split("<")[0]
    assert len(secret) >= 20 and 'data-copy="#new-secret"' in done.text
    assert done.headers["cache-control"] == "no-store"
    assert token_reply(server, "shop-a", world.a.client_secret) == 401
    assert token_reply(server, "shop-a", secret) == 200
    assert secret not in admin.get("/admin/merchants/shop-a").text  # shown once
    assert audited(ctx, "client_secret_rotated")[-1].startswith("staff:admin")


def test_rotate_catalogue_secret_old_one_refused(
    staff_client: StaffClient, ctx: Context, world: World, shop_a: Merchant
) -> None:
    admin = staff_client("admin")
    with ctx.db.read() as conn:
        eur = conn.execute(select(catalogs.c.id).where(catalogs.c.name == "shop-a EUR")).scalar_one()
    token = csrf_of(admin.get("/admin/merchants/shop-a").text)
    action = f"/admin/merchants/shop-a/catalogues/{eur}/secret"
    assert "Please confirm" in admin.post(action, data={"csrf_token": token}).text
    assert shop_a.call("GET", "/order/NONE").json()["responseCode"] != 71  # still valid
    done = admin.post(action, data={"csrf_token": token, "confirm": "yes"})
    secret = done.text.split('id="new-secret" class="secret">')[1].split("<")[0]
    assert "shop-a EUR" in done.text
    assert shop_a.call("GET", "/order/NONE").json()["responseCode"] == 71
    assert shop_a.call("GET", "/order/NONE", secret=secret).json()["responseCode"] != 71
    assert audited(ctx, "catalog_secret_rotated") == [audited(ctx, "catalog_secret_rotated")[0]]
    assert audited(ctx, "catalog_secret_rotated")[0].startswith("staff:admin")
    assert admin.post("/admin/merchants/shop-a/catalogues/99999/secret", data={"csrf_token": token}).status_code == 404


def test_remove_catalogue_refused_with_orders_then_removed_without(
    staff_client: StaffClient, ctx: Context, world: World
) -> None:
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("R-1", (1002, 1)))
    with ctx.db.read() as conn:
        ids = dict(conn.execute(select(catalogs.c.name, catalogs.c.id)).all())
    admin = staff_client("admin")
    token = csrf_of(admin.get("/admin/merchants/shop-a").text)
    with_orders = f"/admin/merchants/shop-a/catalogues/{ids['shop-a EUR']}/remove"
    assert "Please confirm" in admin.post(with_orders, data={"csrf_token": token}).text
    refused = admin.post(with_orders, data={"csrf_token": token, "confirm": "yes"})
    assert refused.status_code == 409
    assert "has 1 order: not removed" in refused.text
    empty = f"/admin/merchants/shop-a/catalogues/{ids['shop-a USD']}/remove"
    done = admin.post(empty, data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 200 and "Catalogue “shop-a USD” removed." in done.text
    with ctx.db.read() as conn:
        assert (
            conn.execute(select(func.count()).select_from(catalogs).where(catalogs.c.id == ids["shop-a USD"])).scalar()
            == 0
        )
    assert audited(ctx, "catalog_removed")[0].startswith("staff:admin")


def test_change_products_and_add_catalogue(staff_client: StaffClient, ctx: Context, world: World) -> None:
    admin = staff_client("admin")
    page = admin.get("/admin/merchants/shop-a")
    token = csrf_of(page.text)
    with ctx.db.read() as conn:
        ids = dict(conn.execute(select(catalogs.c.name, catalogs.c.id)).all())
    eur, usd = ids["shop-a EUR"], ids["shop-a USD"]
    unpriced = admin.post(
        f"/admin/merchants/shop-a/catalogues/{usd}/products", data={"csrf_token": token, "add": "1001", "remove": ""}
    )
    assert unpriced.status_code == 400 and "No USD price for product refs: [1001]" in unpriced.text
    not_refs = admin.post(
        f"/admin/merchants/shop-a/catalogues/{eur}/products", data={"csrf_token": token, "add": "x", "remove": ""}
    )
    assert not_refs.status_code == 400 and "Product refs are numbers" in not_refs.text
    removed = admin.post(
        f"/admin/merchants/shop-a/catalogues/{eur}/products", data={"csrf_token": token, "add": "", "remove": "1002"}
    )
    assert removed.status_code == 200 and "added none, removed 1002" in removed.text
    # a second EUR catalogue: both are listed, each with its own form
    made = admin.post(
        "/admin/merchants/shop-a/catalogues",
        data={"csrf_token": token, "name": "shop-a EUR 2", "currency": "eur", "products": "1001, 1003"},
    )
    assert made.status_code == 200 and 'id="new-secret"' in made.text
    (sandbox_secret,) = re.findall(r'id="new-sandbox-secret" class="secret">(test_[^<]+)<', made.text)
    assert iam.caller_for_secret(ctx, sandbox_secret).test
    page = admin.get("/admin/merchants/shop-a").text
    assert page.count("(EUR, id") == 2
    refused = admin.post(
        "/admin/merchants/shop-a/catalogues",
        data={"csrf_token": token, "name": "bad", "currency": "USD", "products": "1001"},
    )
    assert refused.status_code == 400 and "No USD price for product refs: [1001]" in refused.text


def test_actions_refuse_a_missing_or_wrong_csrf_token(staff_client: StaffClient, ctx: Context, world: World) -> None:
    admin = staff_client("admin")
    with ctx.db.read() as conn:
        usd = conn.execute(select(catalogs.c.id).where(catalogs.c.name == "shop-a USD")).scalar_one()
    actions = [
        "/admin/merchants/shop-a/client-secret",
        f"/admin/merchants/shop-a/catalogues/{usd}/secret",
        f"/admin/merchants/shop-a/catalogues/{usd}/remove",
        f"/admin/merchants/shop-a/catalogues/{usd}/products",
        "/admin/merchants/shop-a/catalogues",
    ]
    for action in actions:
        for data in ({"confirm": "yes"}, {"confirm": "yes", "csrf_token": "forged"}):
            reply = admin.post(action, data={**data, "add": "1001", "name": "x", "currency": "EUR", "products": ""})
            assert reply.status_code == 403, action
            assert "did not come from this site" in reply.text
    assert audited(ctx, "client_secret_rotated") == audited(ctx, "catalog_secret_rotated") == []
    assert audited(ctx, "catalog_removed") == audited(ctx, "catalog_products_changed") == []
    assert "staff:" not in " ".join(audited(ctx, "catalog_added"))  # the world's, by the operator
    # another role with a valid token of its own session
    finance = staff_client("finance")
    token = csrf_of(finance.get("/admin/finance").text)
    assert finance.post(actions[0], data={"csrf_token": token, "confirm": "yes"}).status_code == 403


# ---------------------------------------------------------------- finance


@pytest.mark.usefixtures("november")
def test_finance_statement_page_and_files(staff_client: StaffClient, ctx: Context, world: World) -> None:
    finance = staff_client("finance")
    page = finance.get("/admin/finance")
    assert page.status_code == 200 and f'value="{NOV}"' in page.text  # last month by default
    shown = finance.get("/admin/finance", params={"realm": "shop-a", "month": NOV})
    expected = reports.statement(ctx, "shop-a", NOV)
    eur = expected.currencies[0]
    assert (eur.orders_total, eur.cancellations_total, eur.net) == (
        Decimal("43.00"),
        Decimal("-3.00"),
        Decimal("40.00"),
    )
    for text in ("EUR 43.00", "EUR -3.00", "EUR 40.00", "NOV-1", "NOV-2", "Download CSV", "Download PDF"):
        assert text in shown.text, text
    assert f"/admin/finance/statements/shop-a/{NOV}.csv" in shown.text

    csv_reply = finance.get(f"/admin/finance/statements/shop-a/{NOV}.csv")
    assert csv_reply.status_code == 200
    assert csv_reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_reply.headers["content-disposition"] == f'attachment; filename="statement-shop-a-{NOV}.csv"'
    rows = list(csv.reader(io.StringIO(csv_reply.text)))
    amounts = [Decimal(r[-1]) for r in rows[1:] if r and r[0] == "EUR" and r[1] in ("order", "cancellation")]
    assert sum(amounts) == eur.net
    assert [Decimal(r[-1]) for r in rows if len(r) > 1 and r[0] == "EUR" and r[1] == "net"] == [eur.net]
    pdf = finance.get(f"/admin/finance/statements/shop-a/{NOV}.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == f'attachment; filename="statement-shop-a-{NOV}.pdf"'
    json_reply = finance.get(f"/admin/finance/statements/shop-a/{NOV}.json")
    assert json_reply.headers["content-type"] == "application/json" and json_reply.json()
    assert "EUR 40.00" in finance.get(f"/admin/finance/statements/shop-a/{NOV}").text
    assert finance.get(f"/admin/finance/statements/nobody/{NOV}.csv").status_code == 404
    assert finance.get("/admin/finance/statements/shop-a/2026-13.csv").status_code == 404
    bad_month = finance.get("/admin/finance", params={"month": "soon"})
    assert bad_month.status_code == 400 and "is not a month" in bad_month.text


@pytest.mark.usefixtures("november")
def test_finance_publisher_report(staff_client: StaffClient, ctx: Context, world: World) -> None:
    admin = staff_client("admin")
    expected = reports.publisher_report(ctx, "pub", NOV)
    shown = admin.get("/admin/finance", params={"publisher": "pub", "month": NOV})
    assert "Publisher report" in shown.text and "Serial and files" in shown.text
    page = admin.get(f"/admin/finance/publishers/pub/{NOV}")
    assert page.status_code == 200
    for p in expected.products:
        assert f"{p.net:.2f}" in page.text
    csv_reply = admin.get(f"/admin/finance/publishers/pub/{NOV}.csv")
    assert csv_reply.headers["content-disposition"] == f'attachment; filename="publisher-pub-{NOV}.csv"'
    assert "Serial and files" in csv_reply.text
    pdf = admin.get(f"/admin/finance/publishers/pub/{NOV}.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert admin.get(f"/admin/finance/publishers/other/{NOV}").status_code == 200
    assert admin.get(f"/admin/finance/publishers/nobody/{NOV}").status_code == 404


@pytest.mark.usefixtures("november")
def test_publisher_member_sees_only_its_own_report(staff_client: StaffClient, ctx: Context, world: World) -> None:
    publisher = staff_client("publisher")
    page = publisher.get("/admin/finance", params={"realm": "shop-a", "publisher": "other", "month": NOV})
    assert page.status_code == 200
    assert "Test Publisher (pub)" in page.text and "Other Publisher" not in page.text
    assert "Merchant statement" not in page.text and "shop-a" not in page.text
    assert publisher.get(f"/admin/finance/publishers/pub/{NOV}.csv").status_code == 200
    assert publisher.get(f"/admin/finance/publishers/other/{NOV}").status_code == 404
    assert publisher.get(f"/admin/finance/publishers/other/{NOV}.csv").status_code == 404
    assert publisher.get(f"/admin/finance/statements/shop-a/{NOV}.csv").status_code == 403
    assert publisher.get(f"/admin/finance/statements/shop-a/{NOV}").status_code == 403


# ---------------------------------------------------------------- a few queries per page, whatever the data


def test_pages_make_a_few_queries_whatever_the_number_of_products(
    staff_client: StaffClient, ctx: Context, world: World
) -> None:
    catalog = copy.deepcopy(TEST_CATALOG)
    catalog["products"] += [
        {
            "ref": 3000 + i,
            "name": f"Bulk {i}",
            "publisher": "pub",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "files": [{"label": "Installer", "fileName": f"bulk{i}.exe", "size": i}],
            "prices": [{"currency": "EUR", "amountDutyFree": i + 1}, {"currency": "USD", "amountDutyFree": i + 2}],
        }
        for i in range(40)
    ]
    import_catalog(ctx, catalog)
    admin, publisher = staff_client("admin"), staff_client("publisher")
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        for http, path, most in (
            (admin, "/admin/catalogue", 8),
            (admin, "/admin/catalogue/1001", 10),
            (admin, "/admin/merchants", 6),
            (admin, "/admin/merchants/shop-a", 9),
            (publisher, "/admin/products", 8),
        ):
            statements.clear()
            reply = http.get(path)
            assert reply.status_code == 200, path
            assert len(statements) <= most, (path, statements)
        assert "Bulk 39" in admin.get("/admin/catalogue").text
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)
