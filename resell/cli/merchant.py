"""`resell merchant ...`: merchants, their catalogues and their tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from resell.cli.support import context, fail, folding_table, out, when

app = typer.Typer(help="Merchants and their catalogues.", no_args_is_help=True)


def _product_refs(products: str | None) -> list[int] | None:
    if not products:
        return None
    try:
        return [int(ref) for ref in products.split(",") if ref.strip()]
    except ValueError:
        fail(f"--products takes product refs separated by commas, not {products!r}")
        raise


@app.command("create")
def merchant_create(
    realm: str,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    currency: Annotated[list[str], typer.Option(help="add a catalogue in this currency (repeatable)")] = [],  # noqa: B006
    products: Annotated[str | None, typer.Option(help="comma-separated product refs (default: all)")] = None,
    cancel_period_days: Annotated[int | None, typer.Option(help="cancel period of its catalogues")] = None,
) -> None:
    """Create a merchant (and catalogues); prints its secrets once: they are stored hashed only."""
    from resell.services import merchants

    refs = _product_refs(products)
    specs = [merchants.CatalogSpec(f"{realm} {c.upper()}", c, refs, cancel_period_days) for c in currency]
    try:
        created, cats = merchants.create_merchant(context(), realm, name, catalogs_to_add=specs)
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    out.print(f"merchant [bold]{created.realm}[/] created. Keep these secrets now; they are not shown again.")
    out.print(f"  realmName    {created.realm}\n  clientSecret {created.client_secret}")
    for cat in cats:
        out.print(f"  catalogue {cat.currency} secret {cat.secret} ({len(cat.product_refs)} products)")
        out.print(f"  catalogue {cat.currency} sandbox secret {cat.sandbox_secret}", soft_wrap=True)


@app.command("add-catalog")
def merchant_add_catalog(
    realm: str,
    currency: str,
    name: Annotated[str | None, typer.Option()] = None,
    products: Annotated[str | None, typer.Option(help="comma-separated product refs (default: all)")] = None,
    cancel_period_days: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Add a catalogue (currency, products) to a merchant; prints its secret once."""
    from resell.services import merchants

    spec = merchants.CatalogSpec(
        name or f"{realm} {currency.upper()}", currency, _product_refs(products), cancel_period_days
    )
    try:
        cat = merchants.add_catalog(context(), realm, spec)
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    out.print(f"catalogue {cat.currency} secret {cat.secret} ({len(cat.product_refs)} products)")
    out.print(f"catalogue {cat.currency} sandbox secret {cat.sandbox_secret}", soft_wrap=True)


@app.command("sandbox")
def merchant_sandbox(catalog_id: int) -> None:
    """The sandbox of a live catalogue (by id, see `merchant show`): created when it has none, a new
    `test_` secret otherwise (the old one stops working). The secret is printed once. Audited."""
    from resell.services import sandbox

    try:
        made = sandbox.provide_sandbox(context(), catalog_id)
    except sandbox.SandboxError as exc:
        fail(str(exc))
        return
    what = "created" if made.created else "has a new secret"
    out.print(
        f"sandbox of catalogue {made.catalog!r} (id {made.sandbox_catalog_id}) {what}; "
        "keep its secret now, it is not shown again"
    )
    out.print(f"  sandbox secret {made.secret}", soft_wrap=True)


@app.command("products")
def merchant_products(
    realm: str,
    currency: str,
    add: Annotated[str | None, typer.Option(help="comma-separated product refs to start selling")] = None,
    remove: Annotated[str | None, typer.Option(help="comma-separated product refs to stop selling")] = None,
    catalog: Annotated[
        str | None, typer.Option(help="the catalogue's name or id, when the merchant has several in CURRENCY")
    ] = None,
) -> None:
    """Add products to, or remove them from, a merchant's catalogue (product feeds report insert / delete)."""
    from resell.services import merchants

    try:
        added, removed = merchants.change_catalog_products(
            context(), realm, currency, _product_refs(add) or [], _product_refs(remove) or [], catalog_name=catalog
        )
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    out.print(f"added {added or 'nothing'}, removed {removed or 'nothing'}")


@app.command("remove-catalog")
def merchant_remove_catalog(realm: str, catalog: str) -> None:
    """Remove a catalogue (by name or id) that has no orders; its secret stops working. Audited."""
    from resell.services import merchants

    try:
        name = merchants.remove_catalog(context(), realm, catalog)
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    out.print(f"catalogue {name!r} of merchant {realm!r} removed")


@app.command("revoke-tokens")
def merchant_revoke_tokens(realm: str) -> None:
    """Emergency: every access and refresh token of the merchant stops working now (it signs in again).

    DELETE /iam/tokens/reset revokes refresh tokens only; access tokens issued before it live out
    their 5 minutes. This is the way to end those too, for a leaked client secret or token."""
    from resell.services import iam

    if not iam.revoke_all_tokens(context(), realm):
        fail(f"no merchant {realm!r}")
        return
    out.print(f"every token of merchant [bold]{realm}[/] revoked; it must sign in again")


