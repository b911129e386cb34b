"""The back office's "Shop branding" form on a merchant's page over real HTTP: a refused value named
at once, the two-step confirmation carrying the values, CSRF, the change audited as the staff member,
and the new name in the locker."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import lxml.html
from sqlalchemy import select

from resell.db.tables import audit_events
from resell.services import branding
from resell.services.context import Context
from tests.conftest import World
from tests.web.admin.conftest import csrf_of

StaffClient = Callable[[str], httpx.Client]

FORM = {
    "display_name": "Acmé <Shop>",
    "logo_url": "https://cdn.acme.test/logo.png",
    "support_email": "help@acme.example.com",
    "support_url": "https://acme.example.com/help",
    "accent": "#1F3A5F",
    "sender_name": "",
    "reply_to": "",
}


def test_branding_form_checks_confirms_saves_and_audits(staff_client: StaffClient, ctx: Context, world: World) -> None:
    admin = staff_client("admin")
    page = admin.get("/admin/merchants/shop-a")
    assert page.status_code == 200 and "Shop branding" in page.text
    token = csrf_of(page.text)

    refused = admin.post("/admin/merchants/shop-a/branding", data={**FORM, "accent": "#ffff00", "csrf_token": token})
    assert refused.status_code == 400
    error = lxml.html.fromstring(refused.text).xpath('//p[@role="alert"]')[0].text_content()
    assert "Accent colour: #ffff00 has a contrast of 1.07:1" in error and "WCAG AA" in error
    assert 'value="https://cdn.acme.test/logo.png"' in refused.text  # what was typed stays in the form
    assert branding.current(ctx, "shop-a")[1].display_name is None

    first = admin.post("/admin/merchants/shop-a/branding", data={**FORM, "csrf_token": token})
    assert first.status_code == 200 and "Please confirm" in first.text
    assert "accent colour: #1f3a5f" in first.text and "Acmé &lt;Shop&gt;" in first.text  # escaped
    assert branding.current(ctx, "shop-a")[1].display_name is None  # not yet
    confirm = lxml.html.fromstring(first.text).xpath('//form[input[@name="confirm"]]')[0]
    carried = {i.get("name"): i.get("value") for i in confirm.xpath(".//input")}
    assert carried["display_name"] == "Acmé <Shop>" and carried["accent"] == "#1f3a5f"

    done = admin.post(confirm.get("action"), data=carried)
    assert done.status_code == 200 and "Branding saved." in done.text
    saved = branding.current(ctx, "shop-a")[1]
    assert (saved.display_name, saved.accent, saved.support_email) == (
        "Acmé <Shop>",
        "#1f3a5f",
        "help@acme.example.com",
    )
    shown = lxml.html.fromstring(done.text)
    assert shown.xpath('//input[@name="display_name"]/@value') == ["Acmé <Shop>"]
    with ctx.db.read() as conn:
        actors = list(
            conn.execute(select(audit_events.c.actor).where(audit_events.c.action == "branding_set")).scalars()
        )
    assert len(actors) == 1 and actors[0].startswith("staff:admin")


def test_branding_refuses_a_missing_csrf_token_and_other_roles(
    staff_client: StaffClient, ctx: Context, world: World
) -> None:
    admin = staff_client("admin")
    no_token = admin.post("/admin/merchants/shop-a/branding", data={**FORM, "confirm": "yes"})
    assert no_token.status_code == 403
    token = csrf_of(admin.get("/admin/merchants/shop-a").text)
    assert admin.post("/admin/merchants/nobody/branding", data={**FORM, "csrf_token": token}).status_code == 404
    finance = staff_client("finance")
    page = finance.get("/admin/finance")
    refused = finance.post(
        "/admin/merchants/shop-a/branding", data={**FORM, "confirm": "yes", "csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code in (403, 404)
    assert branding.current(ctx, "shop-a")[1].display_name is None
