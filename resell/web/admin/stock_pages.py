"""`/admin/stock`: every serial pool (available / assigned / revoked, level, threshold), the threshold
form, and serial import by upload.

Admins see every pool, a publisher account its own publisher's only (and may change only those).
The upload goes through the same service as `resell stock import` (resell.services.stock), so the
file is checked whole first (header line, bytes that are not UTF-8, separators: refused with the
line numbers, nothing stored) and duplicates are skipped and counted. Its body has a limit of its
own, `RESELL_ADMIN_IMPORT_MAX_BYTES` (IMPORT_PATH, applied by resell/api/body_limit.py). The page's
own script (static/upload.js) shows the upload's progress; without it the form posts as usual.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from resell.services import stock, stock_pools
from resell.web.admin.kit import StaffMember, actor, admin_page, ctx_of, form_text, section, see_other

router = APIRouter(include_in_schema=False)
IMPORT_PATH = "/admin/stock/import"


def _pools(request: Request, member: StaffMember) -> list[stock_pools.Pool]:
    return stock_pools.pools(ctx_of(request), publisher_id=member.publisher_id)


async def _page(request: Request, member: StaffMember, status_code: int = 200, **values: Any) -> Response:
    found = await run_in_threadpool(_pools, request, member)
    for name in ("chosen", "changed", "error", "refused", "result", "file_name", "product"):
        values.setdefault(name, None)
    return admin_page(
        request,
        "stock.html",
        section="stock",
        status_code=status_code,
        pools=found,
        import_limit=ctx_of(request).settings.admin_import_max_bytes,
        **values,
    )


def _ref(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 12 else None


async def _own_pool(request: Request, member: StaffMember, ref: int | None) -> stock_pools.Pool | None:
    """The pool of `ref` if this member may act on it (a publisher: its own products only)."""
    if ref is None:
        return None
    found = await run_in_threadpool(_pools, request, member)
    return next((p for p in found if p.ref == ref), None)


@router.get("/admin/stock", name="adminStock")
async def stock_page(request: Request, member: StaffMember = Depends(section("stock"))) -> Response:
    changed = _ref(request.query_params.get("changed", ""))
    return await _page(request, member, changed=changed)


@router.post("/admin/stock/threshold", name="adminStockThreshold")
async def threshold(request: Request, member: StaffMember = Depends(section("stock"))) -> Response:
    form = await request.form()
    ref, value = _ref(form_text(form, "ref", 20)), form_text(form, "threshold", 20)
    if await _own_pool(request, member, ref) is None:
        return await _page(request, member, 400, error="There is no such serial pool.")
    if not value.isdigit() or int(value) > stock_pools.MAX_THRESHOLD:
        return await _page(
            request, member, 400, error=f"The threshold must be a whole number from 0 to {stock_pools.MAX_THRESHOLD}."
        )
    assert ref is not None
    try:
        await run_in_threadpool(
            lambda: stock_pools.set_threshold(ctx_of(request), ref, int(value), actor=actor(member))
        )
    except stock_pools.PoolError as exc:
        return await _page(request, member, 400, error=str(exc).capitalize() + ".")
    return see_other(f"/admin/stock?changed={ref}#pool-{ref}")


@router.post(IMPORT_PATH, name="adminStockImport")
async def import_serials(request: Request, member: StaffMember = Depends(section("stock"))) -> Response:
    form = await request.form()  # parsed already by the guard's CSRF check: the file is spooled to disk
    ref = _ref(form_text(form, "ref", 20))
    upload = form.get("file")
    pool = await _own_pool(request, member, ref)
    if pool is None:
        return await _page(request, member, 400, error="Choose a product with a serial pool.")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _page(request, member, 400, error="Choose a file of serials, one per line.", chosen=pool.ref)
    lines = stock.SerialStream(upload.file)  # type: ignore[arg-type]
    try:
        result = await run_in_threadpool(
            lambda: stock.import_serials(ctx_of(request), pool.ref, lines, actor=actor(member))
        )
    except stock.StockError as exc:
        return await _page(
            request, member, 400, refused=str(exc), file_name=upload.filename, chosen=pool.ref, product=pool
        )
    finally:
        await upload.close()
    return await _page(request, member, result=result, file_name=upload.filename, chosen=pool.ref, product=pool)
