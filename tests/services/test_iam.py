"""Resolving the caller of a /connect call: what a catalogue says now (its row kept a second:
tests/services/test_kept_rows.py)."""

from __future__ import annotations

from sqlalchemy import update

from resell.db.tables import catalogs
from resell.services import iam
from resell.services.context import Context
from tests.conftest import World


def test_the_caller_follows_its_catalogue_from_one_call_to_the_next(ctx: Context, world: World) -> None:
    """The Caller of a catalogue row is made once per distinct row: a change of the row is seen at once."""
    token = iam.issue_tokens(ctx, world.a.realm, world.a.client_secret).access_token
    before = iam.authenticate(ctx, token, world.a.secret)
    assert iam.authenticate(ctx, token, world.a.secret) == before
    with ctx.db.write() as conn:
        conn.execute(
            update(catalogs)
            .where(catalogs.c.id == before.catalog_id)
            .values(cancel_period_days=before.cancel_period_days + 7, requires_amounts=not before.requires_amounts)
        )
    iam.forget_credentials(ctx.db)  # what a service does once such a change commits (else: within a second)
    after = iam.authenticate(ctx, token, world.a.secret)
    assert after.cancel_period_days == before.cancel_period_days + 7
    assert after.requires_amounts is not before.requires_amounts
    assert (after.merchant_id, after.catalog_id) == (before.merchant_id, before.catalog_id)
    sandbox = iam.authenticate(ctx, token, world.a.sandbox_secret)
    assert sandbox.catalog_id == before.catalog_id and sandbox.sandbox_catalog_id not in (None, before.catalog_id)
