"""`/admin/catalogue` and `/admin/merchants` (section "catalogue", admins): the products with their
prices, files and stock; the merchants, their catalogues and webhook endpoints; rotating a secret,
adding or removing a catalogue, changing a catalogue's products, setting the shop's branding (its
name and look on end users' emails and locker: resell.services.branding; checked before the
confirmation page, so a refused value is named at once).

A destructive action is two steps without JavaScript: its first POST answers a confirmation page,
whose form posts again with `confirm=yes`. A new secret is shown once, on the answer to that POST
(never behind a GET, never stored in clear). Every change is audited as "staff:<email>" by the
merchant service; its refusals (a catalogue with orders, a product without a price in the
catalogue's currency...) are shown as they are.

`/admin/products` is the same product list and page for a publisher member, its own products only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from resell.domain.branding import FIELDS, LABELS, BrandingError, check
from resell.services import branding, catalogue_view, merchants
from resell.web.admin.kit import StaffMember, actor, admin_page, ctx_of, form_text, section

router = APIRouter(include_in_schema=False)
NOT_FOUND = 404


# ---------------------------------------------------------------- products


def _products_page(request: Request, member: StaffMember, base: str, section_key: str) -> Response:
    text = request.query_params.get("q", "")[:100]
    publisher_id = member.publisher_id if member.role == "publisher" else None
    rows = catalogue_view.list_products(ctx_of(request), publisher_id, text)
    title = "My products" if publisher_id is not None else "Catalogue"
    return admin_page(
        request,
        "catalogue.html",
        section=section_key,
        title=title,
        rows=rows,
        q=text,
        base=base,
        mine=publisher_id is not None,
    )


def _product_page(request: Request, member: StaffMember, ref: str, base: str, section_key: str) -> Response:
    publisher_id = member.publisher_id if member.role == "publisher" else None
    if not ref.isdigit():
        return admin_page(request, "missing.html", section=section_key, status_code=NOT_FOUND, what=f"product {ref}")
    try:
        detail = catalogue_view.product_detail(ctx_of(request), int(ref), publisher_id)
    except catalogue_view.ProductNotFound:
        return admin_page(request, "missing.html", section=section_key, status_code=NOT_FOUND, what=f"product {ref}")
    return admin_page(
        request, "product.html", section=section_key, title=f"{detail.row.ref} {detail.row.name}", p=detail, base=base
    )


@router.get("/admin/catalogue", name="adminCatalogue")
def catalogue(request: Request, member: StaffMember = Depends(section("catalogue"))) -> Response:
    return _products_page(request, member, "/admin/catalogue", "catalogue")


@router.get("/admin/catalogue/{ref}", name="adminProduct")
def product(ref: str, request: Request, member: StaffMember = Depends(section("catalogue"))) -> Response:
    return _product_page(request, member, ref, "/admin/catalogue", "catalogue")


@router.get("/admin/products", name="adminMyProducts")
def my_products(request: Request, member: StaffMember = Depends(section("products"))) -> Response:
    return _products_page(request, member, "/admin/products", "products")


@router.get("/admin/products/{ref}", name="adminMyProduct")
def my_product(ref: str, request: Request, member: StaffMember = Depends(section("products"))) -> Response:
    return _product_page(request, member, ref, "/admin/products", "products")


# ---------------------------------------------------------------- merchants


@router.get("/admin/merchants", name="adminMerchants")
def merchant_list(request: Request, member: StaffMember = Depends(section("catalogue"))) -> Response:
    rows = merchants.list_merchants(ctx_of(request))
    return admin_page(request, "merchants.html", section="catalogue", title="Merchants", rows=rows)


async def _merchant_page(request: Request, realm: str, status_code: int = 200, **values: Any) -> Response:
    try:
        detail = await run_in_threadpool(merchants.merchant_detail, ctx_of(request), realm)
    except merchants.MerchantError:
        return admin_page(request, "missing.html", section="catalogue", status_code=NOT_FOUND, what=f"merchant {realm}")
    _, brand = await run_in_threadpool(branding.current, ctx_of(request), realm)
    values = {"error": None, "notice": None, "brand": brand, "brand_form": None, "brand_labels": LABELS, **values}
    return admin_page(
        request,
        "merchant.html",
        section="catalogue",
        title=f"Merchant {detail.realm}",
        status_code=status_code,
        m=detail,
        **values,
    )


@router.get("/admin/merchants/{realm}", name="adminMerchant")
async def merchant(realm: str, request: Request, member: StaffMember = Depends(section("catalogue"))) -> Response:
    return await _merchant_page(request, realm)


def _confirmed(form: FormData) -> bool:
    return form_text(form, "confirm", 10) == "yes"


def _confirm_page(
    request: Request,
    realm: str,
    action: str,
    question: str,
    warning: str,
    button: str,
    fields: list[tuple[str, str]] | None = None,
) -> Response:
    """`fields`: the form's values, carried by the confirmation form as hidden fields."""
    return admin_page(
        request,
        "confirm.html",
        section="catalogue",
        title="Please confirm",
        realm=realm,
        action=action,
        question=question,
        warning=warning,
        button=button,
        fields=fields or [],
    )


