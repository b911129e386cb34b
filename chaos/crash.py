"""The crash phase: SIGKILL the API (`resell serve --workers 2`, whole process group or one uvicorn worker)
and the worker (`resell worker`) at random moments under a createOrder + cancelOrder + renewal load,
restart them each time, drain the outbox, then check every invariant in the database and at the
webhook receiver.

Renewals: subscription terms are ISO 8601 date periods (P1D at the shortest) and the long-running
worker reads the real clock, so nothing would fall due during a run of a few minutes. The driver
therefore makes subscriptions due itself: a thread sets `subscriptions.next_change_at` of a few
ACTIVE subscriptions to the past, directly in the database, every ~0.5 s. The worker's renewal job then
renews them for real (new order PON-<generation>, new serial, subscription.renewed webhook).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chaos import harness
from chaos.harness import Credentials, Service, WebhookReceiver, log

SERIAL_REF = 700001  # a deep pool
SCARCE_REF = 700002  # a small pool: runs out during the run (1044 refusals)
DOWNLOAD_REF = 700003  # no serial
SUB_REF = 700005  # subscription, P1D, pooled

CATALOG: dict[str, Any] = {
    "publishers": [{"key": "chaos", "name": "Chaos Publisher"}],
    "products": [
        {
            "ref": SERIAL_REF,
            "name": "Chaos Serial",
            "publisher": "chaos",
            "serialSource": "pool",
            "deliveryMode": "download_serial",
            "files": [{"label": "Installer", "fileName": "chaos.exe", "size": 1000}],
            "prices": [{"currency": "EUR", "amountDutyFree": 10, "vatRate": 20}],
        },
        {
            "ref": SCARCE_REF,
            "name": "Chaos Scarce",
            "publisher": "chaos",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "prices": [{"currency": "EUR", "amountDutyFree": 50}],
        },
        {
            "ref": DOWNLOAD_REF,
            "name": "Chaos Download",
            "publisher": "chaos",
            "serialSource": "none",
            "deliveryMode": "download",
            "files": [{"label": "Archive", "fileName": "chaos.zip", "size": 99}],
            "prices": [{"currency": "EUR", "amountDutyFree": 5}],
        },
        {
            "ref": SUB_REF,
            "name": "Chaos Daily Subscription",
            "publisher": "chaos",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "subscriptionPeriod": "P1D",
            "prices": [{"currency": "EUR", "amountDutyFree": 1}],
        },
    ],
}
SERIALS = {SERIAL_REF: 8000, SCARCE_REF: 60, SUB_REF: 4000}
WEBHOOK_EVENTS = [
    "order.created",
    "order.cancelled",
    "subscription.renewed",
    "subscription.expired",
    "subscription.renewal_failed",
    "subscription.cancelled",
    "download.extended",
]
HTTP_TIMEOUT = 10.0
RESOLVE_DEADLINE = 120.0  # seconds after the load stops to get a definite answer for every unknown outcome


@dataclass
class Attempt:
    pon: str
    lines: list[tuple[int, int]]
    tries: int = 0
    # "ok" (201, or 1010 on a retry and then read back whole), "refused" (a refusal on the first try),
    # "unknown" (no answer yet, or a refusal only after an unanswered try: it may exist)
    outcome: str = "pending"
    refusal: int | None = None
    order_number: int | None = None
    serials: list[list[list[str]]] | None = None
    via: str = ""
    cancel: str = ""  # "" never asked | "ok" | "unknown" | "refused:<code>"
    cancel_tries: int = 0
    unanswered: bool = False  # a createOrder try was sent and got no reply
    cancel_unanswered: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadStats:
    creates_sent: int = 0
    cancels_sent: int = 0
    transport_errors: int = 0  # connection refused: the request never left
    unanswered: int = 0  # sent, no reply: the outcome is unknown
    five_xx: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One load thread's merchant: its own HTTP connection, its own orders."""

    def __init__(self, base_url: str, tok: str, secret: str, name: str, stats: LoadStats):
        self.http = httpx.Client(
            verify=harness.TLS,
            base_url=base_url,
            timeout=HTTP_TIMEOUT,
            headers={"Authorization": f"Bearer {tok}", "secret": secret},
        )
        self.name = name
        self.stats = stats
        self.attempts: list[Attempt] = []
        self.unresolved: list[Attempt] = []  # creates without a definite answer
        self.cancel_unresolved: list[Attempt] = []
        self.n = 0

    # -- createOrder

    def new_attempt(self) -> Attempt:
        self.n += 1
        lines: list[tuple[int, int]] = [(SERIAL_REF, random.choice([1, 1, 2]))]
        if random.random() < 0.35:
            lines.append((SUB_REF, random.choice([1, 1, 2])))
        if random.random() < 0.3:
            lines.append((DOWNLOAD_REF, 1))
        if random.random() < 0.1:
            lines.append((SCARCE_REF, 1))
        random.shuffle(lines)
        attempt = Attempt(f"{self.name}-{self.n}", lines)
        self.attempts.append(attempt)
        return attempt

    def create(self, attempt: Attempt) -> bool:
        """One try; True when the outcome is now definite."""
        attempt.tries += 1
        with self.stats.lock:
            self.stats.creates_sent += 1
        try:
            reply = self.http.post("/connect/order/new", json=harness.order_body(attempt.pon, attempt.lines))
        except httpx.TransportError as exc:
            attempt.unanswered = attempt.unanswered or not isinstance(exc, httpx.ConnectError)
            return self._unknown(attempt, f"create try {attempt.tries}: {type(exc).__name__}", exc)
        if reply.status_code >= 500:
            with self.stats.lock:
                self.stats.five_xx.append(f"createOrder {attempt.pon}: HTTP {reply.status_code} {reply.text[:300]}")
            return self._unknown(attempt, f"HTTP {reply.status_code}")
        data = reply.json()
        code = data.get("responseCode")
        if reply.status_code == 201 and code == 0:
            attempt.outcome, attempt.via = "ok", "201"
            attempt.order_number = data["orderNumber"]
            attempt.serials = harness.reply_serials(data)
            return True
        if code == 1010:
            if attempt.tries == 1:
                self._anomaly(f"{attempt.pon}: 1010 on the first createOrder of a fresh partnerOrderNumber")
            return self._read_back(attempt)
        if attempt.tries == 1:
            attempt.outcome, attempt.refusal = "refused", code
        else:  # refused now, but an earlier try may have created it (1044 is checked before the duplicate)
            attempt.outcome, attempt.refusal = "unknown", code
            attempt.notes.append(f"refused {code} after an unanswered try")
        return True

    def _read_back(self, attempt: Attempt) -> bool:
        try:
            reply = self.http.get(f"/connect/order/{attempt.pon}")
        except httpx.TransportError:
            return self._unknown(attempt, "getOrderData unanswered")
        if reply.status_code >= 500:
            with self.stats.lock:
                self.stats.five_xx.append(f"getOrderData {attempt.pon}: HTTP {reply.status_code} {reply.text[:300]}")
            return self._unknown(attempt, f"getOrderData HTTP {reply.status_code}")
        data = reply.json()
        if data.get("responseCode") != 0:
            self._anomaly(f"{attempt.pon}: createOrder said 1010 but getOrderData says {data.get('responseCode')}")
            attempt.outcome = "unknown"
            return True
        attempt.outcome, attempt.via = "ok", "1010+getOrderData"
        attempt.order_number = data["orderNumber"]
        attempt.serials = harness.reply_serials(data)
        return True

    def _unknown(self, attempt: Attempt, why: str, exc: Exception | None = None) -> bool:
        attempt.outcome = "unknown"
        attempt.notes.append(why)
        with self.stats.lock:
            if isinstance(exc, httpx.ConnectError):
                self.stats.transport_errors += 1
            else:
                self.stats.unanswered += 1
        return False

    def _anomaly(self, text: str) -> None:
        with self.stats.lock:
            self.stats.anomalies.append(text)

    # -- cancelOrder

    def cancel(self, attempt: Attempt) -> bool:
        attempt.cancel_tries += 1
        with self.stats.lock:
            self.stats.cancels_sent += 1
        try:
            reply = self.http.put(
                "/connect/order/cancel", json={"partnerOrderNumber": attempt.pon, "reasonCode": 3, "comment": "chaos"}
            )
        except httpx.TransportError as exc:
            attempt.cancel = "unknown"
            attempt.notes.append(f"cancel try {attempt.cancel_tries}: {type(exc).__name__}")
            with self.stats.lock:
                if isinstance(exc, httpx.ConnectError):
                    self.stats.transport_errors += 1
                else:
                    attempt.cancel_unanswered = True
                    self.stats.unanswered += 1
            return False
        if reply.status_code >= 500:
            with self.stats.lock:
                self.stats.five_xx.append(f"cancelOrder {attempt.pon}: HTTP {reply.status_code} {reply.text[:300]}")
            attempt.cancel = "unknown"
            return False
        code = reply.json().get("responseCode")
        if code == 0:
            attempt.cancel = "ok"
        elif code == 1011 and attempt.cancel_tries > 1:
            attempt.cancel = "ok"  # an unanswered try did cancel it
        else:
            attempt.cancel = f"refused:{code}"
            if code == 1011:
                self._anomaly(f"{attempt.pon}: first cancelOrder answered 1011 (already cancelled)")
        return True

    # -- the loop

    def step(self) -> None:
        if self.unresolved:
            attempt = self.unresolved[0]
            if self.create(attempt):
                self.unresolved.pop(0)
            else:
                time.sleep(0.2)
            return
        if self.cancel_unresolved:
            attempt = self.cancel_unresolved[0]
            if self.cancel(attempt):
                self.cancel_unresolved.pop(0)
            else:
                time.sleep(0.2)
            return
        cancellable = [a for a in self.attempts[-40:] if a.outcome == "ok" and not a.cancel]
        if cancellable and random.random() < 0.2:
            attempt = random.choice(cancellable)
            if not self.cancel(attempt):
                self.cancel_unresolved.append(attempt)
            return
        attempt = self.new_attempt()
        if not self.create(attempt):
            self.unresolved.append(attempt)

    def run(self, stop: threading.Event, think: tuple[float, float]) -> None:
        while not stop.is_set():
            self.step()
            time.sleep(random.uniform(*think))

    def resolve(self, deadline: float) -> None:
        while (self.unresolved or self.cancel_unresolved) and time.monotonic() < deadline:
            self.step()


