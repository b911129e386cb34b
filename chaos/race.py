"""The race phase: 64 clients, one connection each, released together by a barrier, race for small stocks
(5, 10 and 20 serials) across two separately started `resell serve` processes, round after round.

Checks per product and round: units sold in 201 replies <= stock; serials in replies = serials consumed
in the database; no serial twice; no 5xx, nothing but 201 or a 1044 refusal.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chaos import harness
from chaos.harness import log

SIZES = (5, 10, 20)
CLIENTS = 64


def ref_of(round_no: int, size: int) -> int:
    return 720000 + round_no * 100 + size


def catalog(rounds: int) -> dict[str, Any]:
    return {
        "publishers": [{"key": "race", "name": "Race Publisher"}],
        "products": [
            {
                "ref": ref_of(r, size),
                "name": f"Race {r} / {size}",
                "publisher": "race",
                "serialSource": "pool",
                "deliveryMode": "serial",
                "almostOutThreshold": 1,
                "prices": [{"currency": "EUR", "amountDutyFree": 1}],
            }
            for r in range(rounds)
            for size in SIZES
        ],
    }


@dataclass
class RoundResult:
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[Any] = field(default_factory=Counter)
    sold: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)


def race_round(bases: list[str], tok: str, secret: str, round_no: int) -> RoundResult:
    """64 orders at once, alternately on each API process; each 1 or 2 units of one product, or one unit
    of two products (taken in an order of the client's choosing)."""
    plans = []
    for _ in range(CLIENTS):
        if random.random() < 0.25:
            a, b = random.sample(SIZES, 2)
            plans.append([(ref_of(round_no, a), 1), (ref_of(round_no, b), 1)])
        else:
            plans.append([(ref_of(round_no, random.choice(SIZES)), random.choice([1, 2]))])
    barrier = threading.Barrier(CLIENTS)
    result = RoundResult()

    def one(i: int) -> tuple[list[tuple[int, int]], httpx.Response | Exception]:
        with httpx.Client(
            verify=harness.TLS,
            base_url=bases[i % len(bases)],
            timeout=60,
            headers={"Authorization": f"Bearer {tok}", "secret": secret},
        ) as client:
            client.get("/healthz")  # connected before the start line
            barrier.wait()
            try:
                reply = client.post("/connect/order/new", json=harness.order_body(f"RACE-{round_no}-{i}", plans[i]))
            except httpx.HTTPError as exc:
                return plans[i], exc
            return plans[i], reply

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        outcomes = list(pool.map(one, range(CLIENTS)))
    for plan, reply in outcomes:
        if isinstance(reply, Exception):
            result.errors.append(f"{plan}: {type(reply).__name__}: {reply}")
            continue
        result.statuses[reply.status_code] += 1
        if reply.status_code >= 500:
            result.errors.append(f"{plan}: HTTP {reply.status_code} {reply.text[:300]}")
            continue
        data = reply.json()
        result.codes[data.get("responseCode")] += 1
        if reply.status_code == 201:
            for line in data["orderLines"]:
                for item in line["lineItems"]:
                    result.sold[line["productRef"]].extend(s["data"] for s in item["serials"])
        elif data.get("responseCode") != 1044:
            result.errors.append(f"{plan}: HTTP {reply.status_code} code {data.get('responseCode')}")
    return result


def db_facts(db_url: str) -> tuple[dict[int, Counter[str]], dict[int, set[str]], int, int]:
    """Per product: serials by status and the values assigned; assignments and distinct assigned serials."""
    from sqlalchemy import func, select

    from resell.db.engine import Database
    from resell.db.tables import products, serial_assignments, serials

    db = Database(db_url, pool_size=1)
    with db.read() as conn:
        rows = conn.execute(
            select(products.c.ref, serials.c.value, serials.c.status).join(
                products, products.c.id == serials.c.product_id
            )
        ).all()
        n_assign = conn.execute(select(func.count()).select_from(serial_assignments)).scalar_one()
        n_distinct = conn.execute(select(func.count(func.distinct(serial_assignments.c.serial_id)))).scalar_one()
    db.dispose()
    by_status: dict[int, Counter[str]] = defaultdict(Counter)
    taken: dict[int, set[str]] = defaultdict(set)
    for ref, value, status in rows:
        by_status[ref][status] += 1
        if status != "available":
            taken[ref].add(value)
    return by_status, taken, int(n_assign), int(n_distinct)


def run(db_kind: str, rounds: int, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    database = harness.PrivateDatabase(db_kind, workdir)
    env = harness.environment(workdir, database.url)
    apis: list[harness.Service] = []
    try:
        log(f"race/{db_kind}: seeding {rounds} rounds of {SIZES} serials")
        serials = {ref_of(r, size): size for r in range(rounds) for size in SIZES}
        creds = harness.seed(env, workdir, catalog(rounds), serials, "race-shop")
        for n in range(2):  # two separately started API processes, each on its own port
            port = harness.free_port()
            apis.append(harness.api_service(env, workdir, port, workers=1, name=f"race-api-{n}"))
            apis[-1].start(wait=False)
        for api in apis:
            api.wait_healthy()
        bases = [api.health_url.rsplit("/", 1)[0] for api in apis if api.health_url]
        tok = harness.token(bases[0], creds)
        failures: dict[str, list[str]] = defaultdict(list)
        sold_total: dict[int, list[str]] = defaultdict(list)
        statuses: Counter[int] = Counter()
        codes: Counter[Any] = Counter()
        for r in range(rounds):
            res = race_round(bases, tok, creds.secret, r)
            statuses.update(res.statuses)
            codes.update(res.codes)
            if res.errors:
                failures["no 5xx, only 201 or 1044"].extend(f"round {r}: {e}" for e in res.errors)
            for ref, values in res.sold.items():
                sold_total[ref].extend(values)
            log(f"race/{db_kind}: round {r + 1}/{rounds}: {dict(res.statuses)} codes {dict(res.codes)}")
        for api in apis:
            api.stop()
        by_status, taken, n_assign, n_distinct = db_facts(database.url)
        for ref, size in serials.items():
            sold = sold_total.get(ref, [])
            if len(sold) > size:
                failures["no oversell: units sold <= stock"].append(f"product {ref}: {len(sold)} sold of {size}")
            if len(set(sold)) != len(sold):
                failures["no serial twice"].append(f"product {ref}: {len(sold) - len(set(sold))} repeated in replies")
            if set(sold) != taken.get(ref, set()):
                failures["serials in replies = stock consumed"].append(
                    f"product {ref}: {len(set(sold))} in replies, {len(taken.get(ref, set()))} consumed in the database"
                )
            if sum(by_status[ref].values()) != size:
                failures["serials in replies = stock consumed"].append(
                    f"product {ref}: {dict(by_status[ref])} of {size}"
                )
        if n_assign != n_distinct:
            failures["no serial twice"].append(f"{n_assign} assignments, {n_distinct} distinct serials")
        stock = sum(serials.values())
        sold_units = sum(len(v) for v in sold_total.values())
        names = [
            "no oversell: units sold <= stock",
            "no serial twice",
            "serials in replies = stock consumed",
            "no 5xx, only 201 or 1044",
        ]
        return {
            "checks": {name: failures.get(name, []) for name in names},
            "facts": {
                "API processes": len(apis),
                "rounds": rounds,
                "clients per round": CLIENTS,
                "orders attempted": CLIENTS * rounds,
                "HTTP statuses": dict(statuses),
                "response codes": {str(k): v for k, v in codes.items()},
                "stock (serials)": stock,
                "units sold": sold_units,
                "sold out products": sum(1 for ref, size in serials.items() if len(sold_total.get(ref, [])) == size),
            },
            "seconds": round(time.monotonic() - started, 1),
        }
    finally:
        for api in apis:
            api.kill_group()
        database.close()