def _secret_page(request: Request, realm: str, what: str, secret: str, note: str, sandbox_secret: str = "") -> Response:
    return admin_page(
        request,
        "secret.html",
        section="catalogue",
        title="New secret",
        realm=realm,
        what=what,
        secret=secret,
        note=note,
        sandbox_secret=sandbox_secret,
    )


def _catalog(detail: merchants.MerchantDetail, catalog_id: str) -> merchants.CatalogInfo | None:
    return next((c for c in detail.catalogs if str(c.catalog_id) == catalog_id), None)


async def _detail(request: Request, realm: str) -> merchants.MerchantDetail | None:
    try:
        return await run_in_threadpool(merchants.merchant_detail, ctx_of(request), realm)
    except merchants.MerchantError:
        return None


async def _catalog_of(request: Request, realm: str, catalog_id: str) -> merchants.CatalogInfo | Response:
    """The merchant's catalogue an action names, or the 404 page when the merchant or it is unknown."""
    detail = await _detail(request, realm)
    chosen = _catalog(detail, catalog_id) if detail else None
    if chosen is not None:
        return chosen
    return admin_page(
        request, "missing.html", section="catalogue", status_code=NOT_FOUND, what=f"catalogue {catalog_id} of {realm}"
    )


@router.post("/admin/merchants/{realm}/client-secret", name="adminRotateClientSecret")
async def rotate_client_secret(
    realm: str, request: Request, member: StaffMember = Depends(section("catalogue"))
) -> Response:
    form = await request.form()
    if await _detail(request, realm) is None:
        return admin_page(request, "missing.html", section="catalogue", status_code=NOT_FOUND, what=f"merchant {realm}")
    if not _confirmed(form):
        return _confirm_page(
            request,
            realm,
            f"/admin/merchants/{realm}/client-secret",
            f"Give merchant {realm} a new API client secret?",
            "The current client secret stops working at once: the merchant's systems cannot sign in "
            "(/iam/tokens) until they use the new one, and its refresh tokens are revoked.",
            "Rotate client secret",
        )
    try:
        rotated = await run_in_threadpool(
            lambda: merchants.rotate_client_secret(ctx_of(request), realm, actor=actor(member))
        )
    except merchants.MerchantError as exc:  # removed meanwhile
        return await _merchant_page(request, realm, 409, error=_sentence(exc))
    return _secret_page(
        request,
        realm,
        f"API client secret of {realm}",
        rotated.secret,
        f"{rotated.refresh_tokens_revoked} refresh token(s) revoked. The old client secret no longer signs in.",
    )


@router.post("/admin/merchants/{realm}/catalogues/{catalog_id}/secret", name="adminRotateCatalogSecret")
async def rotate_catalog_secret(
    realm: str, catalog_id: str, request: Request, member: StaffMember = Depends(section("catalogue"))
) -> Response:
    form = await request.form()
    chosen = await _catalog_of(request, realm, catalog_id)
    if not isinstance(chosen, merchants.CatalogInfo):
        return chosen  # the "not found" page
    if not _confirmed(form):
        return _confirm_page(
            request,
            realm,
            f"/admin/merchants/{realm}/catalogues/{catalog_id}/secret",
            f"Give catalogue “{chosen.name}” ({chosen.currency}, id {chosen.catalog_id}) of {realm} a new secret?",
            "The current catalogue secret stops working at once: every Connect call sent with it is refused "
            "until the merchant uses the new one.",
            "Rotate catalogue secret",
        )
    try:
        rotated = await run_in_threadpool(
            lambda: merchants.rotate_catalog_secret(ctx_of(request), realm, str(chosen.catalog_id), actor=actor(member))
        )
    except merchants.MerchantError as exc:  # removed meanwhile
        return await _merchant_page(request, realm, 409, error=_sentence(exc))
    return _secret_page(
        request,
        realm,
        f"secret of catalogue “{rotated.catalog}” ({chosen.currency}) of {realm}",
        rotated.secret,
        "The old catalogue secret is refused from now on.",
    )


@router.post("/admin/merchants/{realm}/catalogues/{catalog_id}/remove", name="adminRemoveCatalog")
async def remove_catalog(
    realm: str, catalog_id: str, request: Request, member: StaffMember = Depends(section("catalogue"))
) -> Response:
    form = await request.form()
    chosen = await _catalog_of(request, realm, catalog_id)
    if not isinstance(chosen, merchants.CatalogInfo):
        return chosen  # the "not found" page
    if not _confirmed(form):
        return _confirm_page(
            request,
            realm,
            f"/admin/merchants/{realm}/catalogues/{catalog_id}/remove",
            f"Remove catalogue “{chosen.name}” ({chosen.currency}, id {chosen.catalog_id}) of {realm}?",
            "Its product list, feed settings and feed history are deleted; its secret stops working. "
            "A catalogue with orders cannot be removed.",
            "Remove catalogue",
        )
    try:
        name = await run_in_threadpool(
            lambda: merchants.remove_catalog(ctx_of(request), realm, str(chosen.catalog_id), actor=actor(member))
        )
    except merchants.MerchantError as exc:
        return await _merchant_page(request, realm, 409, error=_sentence(exc))
    return await _merchant_page(request, realm, notice=f"Catalogue “{name}” removed.")


