"""`/admin/deliveries`: the outbox (emails, webhook deliveries, publisher callbacks, events) with its
state, attempts, last error and times, filtered by state, kind and order, newest first in keyset
pages; "Redeliver" on a failed or delivered row (resell.services.deliveries.redeliver, audited).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from starlette.responses import Response

from resell.domain.staff import may_open
from resell.domain.webhooks import DELIVERY_KIND
from resell.services import deliveries
from resell.web.admin.kit import StaffMember, actor, admin_page, ctx_of, form_text, section, see_other

router = APIRouter(include_in_schema=False)
# the kind filter: what people call a kind -> the outbox kinds it stands for
KINDS = {
    "email": [deliveries.EMAIL],
    "webhook": [DELIVERY_KIND],
    "publisher callback": [deliveries.PUBLISHER_CALLBACK],
}


def _number(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def _filters(params: ImmutableMultiDict[str, str] | Any) -> dict[str, str]:
    """The known filters of a query string (or form), checked: unknown values are dropped."""
    found = {}
    if (state := str(params.get("state", ""))) in deliveries.STATES:
        found["state"] = state
    if (kind := str(params.get("kind", ""))) in KINDS:
        found["kind"] = kind
    if (order := _number(str(params.get("order", "")))) is not None:
        found["order"] = str(order)
    return found


@router.get("/admin/deliveries", name="adminDeliveries")
def deliveries_page(request: Request, member: StaffMember = Depends(section("deliveries"))) -> Response:
    filters = _filters(request.query_params)
    before = _number(request.query_params.get("before", ""))
    page = deliveries.listing(
        ctx_of(request),
        state=filters.get("state"),
        kinds=KINDS[filters["kind"]] if "kind" in filters else None,
        order_number=int(filters["order"]) if "order" in filters else None,
        before=before,
    )
    return admin_page(
        request,
        "deliveries.html",
        section="deliveries",
        page=page,
        filters=filters,
        states=deliveries.STATES,
        kinds=list(KINDS),
        query=urlencode(filters),
        older=urlencode({**filters, "before": page.next_after}) if page.next_after else None,
        paged=before is not None,
        redeliverable=deliveries.REDELIVERABLE,
        redelivered=_number(request.query_params.get("redelivered", "")),
        error=request.query_params.get("error") == "1",
        order_links=may_open(member.role, "orders"),
    )


@router.post("/admin/deliveries/{outbox_id}/redeliver", name="adminDeliveryRedeliver")
async def redeliver(outbox_id: int, request: Request, member: StaffMember = Depends(section("deliveries"))) -> Response:
    form = await request.form()
    back = _filters({name: form_text(form, name, 40) for name in ("state", "kind", "order")})
    try:
        await run_in_threadpool(lambda: deliveries.redeliver(ctx_of(request), outbox_id, actor=actor(member)))
    except deliveries.DeliveryError:
        return see_other("/admin/deliveries?" + urlencode({**back, "error": "1"}))
    return see_other("/admin/deliveries?" + urlencode({**back, "redelivered": outbox_id}))