# ---------------------------------------------------------------- making subscriptions due


def make_due_loop(db_url: str, stop: threading.Event, counter: list[int]) -> None:
    """Every ~0.5 s, set a few ACTIVE subscriptions due now (next_change_at in the past)."""
    from sqlalchemy import select, update

    from resell.db.engine import Database
    from resell.db.tables import subscriptions

    db = Database(db_url, pool_size=1)
    try:
        while not stop.wait(random.uniform(0.4, 0.8)):
            now = dt.datetime.now(dt.UTC)
            try:
                with db.read() as conn:
                    ids = list(
                        conn.execute(
                            select(subscriptions.c.id)
                            .where(subscriptions.c.status == "ACTIVE", subscriptions.c.next_change_at > now)
                            .order_by(subscriptions.c.id.desc())
                            .limit(200)
                        ).scalars()
                    )
                chosen = random.sample(ids, min(len(ids), random.randint(1, 4)))
                if not chosen:
                    continue
                with db.write() as conn:
                    done = conn.execute(
                        update(subscriptions)
                        .where(subscriptions.c.id.in_(chosen), subscriptions.c.status == "ACTIVE")
                        .values(next_change_at=now - dt.timedelta(seconds=1))
                    ).rowcount
                counter[0] += done
            except Exception as exc:  # noqa: BLE001 - keep going; the checks will tell
                log(f"make-due: {type(exc).__name__}: {exc}")
    finally:
        db.dispose()


