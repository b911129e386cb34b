"""The many-node topology of docs/deployment.md, run for real: two `resell serve` processes and two
`resell worker` processes on one PostgreSQL database, one Redis for the rate limits and product files
in an S3 object store (moto's server), every node with its own var directory and the shared secrets
from the environment.

Orders go through both nodes at once (a scarce product ordered past its stock gets clean 1044s); each
order's file is downloaded through the other node, whole and by Range, and its counters read back
through the first; renewals fall due and the two workers renew each subscription once; every webhook
is delivered once (each outbox event claimed once, each webhook-id received once: no crash here, so
the at-least-once contract has no reason to repeat); the locker's per-address limit is counted across
both nodes. The invariants are chaos/crash.py's `check` (acknowledged orders whole, refused ones absent,
no serial twice or lost, each renewal once, every event delivered and received).

PostgreSQL only: SQLite is one machine's database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from chaos import harness
from chaos.crash import CATALOG, SCARCE_REF, SERIAL_REF, SUB_REF, WEBHOOK_EVENTS, Attempt, LoadStats, check
from resell.db.engine import Database
from resell.db.migrate import upgrade
from resell.db.tables import orders, outbox, subscriptions
from resell.services import merchants, stock
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests import s3_support
from tests.conftest import PG_URL, only_on, run_cli, settings_for

moto_s3 = s3_support.moto_s3
s3 = s3_support.s3

SERIALS = {SERIAL_REF: 200, SCARCE_REF: 6, SUB_REF: 100}
SCARCE_ORDERS = 10  # for 6 serials: 4 clean 1044s
ORDERS = 30  # of the file product, every other one with a subscription
LOCKER_LIMIT = 6  # locker sign-in attempts a minute per client address, all nodes together
FILE_BYTES = 100_000
WAIT = 40.0  # seconds for the workers to catch up


@pytest.fixture
def fresh_db(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database of this test's own (the processes fill it), dropped at the end."""
    assert request.param == "postgres"
    name = f"resell_nodes_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis server of the test's own on a free loopback port (no key of another run to meet)."""
    import redis

    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed (apt-get install redis-server)"
    port = harness.free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


class Nodes:
    """The processes of the test, their logs, and the tail of those logs for a failure message."""

    def __init__(self) -> None:
        self.services: list[harness.Service] = []

    def add(self, service: harness.Service) -> harness.Service:
        self.services.append(service)
        return service

    def tails(self, lines: int = 25) -> str:
        parts = []
        for s in self.services:
            text_ = s.log_path.read_text(errors="replace") if s.log_path.exists() else ""
            code = s.proc.poll() if s.proc else "not started"
            parts.append(f"--- {s.name} (exit {code}), last {lines} lines of {s.log_path}:")
            parts.extend(text_.splitlines()[-lines:])
        return "\n".join(parts)

    def stop(self) -> None:
        """SIGTERM every process at once, SIGKILL what still runs after 20 s."""
        with ThreadPoolExecutor(max_workers=len(self.services) or 1) as pool:
            list(pool.map(lambda s: s.stop(), self.services))
        for s in self.services:
            s.kill_group()


def _seed(db_url: str, tmp_path: Path) -> harness.Credentials:
    """Schema, catalogue, serials and a merchant with a EUR catalogue, through the services in this process
    (what `resell db upgrade`, `catalog import`, `stock import` and `merchant create` do, without a
    process start each)."""
    ctx = Context(db=Database(db_url, pool_size=1), settings=settings_for(tmp_path / "seed", db_url))
    try:
        upgrade(ctx.db)
        import_catalog(ctx, CATALOG)
        for ref, count in SERIALS.items():
            stock.import_serials(ctx, ref, [f"NODES-{ref}-{i:05d}" for i in range(count)])
        made, (eur,) = merchants.create_merchant(
            ctx, "nodes-shop", catalogs_to_add=[merchants.CatalogSpec("EUR", "EUR")]
        )
    finally:
        ctx.db.dispose()
    return harness.Credentials("nodes-shop", made.client_secret, eur.secret)


def _order(client: httpx.Client, attempt: Attempt, stats: LoadStats) -> None:
    attempt.tries += 1
    reply = client.post("/connect/order/new", json=harness.order_body(attempt.pon, attempt.lines))
    if reply.status_code >= 500:
        stats.five_xx.append(f"createOrder {attempt.pon}: HTTP {reply.status_code} {reply.text[:300]}")
        return
    data = reply.json()
    if reply.status_code == 201 and data.get("responseCode") == 0:
        attempt.outcome, attempt.via = "ok", "201"
        attempt.order_number = data["orderNumber"]
        attempt.serials = harness.reply_serials(data)
    else:
        attempt.outcome, attempt.refusal = "refused", data.get("responseCode")