@app.command("list")
def merchant_list() -> None:
    """Every merchant: realm, name, active, catalogues, orders."""
    from resell.services import merchants

    found = merchants.list_merchants(context())
    if not found:
        out.print("no merchant")
        return
    table = folding_table("realm", "name", "active", "catalogues", "orders")
    for m in found:
        table.add_row(m.realm, m.name, "yes" if m.active else "no", str(m.catalogs), str(m.orders))
    out.print(table)


@app.command("show")
def merchant_show(realm: str) -> None:
    """A merchant: its catalogues (currency, products, orders), webhook endpoints, orders, last order."""
    from resell.services import merchants

    try:
        m = merchants.merchant_detail(context(), realm)
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    state = "active" if m.active else "inactive"
    out.print(f"merchant [bold]{m.realm}[/] · {m.name} · {state} · since {when(m.created_at)}")
    out.print(
        f"orders {m.orders} ({m.active_orders} active, {m.cancelled_orders} cancelled) · "
        f"last order {when(m.last_order_date) or 'none'}"
    )
    cats = folding_table("id", "catalogue", "currency", "products", "orders", "cancel days", "delivery email",
                         "sandbox", title="catalogues (secrets are stored hashed: rotate one to get a new secret)")
    for c in m.catalogs:
        twin = f"{c.sandbox_catalog_id} ({c.test_orders} test orders)" if c.sandbox_catalog_id else "none"
        cats.add_row(str(c.catalog_id), c.name, c.currency, str(c.products), str(c.orders),
                     str(c.cancel_period_days), "yes" if c.delivery_email else "no", twin)
    out.print(cats)
    if m.endpoints:
        hooks = folding_table("endpoint", "url", "events", "state", title="webhook endpoints")
        for e in m.endpoints:
            state = "active" if e.active else f"disabled ({e.disabled_reason or 'no reason'})"
            hooks.add_row(str(e.endpoint_id), e.url, ", ".join(e.events), state)
        out.print(hooks)
    else:
        out.print("no webhook endpoint")


@app.command("rotate-secret")
def merchant_rotate_secret(realm: str) -> None:
    """A new API client secret, printed once: the old one stops working and every refresh token is
    revoked (access tokens live out their minutes; `revoke-tokens` ends them too). Audited."""
    from resell.services import merchants

    try:
        rotated = merchants.rotate_client_secret(context(), realm)
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    out.print(
        f"merchant [bold]{rotated.realm}[/]: new client secret (keep it now, it is not shown again; "
        f"{rotated.refresh_tokens_revoked} refresh tokens revoked)"
    )
    out.print(f"  clientSecret {rotated.secret}", soft_wrap=True)


@app.command("rotate-catalog-secret")
def merchant_rotate_catalog_secret(realm: str, catalog: str) -> None:
    """A new secret for the catalogue (by name or id), printed once: the old one stops working. Audited."""
    from resell.services import merchants

    try:
        rotated = merchants.rotate_catalog_secret(context(), realm, catalog)
    except merchants.MerchantError as exc:
        fail(str(exc))
        return
    out.print(f"catalogue {rotated.catalog!r} of merchant [bold]{rotated.realm}[/]: new secret (not shown again)")
    out.print(f"  secret {rotated.secret}", soft_wrap=True)


@app.command("brand")
def merchant_brand(
    realm: str,
    display_name: Annotated[str | None, typer.Option(help="the shop's name shown to end users")] = None,
    logo_url: Annotated[str | None, typer.Option(help="https:// address of the shop's logo")] = None,
    support_email: Annotated[str | None, typer.Option(help="where end users write for help (also Reply-To)")] = None,
    support_url: Annotated[str | None, typer.Option(help="https:// address of the shop's help pages")] = None,
    accent: Annotated[str | None, typer.Option(help="#rrggbb, AA contrast (4.5:1) with white")] = None,
    sender_name: Annotated[str | None, typer.Option(help="From name of its emails (default: shop name)")] = None,
    reply_to: Annotated[str | None, typer.Option(help="Reply-To of its emails (default: support email)")] = None,
) -> None:
    """The shop's name and look on the delivery emails and the locker: without options, shows them;
    each option given sets its value ("" clears it), the others keep theirs. Audited."""
    from rich.markup import escape

    from resell.domain.branding import FIELDS, LABELS, BrandingError, shop
    from resell.services import branding

    given = {
        "display_name": display_name,
        "logo_url": logo_url,
        "support_email": support_email,
        "support_url": support_url,
        "accent": accent,
        "sender_name": sender_name,
        "reply_to": reply_to,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    ctx = context()
    try:
        if changes:
            branding.set_branding(ctx, realm, changes)
        name, current = branding.current(ctx, realm)
    except branding.UnknownMerchant as exc:
        fail(str(exc))
        return
    except BrandingError as exc:
        fail(f"nothing changed: {exc}")
        return
    if changes:
        out.print(f"branding of merchant [bold]{escape(realm)}[/] saved")
    seen = shop(name, current)
    table = folding_table("setting", "value", "end users see", title=f"branding of {realm}")
    fallback = {
        "display_name": seen.name,
        "sender_name": seen.sender,
        "reply_to": seen.reply_address or "(no Reply-To)",
    }
    for field in FIELDS:
        value = getattr(current, field)
        table.add_row(LABELS[field], escape(value or "(not set)"), escape(value or fallback.get(field, "")))
    out.print(table)