# ---------------------------------------------------------------- the killer


@dataclass
class KillLog:
    kills: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    timeline: list[str] = field(default_factory=list)


def killer(
    api: Service, worker: Service, kills: int, gap: tuple[float, float], stop: threading.Event, record: KillLog
) -> None:
    started = time.monotonic()
    for n in range(1, kills + 1):
        if stop.wait(random.uniform(*gap)):
            return
        target = random.choices(["api-group", "api-worker", "worker"], weights=[3, 3, 4])[0]
        at = time.monotonic() - started
        if target == "api-group":
            api.kill_group()
            time.sleep(random.uniform(0, 0.5))
            api.restart()
            record.restarts += 1
        elif target == "api-worker":
            victim = api.kill_child()
            if victim is None:  # master not up with children yet: kill everything instead
                target = "api-group"
                api.kill_group()
                api.restart()
                record.restarts += 1
            else:
                time.sleep(1.0)  # the uvicorn master notices within 0.5 s and starts a replacement
                api.wait_healthy()
        else:
            worker.kill_group()
            time.sleep(random.uniform(0, 0.5))
            worker.start()
            record.restarts += 1
        record.kills[target] += 1
        record.timeline.append(f"{at:6.1f}s kill {n:2d}: {target}")
        log(f"kill {n}/{kills}: {target} at {at:.1f} s")