def _wait_for(what: str, done: Any, nodes: Nodes, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s\n{nodes.tails()}"
        time.sleep(0.3)


@only_on("postgres", "fresh_db")
def test_two_api_nodes_and_two_workers_share_postgresql_redis_and_the_object_store(
    fresh_db: str, redis_url: str, s3: s3_support.Bucket, tmp_path: Path
) -> None:
    started = time.monotonic()
    shared = {
        **os.environ,
        "PYTHONPATH": str(harness.ROOT),
        "RESELL_DATABASE_URL": fresh_db,
        "RESELL_JWT_SECRET": "many-nodes-jwt-secret-" + "x" * 32,
        "RESELL_DOWNLOAD_SIGNING_KEY": "many-nodes-download-key-" + "y" * 32,
        "RESELL_WEBHOOK_SIGNING_KEY": "many-nodes-webhook-key-" + "z" * 32,
        "RESELL_RATE_LIMIT_STORAGE": redis_url,
        "RESELL_LOCKER_RATE_LIMIT_IP": f"{LOCKER_LIMIT}/minute",
        "RESELL_SIGN_IN_BACKOFF_AFTER": "0",  # only the per-address limit refuses the locker attempts below
        "RESELL_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver listens on loopback
        "RESELL_LOG_LEVEL": "WARNING",
        **{k: v for k, v in s3.env.items() if v is not None},
    }
    ports = [harness.free_port(), harness.free_port()]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    # download links name the balancer's address; here node 0's, and each is fetched from the other node
    shared["RESELL_PUBLIC_BASE_URL"] = bases[0]

    def node_env(name: str) -> dict[str, str]:
        return shared | {"RESELL_VAR_DIR": str(tmp_path / name / "var")}  # nothing shared on disk

    operator = node_env("operator")
    say = lambda what: harness.log(f"many nodes, {time.monotonic() - started:5.1f} s: {what}")  # noqa: E731
    creds = _seed(fresh_db, tmp_path)
    payload = random.Random(15).randbytes(FILE_BYTES)
    (tmp_path / "chaos.exe").write_bytes(payload)
    operator_cli: dict[str, str | None] = {k: v for k, v in operator.items() if k.startswith("RESELL_")}
    added = run_cli(operator_cli, "files", "add", str(SERIAL_REF), str(tmp_path / "chaos.exe"))
    assert added.exit_code == 0 and "replaced" in added.output, added.output  # the catalogue's chaos.exe, with bytes
    assert any(key.endswith(hashlib.sha256(payload).hexdigest()) for key in s3.keys()), s3.keys()

    say("seeded, file in the store")
    nodes = Nodes()
    receiver = harness.WebhookReceiver()
    receiver.start()
    try:
        apis = [
            nodes.add(harness.api_service(node_env(f"api-{n}"), tmp_path, ports[n], workers=1, name=f"api-{n}"))
            for n in range(2)
        ]
        for n in range(2):
            nodes.add(harness.Service(f"worker-{n}", ["worker"], node_env(f"worker-{n}"), tmp_path / f"worker-{n}.log"))
        for service in nodes.services:
            service.start(wait=False)
        for api in apis:
            try:
                api.wait_healthy(timeout=60)
            except SystemExit as exc:  # the logs' tails follow, from the handler below
                pytest.fail(str(exc))
        # a token from node 0 works on node 1, and the endpoint registered on node 1 signs what the workers send
        tok = harness.token(bases[0], creds)
        headers = {"Authorization": f"Bearer {tok}", "secret": creds.secret}
        clients = [httpx.Client(base_url=b, headers=headers, timeout=60, verify=harness.TLS) for b in bases]
        hook = clients[1].post("/connect/webhooks", json={"url": receiver.url, "events": WEBHOOK_EVENTS})
        assert hook.status_code == 201, hook.text
        receiver.secret = hook.json()["signingSecret"]

        say("nodes up, webhook endpoint registered")
        # orders through both nodes at once
        attempts = [
            Attempt(f"NODES-{i}", [(SERIAL_REF, 1), (SUB_REF, 1)] if i % 2 else [(SERIAL_REF, 1)])
            for i in range(ORDERS)
        ] + [Attempt(f"NODES-S{i}", [(SCARCE_REF, 1)]) for i in range(SCARCE_ORDERS)]
        random.Random(2).shuffle(attempts)
        stats = LoadStats()

        def place(i: int) -> None:
            _order(clients[i % 2], attempts[i], stats)
            attempts[i].via = f"node {i % 2}" if attempts[i].outcome == "ok" else ""

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(place, range(len(attempts))))
        refusals = Counter(a.refusal for a in attempts if a.outcome == "refused")
        assert not stats.five_xx, stats.five_xx
        assert refusals == {1044: SCARCE_ORDERS - SERIALS[SCARCE_REF]}, refusals
        ok = [a for a in attempts if a.outcome == "ok"]
        assert {a.via for a in ok} == {"node 0", "node 1"}
        for n, client in enumerate(clients):  # both nodes see the scarce product sold out
            stock = client.post("/connect/stock", json={"productRefs": [SCARCE_REF]}).json()
            assert stock["productStatus"][0]["status"] == 300, (n, stock)

        say(f"{len(ok)} orders, {sum(refusals.values())} refused")

        # each order's file through the other node: whole, then a range; the counters read on the first
        def download(a: Attempt) -> None:
            here, other = (0, 1) if a.via == "node 0" else (1, 0)
            info = clients[other].get(f"/connect/order/{a.pon}/download").json()
            (file,) = [f for line in info["orderLines"] for f in line["files"]]
            assert file["url"].startswith(bases[0] + "/download/"), file
            path = file["url"][len(bases[0]) :]
            whole = clients[other].get(path)
            assert whole.status_code == 200 and whole.content == payload, (a.pon, whole.status_code, len(whole.content))
            part = clients[other].get(path, headers={"Range": "bytes=1000-1999"})
            assert part.status_code == 206, (a.pon, part.status_code, part.text[:200])
            assert part.content == payload[1000:2000]
            assert part.headers["content-range"] == f"bytes 1000-1999/{FILE_BYTES}"

            def counted() -> bool:  # recorded once the body is sent: a moment after the client has it
                info = clients[here].get(f"/connect/order/{a.pon}/download").json()
                (file,) = [f for line in info["orderLines"] for f in line["files"]]
                return bool(file["countCompleteDownload"] >= 1 and file["countStartDownload"] >= 1)

            _wait_for(f"{a.pon}: the download counted on node {here}", counted, nodes, timeout=10)

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(download, [a for a in ok if a.lines[0][0] == SERIAL_REF]))
        say("downloads checked")
        # the locker's per-address limit, counted in Redis: attempts alternate between the nodes
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.3"), timeout=30) as peer:
            codes = [
                peer.post(
                    f"{bases[i % 2]}/locker", data={"orderNumber": str(900000 + i), "email": "x@example.com"}
                ).status_code
                for i in range(LOCKER_LIMIT + 2)
            ]
        assert codes == [401] * LOCKER_LIMIT + [429, 429], codes  # memory:// would allow 2 x LOCKER_LIMIT

        # renewals: every subscription due now; the two workers renew each once
        db = Database(fresh_db, pool_size=1)
        try:
            with db.write() as conn:
                made_due = conn.execute(
                    update(subscriptions)
                    .where(subscriptions.c.status == "ACTIVE")
                    .values(next_change_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
                ).rowcount
            assert made_due == ORDERS // 2

            def quiet() -> bool:
                with db.read() as conn:
                    renewed = conn.execute(
                        select(func.count()).select_from(subscriptions).where(subscriptions.c.generation >= 1)
                    ).scalar_one()
                    pending = conn.execute(
                        select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
                    ).scalar_one()
                return bool(renewed == made_due and pending == 0)

            say(f"{made_due} subscriptions made due")
            _wait_for("every subscription renewed and every outbox event delivered", quiet, nodes)
            say("renewed and delivered")
            time.sleep(1.0)  # a second chance for a duplicate to show
            nodes.stop()
            if not quiet():  # an event queued as they stopped (the once-a-minute stock check): one more pass
                assert run_cli(operator_cli, "worker", "--once").exit_code == 0
            with db.read() as conn:
                subs = conn.execute(select(subscriptions)).all()
                renewal_orders = Counter(
                    conn.execute(
                        select(orders.c.parent_order_id).where(orders.c.parent_order_id.is_not(None))
                    ).scalars()
                )
                events = conn.execute(select(outbox.c.kind, outbox.c.event_id, outbox.c.attempts)).all()
        finally:
            db.dispose()
        for c in clients:
            c.close()

        say("processes stopped")
        result = check(fresh_db, attempts, stats, receiver, SERIALS)
        failed = {name: problems[:5] for name, problems in result["checks"].items() if problems}
        assert not failed, json.dumps(failed, indent=1) + "\n" + nodes.tails()
        # processed once: each subscription renewed into one order, each event claimed once, each webhook received once
        assert [s.generation for s in subs] == [1] * len(subs)
        assert len(renewal_orders) == len(subs) and set(renewal_orders.values()) == {1}, renewal_orders
        assert [e for e in events if e.attempts != 1] == [], "outbox events claimed more than once"
        received = Counter(d.webhook_id for d in receiver.deliveries)
        assert [wid for wid, n in received.items() if n != 1] == [], "webhooks delivered more than once"
        kinds = Counter(json.loads(d.body)["type"] for d in receiver.deliveries)
        assert kinds == {"order.created": len(ok), "subscription.renewed": len(subs)}, kinds
    except BaseException:
        sys.stderr.write(nodes.tails() + "\n")
        raise
    finally:
        nodes.stop()
        receiver.stop()