def _refs(text: str) -> list[int] | None:
    """Product refs typed as "1001, 1002 1003"; None when one is not a number."""
    parts = text.replace(",", " ").split()
    return [int(p) for p in parts] if all(p.isdigit() for p in parts) else None


@router.post("/admin/merchants/{realm}/catalogues/{catalog_id}/products", name="adminCatalogProducts")
async def change_products(
    realm: str, catalog_id: str, request: Request, member: StaffMember = Depends(section("catalogue"))
) -> Response:
    form = await request.form()
    chosen = await _catalog_of(request, realm, catalog_id)
    if not isinstance(chosen, merchants.CatalogInfo):
        return chosen  # the "not found" page
    add, remove = _refs(form_text(form, "add", 2000)), _refs(form_text(form, "remove", 2000))
    if add is None or remove is None:
        return await _merchant_page(
            request, realm, 400, error="Product refs are numbers, separated by commas or spaces."
        )
    try:
        added, removed = await run_in_threadpool(
            lambda: merchants.change_catalog_products(
                ctx_of(request),
                realm,
                chosen.currency,
                add,
                remove,
                actor=actor(member),
                catalog_name=str(chosen.catalog_id),
            )
        )
    except merchants.MerchantError as exc:
        return await _merchant_page(request, realm, 400, error=_sentence(exc))
    return await _merchant_page(
        request,
        realm,
        notice=f"Catalogue “{chosen.name}”: added {_list(added)}, removed {_list(removed)}.",
    )


@router.post("/admin/merchants/{realm}/catalogues", name="adminAddCatalog")
async def add_catalog(realm: str, request: Request, member: StaffMember = Depends(section("catalogue"))) -> Response:
    form = await request.form()
    name, currency = form_text(form, "name", 200), form_text(form, "currency", 3)
    refs = _refs(form_text(form, "products", 2000))
    period = form_text(form, "cancel_period_days", 4)
    if not name or not currency or refs is None or (period and not period.isdigit()):
        return await _merchant_page(
            request, realm, 400, error="A catalogue needs a name, a currency and product refs given as numbers."
        )
    spec = merchants.CatalogSpec(name, currency, refs, int(period) if period else None)
    try:
        made = await run_in_threadpool(lambda: merchants.add_catalog(ctx_of(request), realm, spec, actor=actor(member)))
    except merchants.MerchantError as exc:
        return await _merchant_page(request, realm, 400, error=_sentence(exc))
    return _secret_page(
        request,
        realm,
        f"secret of the new catalogue “{made.name}” ({made.currency}) of {realm}",
        made.secret,
        f"It sells {len(made.product_refs)} product(s).",
        made.sandbox_secret,
    )


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _list(refs: list[int]) -> str:
    return ", ".join(map(str, refs)) if refs else "none"


@router.post("/admin/merchants/{realm}/branding", name="adminMerchantBranding")
async def set_branding(realm: str, request: Request, member: StaffMember = Depends(section("catalogue"))) -> Response:
    """The shop's name and look: every field of the form is the new value ("" clears it)."""
    form = await request.form()
    if await _detail(request, realm) is None:
        return admin_page(request, "missing.html", section="catalogue", status_code=NOT_FOUND, what=f"merchant {realm}")
    changes: dict[str, str | None] = {name: form_text(form, name, 600) for name in FIELDS}
    typed = dict(changes)
    if not _confirmed(form):
        _, now_set = await run_in_threadpool(branding.current, ctx_of(request), realm)
        try:
            after = check(now_set, changes)
        except BrandingError as exc:
            return await _merchant_page(request, realm, 400, error=_sentence(exc), brand_form=typed)
        shown = [f"{LABELS[n]}: {getattr(after, n) or '(not set)'}" for n in FIELDS]
        return _confirm_page(
            request,
            realm,
            f"/admin/merchants/{realm}/branding",
            f"Change how merchant {realm}'s shop appears to its end users? " + "; ".join(shown) + ".",
            "Delivery emails sent from now on and the digital locker show these at once.",
            "Save branding",
            fields=[(n, getattr(after, n) or "") for n in FIELDS],
        )
    try:
        await run_in_threadpool(lambda: branding.set_branding(ctx_of(request), realm, changes, actor=actor(member)))
    except BrandingError as exc:
        return await _merchant_page(request, realm, 400, error=_sentence(exc), brand_form=typed)
    except branding.UnknownMerchant:
        return admin_page(request, "missing.html", section="catalogue", status_code=NOT_FOUND, what=f"merchant {realm}")
    return await _merchant_page(request, realm, notice="Branding saved.")