# ---------------------------------------------------------------- draining the outbox


def pending_outbox(db_url: str) -> int:
    from sqlalchemy import func, select

    from resell.db.engine import Database
    from resell.db.tables import outbox

    db = Database(db_url, pool_size=1)
    try:
        with db.read() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
                ).scalar_one()
            )
    finally:
        db.dispose()


def drain(env: dict[str, str]) -> list[str]:
    """`resell worker --once --now T` with T moving past the worker's 5-minute lease (events claimed by a
    killed worker) and the first retries, until nothing is left undelivered."""
    passes = []
    for ahead in (dt.timedelta(minutes=10), dt.timedelta(minutes=30), dt.timedelta(hours=2), dt.timedelta(hours=6)):
        when = (dt.datetime.now(dt.UTC) + ahead).replace(microsecond=0).isoformat()
        printed = harness.resell(env, "worker", "--once", "--now", when).strip()
        passes.append(f"--now +{ahead}: {printed}")
        if pending_outbox(env["RESELL_DATABASE_URL"]) == 0:
            break
    return passes


# ---------------------------------------------------------------- the checks


def _rows(conn: Any, table: Any) -> list[Any]:
    from sqlalchemy import select

    return list(conn.execute(select(table)).all())


def check(
    db_url: str,
    attempts: list[Attempt],
    stats: LoadStats,
    receiver: WebhookReceiver,
    imported: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Every invariant, from the database and the receiver; `imported`: serials imported per product
    ref (default SERIALS, this phase's; tests/test_many_nodes.py passes its own)."""
    from resell.db.engine import Database
    from resell.db.tables import line_items, order_lines, orders, outbox, products, serial_assignments, serials
    from resell.db.tables import subscriptions as subs_table

    db = Database(db_url, pool_size=1)
    with db.read() as conn:
        all_orders = _rows(conn, orders)
        all_lines = _rows(conn, order_lines)
        all_items = _rows(conn, line_items)
        all_assign = _rows(conn, serial_assignments)
        all_serials = _rows(conn, serials)
        all_products = _rows(conn, products)
        all_subs = _rows(conn, subs_table)
        all_outbox = _rows(conn, outbox)
    db.dispose()

    ref_of = {p.id: p.ref for p in all_products}
    pooled_ids = {p.id for p in all_products if p.serial_source == "pool"}
    serial_by_id = {s.id: s for s in all_serials}
    assign_by_item: dict[int, list[Any]] = defaultdict(list)
    for a in all_assign:
        assign_by_item[a.line_item_id].append(a)
    items_by_line: dict[int, list[Any]] = defaultdict(list)
    for it in all_items:
        items_by_line[it.order_line_id].append(it)
    lines_by_order: dict[int, list[Any]] = defaultdict(list)
    for ln in all_lines:
        lines_by_order[ln.order_id].append(ln)
    line_by_id = {ln.id: ln for ln in all_lines}
    item_by_id = {it.id: it for it in all_items}
    order_by_id = {o.id: o for o in all_orders}
    order_by_pon = {o.partner_order_number: o for o in all_orders}

    failures: dict[str, list[str]] = defaultdict(list)

    def shape(order: Any) -> tuple[list[tuple[int, int]], list[list[list[str]]], list[str]]:
        """(ref, quantity) per line, serial values per line item, and what is not whole about it."""
        problems = []
        lines = sorted(lines_by_order[order.id], key=lambda ln: ln.position)
        got_lines, got_serials = [], []
        for ln in lines:
            got_lines.append((ln.product_ref, ln.quantity))
            items = sorted(items_by_line[ln.id], key=lambda it: it.position)
            if len(items) != ln.quantity:
                problems.append(f"line {ln.position}: {len(items)} line items for quantity {ln.quantity}")
            per_item = []
            for it in items:
                values = sorted(serial_by_id[a.serial_id].value for a in assign_by_item[it.id])
                want = 1 if ln.product_id in pooled_ids else 0
                if len(values) != want:
                    problems.append(f"line {ln.position} item {it.position}: {len(values)} serials, want {want}")
                per_item.append(values)
            got_serials.append(per_item)
        return got_lines, got_serials, problems

    def serial_states(order: Any) -> set[tuple[str, bool]]:
        states = set()
        for ln in lines_by_order[order.id]:
            for it in items_by_line[ln.id]:
                for a in assign_by_item[it.id]:
                    states.add((serial_by_id[a.serial_id].status, a.revoked_at is not None))
        return states

    counts: Counter[str] = Counter()
    known_pons = set()
    for att in attempts:
        known_pons.add(att.pon)
        counts[att.outcome] += 1
        order = order_by_pon.get(att.pon)
        if att.outcome == "refused":
            if order is not None:
                failures["refused orders do not exist"].append(
                    f"{att.pon} refused {att.refusal} but is order {order.id}"
                )
            continue
        if att.unanswered:
            counts[f"unanswered try, then {att.outcome} {att.via or att.refusal or ''}".strip()] += 1
        if att.cancel_unanswered:
            counts[f"unanswered cancel, then {att.cancel}"] += 1
        if att.outcome == "ok":
            counts["ok via " + att.via] += 1
            if order is None:
                failures["acknowledged orders exist and are whole"].append(
                    f"{att.pon} (order {att.order_number}) is missing"
                )
                continue
            if order.id != att.order_number:
                failures["acknowledged orders exist and are whole"].append(
                    f"{att.pon}: orderNumber {att.order_number} in the reply, {order.id} in the database"
                )
        elif order is None:  # unknown outcome, never created: fine
            counts["unknown: not created"] += 1
            continue
        else:
            counts["unknown: created"] += 1
        got_lines, got_serials, problems = shape(order)
        if got_lines != att.lines:
            problems.append(f"lines {got_lines}, requested {att.lines}")
        if att.outcome == "ok" and att.serials is not None and got_serials != att.serials:
            problems.append(f"serials {got_serials} in the database, {att.serials} in the reply")
        if problems:
            failures["acknowledged orders exist and are whole"].append(f"{att.pon}: " + "; ".join(problems))
        states = serial_states(order)
        cancelled_ok = {("revoked", True)} >= states
        active_ok = {("assigned", False)} >= states
        if att.cancel == "ok":
            counts["cancel ok"] += 1
            if order.status != "cancelled" or not cancelled_ok:
                failures["cancelled orders are cancelled, their serials revoked"].append(
                    f"{att.pon}: status {order.status}, serials {sorted(states)}"
                )
        elif att.cancel == "unknown":
            counts["cancel unknown"] += 1
            if not ((order.status == "cancelled" and cancelled_ok) or (order.status == "active" and active_ok)):
                failures["cancelled orders are cancelled, their serials revoked"].append(
                    f"{att.pon} (cancel unknown): status {order.status}, serials {sorted(states)}"
                )
        else:
            if att.cancel:
                counts["cancel " + att.cancel.split(":")[0]] += 1
            if order.status != "active" or not active_ok:
                failures["orders not cancelled are active, their serials assigned"].append(
                    f"{att.pon}: status {order.status}, serials {sorted(states)}"
                )
        if order.status == "cancelled":
            live = [
                s.id
                for s in all_subs
                if s.order_id == order.id and s.status in ("ACTIVE", "RENEWAL_PENDING", "CANCELLED")
            ]
            if live:
                failures["cancelled orders are cancelled, their serials revoked"].append(
                    f"{att.pon}: subscriptions {live} not terminated"
                )

    # orders nobody asked for
    for o in all_orders:
        if o.parent_order_id is None and o.partner_order_number not in known_pons:
            failures["no order nobody asked for"].append(f"order {o.id} {o.partner_order_number}")

    # renewals: each renewal order whole, each subscription's generation = its renewal items
    renewal_items: Counter[int] = Counter()
    renewal_orders = [o for o in all_orders if o.parent_order_id is not None]
    for o in renewal_orders:
        lines = lines_by_order[o.id]
        if not lines:
            failures["renewal orders are whole"].append(f"renewal order {o.id} {o.partner_order_number}: no line")
        for ln in lines:
            items = items_by_line[ln.id]
            if len(items) != ln.quantity:
                failures["renewal orders are whole"].append(
                    f"{o.partner_order_number}: {len(items)} items for {ln.quantity}"
                )
            for it in items:
                if it.renews_subscription_id is None:
                    failures["renewal orders are whole"].append(
                        f"{o.partner_order_number}: item {it.id} renews nothing"
                    )
                    continue
                renewal_items[it.renews_subscription_id] += 1
                if ln.product_id in pooled_ids and len(assign_by_item[it.id]) != 1:
                    failures["renewal orders are whole"].append(
                        f"{o.partner_order_number}: item {it.id} has {len(assign_by_item[it.id])} serials"
                    )
        root = order_by_id.get(o.parent_order_id)
        if root is None or not o.partner_order_number.startswith(root.partner_order_number + "-"):
            failures["renewal orders are whole"].append(f"{o.partner_order_number}: parent {o.parent_order_id}")
    for s in all_subs:
        if s.generation != renewal_items[s.id]:
            failures["each renewal once: generation = renewal orders"].append(
                f"subscription {s.id}: generation {s.generation}, {renewal_items[s.id]} renewal items"
            )

    # serials: each is available with no assignment, or attached to exactly one line item
    assigned_ids = Counter(a.serial_id for a in all_assign)
    for s in all_serials:
        n = assigned_ids[s.id]
        if s.status == "available" and n:
            failures["no serial twice or lost"].append(f"serial {s.value} available but assigned")
        elif s.status != "available" and n != 1:
            failures["no serial twice or lost"].append(f"serial {s.value} {s.status} with {n} assignments")
    for a in all_assign:
        s = serial_by_id[a.serial_id]
        item = item_by_id.get(a.line_item_id)
        order = order_by_id[line_by_id[item.order_line_id].order_id] if item else None
        if order is None:
            failures["no serial twice or lost"].append(f"serial {s.value} assigned to a missing line item")
        elif s.status == "revoked" and (a.revoked_at is None or order.status != "cancelled"):
            failures["no serial twice or lost"].append(f"serial {s.value} revoked, order {order.id} {order.status}")
        elif s.status == "assigned" and (a.revoked_at is not None or order.status != "active"):
            failures["no serial twice or lost"].append(f"serial {s.value} assigned, order {order.id} {order.status}")
    per_product: dict[int, Counter[str]] = defaultdict(Counter)
    for s in all_serials:
        per_product[ref_of[s.product_id]][s.status] += 1
    for ref, total in (SERIALS if imported is None else imported).items():
        if sum(per_product[ref].values()) != total:
            failures["no serial twice or lost"].append(
                f"product {ref}: {sum(per_product[ref].values())} serials, imported {total}"
            )
    pooled_items = sum(1 for it in all_items if line_by_id[it.order_line_id].product_id in pooled_ids)
    if pooled_items != len(all_assign):
        failures["no serial twice or lost"].append(f"{pooled_items} pooled line items, {len(all_assign)} assignments")

    # outbox: everything delivered, nothing given up
    kinds: Counter[str] = Counter(r.kind for r in all_outbox)
    for r in all_outbox:
        if r.delivered_at is None:
            failures["outbox: every event delivered"].append(f"{r.kind} {r.event_id}: undelivered ({r.last_error})")
        elif r.last_error:
            failures["outbox: every event delivered"].append(f"{r.kind} {r.event_id}: closed with {r.last_error}")

    # webhooks: every delivery row received at least once, repeats identical, nothing unexpected
    accepted = receiver.accepted()
    received: dict[str, list[bytes]] = defaultdict(list)
    for d in accepted:
        received[d.webhook_id].append(d.body)
    unverified = [d.webhook_id for d in receiver.deliveries if not d.verified]
    if unverified:
        failures["webhooks: signatures verify"].append(f"{len(unverified)} deliveries, e.g. {unverified[:3]}")
    expected: dict[str, Any] = {}
    for r in all_outbox:
        if r.kind == "webhook.deliver":
            expected[r.payload["webhookId"]] = r.payload["message"]
    for webhook_id, message in expected.items():
        bodies = received.get(webhook_id)
        if not bodies:
            failures["webhooks: every event received"].append(f"{message['type']} {webhook_id} never received")
            continue
        if len(set(bodies)) != 1:
            failures["webhooks: repeats carry the same id and body"].append(f"{webhook_id}: {len(set(bodies))} bodies")
        if json.loads(bodies[0]) != message:
            failures["webhooks: repeats carry the same id and body"].append(
                f"{webhook_id}: body differs from the event"
            )
    for webhook_id in received:
        if webhook_id not in expected:
            failures["webhooks: every event received"].append(f"unexpected webhook-id {webhook_id}")
    messages = {wid: json.loads(bodies[0]) for wid, bodies in received.items()}
    created_seen = {m["data"]["orderNumber"] for m in messages.values() if m["type"] == "order.created"}
    cancelled_seen = {m["data"]["orderNumber"] for m in messages.values() if m["type"] == "order.cancelled"}
    renewed_seen: dict[int, set[int]] = defaultdict(set)
    for m in messages.values():
        if m["type"] == "subscription.renewed":
            renewed_seen[m["data"]["subscriptionId"]].add(m["data"]["generation"])
    for att in attempts:
        order = order_by_pon.get(att.pon)
        if order is None:
            continue
        if order.id not in created_seen:
            failures["webhooks: every event received"].append(f"no order.created for {att.pon} ({order.id})")
        if order.status == "cancelled" and order.id not in cancelled_seen:
            failures["webhooks: every event received"].append(f"no order.cancelled for {att.pon} ({order.id})")
    for s in all_subs:
        if renewed_seen[s.id] != set(range(1, s.generation + 1)):
            failures["webhooks: every event received"].append(
                f"subscription {s.id} generation {s.generation}: renewed webhooks for {sorted(renewed_seen[s.id])}"
            )

    if stats.five_xx:
        failures["no 5xx reply"].extend(stats.five_xx)
    if stats.anomalies:
        failures["replies consistent (no 1010/1011 on a first try)"].extend(stats.anomalies)

    names = [
        "acknowledged orders exist and are whole",
        "refused orders do not exist",
        "cancelled orders are cancelled, their serials revoked",
        "orders not cancelled are active, their serials assigned",
        "no order nobody asked for",
        "renewal orders are whole",
        "each renewal once: generation = renewal orders",
        "no serial twice or lost",
        "outbox: every event delivered",
        "webhooks: every event received",
        "webhooks: repeats carry the same id and body",
        "webhooks: signatures verify",
        "no 5xx reply",
        "replies consistent (no 1010/1011 on a first try)",
    ]
    dup_ids = sum(1 for bodies in received.values() if len(bodies) > 1)
    return {
        "checks": {name: failures.get(name, []) for name in names},
        "facts": {
            "attempts": len(attempts),
            "outcomes": dict(counts),
            "orders in db": len(all_orders),
            "renewal orders": len(renewal_orders),
            "renewals (subscription terms)": sum(renewal_items.values()),
            "subscriptions": len(all_subs),
            "subscription states": dict(Counter(s.status for s in all_subs)),
            "serials": {str(ref): dict(c) for ref, c in sorted(per_product.items())},
            "outbox rows": dict(kinds),
            "webhook deliveries accepted": len(accepted),
            "webhook attempts (incl. injected 503)": len(receiver.deliveries),
            "webhook unique ids": len(received),
            "webhook ids delivered more than once": dup_ids,
            "webhook repeats": len(accepted) - len(received),
        },
    }


# ---------------------------------------------------------------- the phase


def run(
    db_kind: str, kills: int, clients: int, gap: tuple[float, float], think: tuple[float, float], workdir: Path
) -> dict[str, Any]:
    started = time.monotonic()
    database = harness.PrivateDatabase(db_kind, workdir)
    env = harness.environment(workdir, database.url)
    receiver = WebhookReceiver(fail_rate=0.03, answer_delay=0.02)
    receiver.start()
    api = worker = None
    try:
        log(f"crash/{db_kind}: seeding")
        creds: Credentials = harness.seed(env, workdir, CATALOG, SERIALS, "chaos-shop")
        port = harness.free_port()
        base = f"http://127.0.0.1:{port}"
        api = harness.api_service(env, workdir, port, workers=2)
        worker = Service("worker", ["worker"], env, workdir / "worker.log")
        api.start()
        tok = harness.token(base, creds)
        hook = httpx.post(
            f"{base}/connect/webhooks",
            verify=harness.TLS,
            json={"url": receiver.url, "events": WEBHOOK_EVENTS},
            headers={"Authorization": f"Bearer {tok}", "secret": creds.secret},
            timeout=30,
        )
        if hook.status_code != 201:
            raise SystemExit(f"could not register the webhook endpoint: {hook.status_code} {hook.text}")
        receiver.secret = hook.json()["signingSecret"]
        worker.start()

        stats = LoadStats()
        load = [Client(base, tok, creds.secret, f"C{db_kind[0]}{i}", stats) for i in range(clients)]
        stop_load, stop_due = threading.Event(), threading.Event()
        made_due = [0]
        threads = [threading.Thread(target=c.run, args=(stop_load, think), daemon=True) for c in load]
        due_thread = threading.Thread(target=make_due_loop, args=(database.url, stop_due, made_due), daemon=True)
        record = KillLog()
        load_started = time.monotonic()
        for t in threads:
            t.start()
        due_thread.start()
        log(f"crash/{db_kind}: load of {clients} clients started; {kills} kills to come")
        killer(api, worker, kills, gap, threading.Event(), record)
        time.sleep(3)  # a little load after the last restart
        stop_load.set()
        for t in threads:
            t.join(timeout=60)
        load_seconds = time.monotonic() - load_started
        log(f"crash/{db_kind}: load stopped after {load_seconds:.0f} s; resolving unknown outcomes")
        deadline = time.monotonic() + RESOLVE_DEADLINE
        for c in load:
            c.resolve(deadline)
        time.sleep(2)  # let the worker renew what was just made due
        stop_due.set()
        due_thread.join(timeout=30)
        # let the live worker catch up a little, then stop everything and drain what remains
        last, still = pending_outbox(database.url), 0
        for _ in range(40):  # until empty, or no progress for 3 s (leased by a killed worker: the drain's job)
            time.sleep(0.5)
            now_pending = pending_outbox(database.url)
            still = still + 1 if now_pending >= last else 0
            if now_pending == 0 or still >= 6:
                break
            last = now_pending
        worker.kill_group()  # stopped as it runs: the drain below must cope with whatever it held
        api.kill_group()
        pending_before = pending_outbox(database.url)
        log(f"crash/{db_kind}: {pending_before} outbox rows pending; draining")
        passes = drain(env)
        time.sleep(0.5)
        attempts = [a for c in load for a in c.attempts]
        result = check(database.url, attempts, stats, receiver)
        unresolved = sum(len(c.unresolved) + len(c.cancel_unresolved) for c in load)
        result["facts"] = {
            "kills": dict(record.kills) | {"total": sum(record.kills.values())},
            "restarts": record.restarts,
            "load seconds": round(load_seconds, 1),
            "creates sent": stats.creates_sent,
            "cancels sent": stats.cancels_sent,
            "requests refused a connection (server down)": stats.transport_errors,
            "requests sent but unanswered (killed mid-request)": stats.unanswered,
            "still unresolved after retries": unresolved,
            "subscriptions made due by the driver": made_due[0],
            "outbox pending when the live worker stopped": pending_before,
            "drain passes": passes,
            **result["facts"],
        }
        result["facts"]["kill timeline (seconds into the load)"] = record.timeline
        result["seconds"] = round(time.monotonic() - started, 1)
        return result
    finally:
        for service in (api, worker):
            if service is not None:
                service.kill_group()
        receiver.stop()
        database.close()
