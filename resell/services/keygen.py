"""Serials from a publisher's key generator, fetched during createOrder.

Protocol (docs/fulfilment.md): `POST keygen_url` with JSON `{"requestId", "productRef", "quantity"}`,
signed per Standard Webhooks with the publisher's key (resell.domain.signing); the publisher answers
200 with `{"serials": ["...", ...]}`, exactly `quantity` distinct keys. Each call has a timeout and
is retried (same requestId, so a publisher can answer a retry with the keys it already made) on
transport errors, 429 and 5xx, RESELL_KEYGEN_ATTEMPTS calls in all, after the pauses of
resell.domain.retry.KEYGEN. Any failure refuses the whole order with 1051, among them a URL that does
not lead to a public address (resell.outbound; RESELL_WEBHOOK_ALLOW_PRIVATE=true for a local generator).

The calls happen outside any database transaction: createOrder (and a renewal) plans the order,
calls the generators, then records the order with the keys in one transaction (resell.services.
order_writer). Keys that end up unused (the order was refused after all, or a concurrent worker
renewed the same subscription first) are reported back to the publisher through the outbox, like
revoked ones.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, select

from resell import outbound
from resell.db.tables import serials
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.retry import KEYGEN
from resell.domain.signing import check_publisher_url, publisher_secret, signed_headers
from resell.logs import get_logger
from resell.outbound import AddressRefused
from resell.services.context import Context, utc_now
from resell.services.outbox import enqueue

log = get_logger("resell.keygen")

MAX_SERIAL_LENGTH = 500


@dataclass(frozen=True)
class KeyRequest:
    product_id: int
    product_ref: int
    publisher: str  # the publisher's key
    url: str | None
    quantity: int
    request_id: str


class KeygenFailed(Exception):
    pass


def requests_for(lines: Iterable[tuple[Any, int]]) -> list[KeyRequest]:
    """One request per generator product among (product row, quantity) pairs, quantities added up."""
    wanted: dict[int, list[Any]] = {}
    for product, quantity in lines:
        if product.serial_source != "generator":
            continue
        if product.id in wanted:
            wanted[product.id][1] += quantity
        else:
            wanted[product.id] = [product, quantity]
    return [
        KeyRequest(p.id, p.ref, p.publisher_key, p.keygen_url, n, str(uuid.uuid4()))
        for p, n in (wanted[pid] for pid in sorted(wanted))
    ]


@dataclass(frozen=True)
class Keys:
    """Keys generated for an order before it is written: the requests, and the serials per product id."""

    requests: list[KeyRequest] = field(default_factory=list)
    generated: dict[int, list[str]] = field(default_factory=dict)

    def fit(self, needed: list[KeyRequest]) -> bool:
        """Whether these keys are exactly what an order needing `needed` takes."""
        have = {r.product_id: len(self.generated.get(r.product_id, ())) for r in self.requests}
        return have == {r.product_id: r.quantity for r in needed}


NO_KEYS = Keys()


def fetch(ctx: Context, requests: list[KeyRequest]) -> Keys:
    """Ask the generators (outside any transaction); Refusal(LICENCES_NOT_AVAILABLE) when one fails."""
    return Keys(requests, generate(ctx, requests)) if requests else NO_KEYS


def _serials_from(reply: httpx.Response, quantity: int) -> list[str]:
    try:
        data = orjson.loads(reply.content)
    except orjson.JSONDecodeError:
        raise KeygenFailed("the reply is not JSON") from None
    values = data.get("serials") if isinstance(data, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise KeygenFailed("the reply has no list of serials")
    cleaned = [v.strip() for v in values]
    if len(cleaned) != quantity:
        raise KeygenFailed(f"asked for {quantity} serials, got {len(cleaned)}")
    if any(not v or len(v) > MAX_SERIAL_LENGTH for v in cleaned) or len(set(cleaned)) != len(cleaned):
        raise KeygenFailed("empty, overlong or repeated serials")
    return cleaned


def _call(ctx: Context, client: httpx.Client, request: KeyRequest) -> list[str]:
    if not request.url:
        raise KeygenFailed(f"publisher {request.publisher!r} has no key generator URL")
    url = check_publisher_url(request.url)
    secret = publisher_secret(ctx.settings.effective_publisher_key, request.publisher)
    body = orjson.dumps(
        {"requestId": request.request_id, "productRef": request.product_ref, "quantity": request.quantity}
    ).decode()
    policy = KEYGEN.with_attempts(ctx.settings.keygen_attempts)
    attempt = 0
    while True:
        attempt += 1
        headers = {"Content-Type": "application/json", **signed_headers(secret, request.request_id, utc_now(), body)}
        try:
            reply = client.post(url, content=body, headers=headers)
        except AddressRefused as refused:  # not a public address: asking again changes nothing
            raise KeygenFailed(str(refused)) from None
        except httpx.TransportError as exc:  # connection refused, timeouts...
            error = f"{type(exc).__name__}: {exc}"
        else:
            if reply.status_code != 429 and reply.status_code < 500:
                if reply.status_code != 200:
                    raise KeygenFailed(f"HTTP {reply.status_code}")
                return _serials_from(reply, request.quantity)
            error = f"HTTP {reply.status_code}"
        pause = policy.next_delay(attempt)
        if pause is None:
            raise KeygenFailed(f"{attempt} attempts failed, last: {error}")
        time.sleep(pause.total_seconds())  # a short pause between attempts, within the request


def generate(ctx: Context, requests: list[KeyRequest]) -> dict[int, list[str]]:
    """Serials per product id, or Refusal(LICENCES_NOT_AVAILABLE); keys already made for other products
    are handed back."""
    generated: dict[int, list[str]] = {}
    timeout = httpx.Timeout(ctx.settings.keygen_timeout_seconds)
    with outbound.client(ctx.settings.webhook_allow_private, timeout) as client:
        for request in requests:
            try:
                generated[request.product_id] = _call(ctx, client, request)
            except (KeygenFailed, ValueError) as exc:
                log.warning(
                    "keygen_failed", publisher=request.publisher, product_ref=request.product_ref, error=str(exc)
                )
                release(ctx, Keys(requests, generated))
                raise Refusal(codes.LICENCES_NOT_AVAILABLE) from None
    return generated


def store(conn: Connection, now: dt.datetime, keys: Keys) -> dict[int, list[tuple[int, str]]]:
    """Record generated serials as assigned stock; (serial id, value) per product for the order's line items."""
    pools: dict[int, list[tuple[int, str]]] = {}
    for request in keys.requests:
        values = keys.generated[request.product_id]
        taken = conn.execute(
            select(serials.c.value).where(serials.c.product_id == request.product_id, serials.c.value.in_(values))
        ).first()
        if taken is not None:  # a key handed out once is never handed out again
            log.warning("keygen_repeated_serial", publisher=request.publisher, product_ref=request.product_ref)
            raise Refusal(codes.LICENCES_NOT_AVAILABLE)
        conn.execute(
            serials.insert(),
            [{"product_id": request.product_id, "value": v, "status": "assigned", "imported_at": now} for v in values],
        )
        ids = dict(
            conn.execute(
                select(serials.c.value, serials.c.id).where(
                    serials.c.product_id == request.product_id, serials.c.value.in_(values)
                )
            ).all()
        )
        pools[request.product_id] = [(ids[v], v) for v in values]
    return pools


def release(ctx: Context, keys: Keys) -> None:
    """Tell publishers (through the outbox) about the keys they generated that no order holds: those of
    an order refused after all, or of a renewal another worker made first. Safe to call for keys an
    order did take: those are in stock, and left alone."""
    if not any(keys.generated.values()):
        return
    now = ctx.now()
    with ctx.db.write() as conn:
        for request in keys.requests:
            values = keys.generated.get(request.product_id) or []
            if values:  # a key the publisher repeated may belong to another order: that one stays theirs
                taken = set(
                    conn.execute(
                        select(serials.c.value).where(
                            serials.c.product_id == request.product_id, serials.c.value.in_(values)
                        )
                    ).scalars()
                )
                values = [v for v in values if v not in taken]
            if values:
                enqueue(
                    conn,
                    now,
                    "publisher.serials_revoked",
                    {
                        "publisher": request.publisher,
                        "orderNumber": None,
                        "reason": "order_not_created",
                        "requestId": request.request_id,
                        "serials": [{"productRef": request.product_ref, "serial": v} for v in values],
                    },
                )
