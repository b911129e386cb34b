"""`resell merchant brand`: showing and setting a shop's name and look, refusals named, audited."""

from __future__ import annotations

from sqlalchemy import select

from resell.db.tables import audit_events
from resell.services import branding
from resell.services.context import Context
from tests.conftest import CliRun, World


def flat(text: str) -> str:
    return "".join(text.split())


def test_brand_shows_sets_clears_and_audits(cli: CliRun, ctx: Context, world: World) -> None:
    shown = cli("merchant", "brand", "shop-a")
    assert shown.exit_code == 0, shown.output
    assert "│displayname│(notset)│shop-a│" in flat(shown.stdout)  # the merchant's name is what end users see
    assert "│reply-to│(notset)│(noReply-To)│" in flat(shown.stdout)

    done = cli(
        "merchant", "brand", "shop-a",
        "--display-name", "Acmé Shop",
        "--logo-url", "https://cdn.acme.test/logo.png",
        "--support-email", "help@acme.example.com",
        "--support-url", "https://acme.example.com/help",
        "--accent", "#1F3A5F",
        "--sender-name", "Acmé Orders",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "saved" in done.stdout and "│accentcolour│#1f3a5f│#1f3a5f│" in flat(done.stdout)
    assert "│reply-to│(notset)│help@acme.example.com│" in flat(done.stdout)  # Reply-To falls back to the support email
    name, now = branding.current(ctx, "shop-a")
    assert name == "shop-a" and now.display_name == "Acmé Shop" and now.sender_name == "Acmé Orders"

    cleared = cli("merchant", "brand", "shop-a", "--sender-name", "")
    assert cleared.exit_code == 0, cleared.output
    assert branding.current(ctx, "shop-a")[1].sender_name is None
    assert branding.current(ctx, "shop-a")[1].display_name == "Acmé Shop"  # not named: kept

    with ctx.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.actor, audit_events.c.before, audit_events.c.after)
            .where(audit_events.c.action == "branding_set")
            .order_by(audit_events.c.id)
        ).all()
    assert [r.actor for r in rows] == ["operator", "operator"]
    assert rows[0].after["display_name"] == "Acmé Shop" and rows[0].before["display_name"] is None
    assert rows[1].before == {"sender_name": "Acmé Orders"} and rows[1].after == {"sender_name": None}


def test_brand_refusals_name_the_value_and_change_nothing(cli: CliRun, ctx: Context, world: World) -> None:
    refused = cli("merchant", "brand", "shop-a", "--display-name", "Acme", "--accent", "#ffcc00")
    assert refused.exit_code == 1
    message = " ".join(refused.stderr.split())
    assert "nothing changed: accent colour: #ffcc00 has a contrast of 1.5" in message and "WCAG AA" in message
    http_logo = cli("merchant", "brand", "shop-a", "--logo-url", "http://acme.test/logo.png")
    assert http_logo.exit_code == 1 and "logo URL: must start with https://" in " ".join(http_logo.stderr.split())
    assert branding.current(ctx, "shop-a")[1].display_name is None
    missing = cli("merchant", "brand", "nobody")
    assert missing.exit_code == 1 and "no merchant 'nobody'" in missing.stderr
