"""One log line per request and Prometheus metrics, as a plain ASGI middleware (no body buffering).

A handler reports its business outcome by setting `request.state.response_code`; replies built by
`shapes.body` are inspected here instead, so handlers need not remember to.

/metrics can ask for `Authorization: Bearer RESELL_METRICS_TOKEN`, and can be served on an address of
its own (RESELL_METRICS_BIND) by `resell serve` instead of the public one. With several uvicorn
workers, `resell serve` sets PROMETHEUS_MULTIPROC_DIR: each worker writes its values there and a scrape,
from any worker or from the metrics address, reads the sum of all of them.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resell.api.rest.deps import bearer_token
from resell.domain.secrets import hash_secret, secret_matches
from resell.logs import RequestLogger
from resell.services import stock
from resell.services.context import Context

log = RequestLogger("resell.request")

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "resell_requests_total",
    "API requests by operation, HTTP status and responseCode",
    ["operation", "status", "response_code"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "resell_request_seconds",
    "API request duration by operation",
    ["operation"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ORDERS = Counter("resell_orders_created_total", "Orders created", registry=REGISTRY)
# SQLite's one writer (group commit, db/group_commit.py): the processes' batches take it in turn.
# rate(resell_writer_busy_seconds_total), summed over the processes, is the share of the time it
# was held: near 1, the writer is what limits createOrder (docs/operations.md)
WRITER_BATCHES = Counter("resell_writer_batches_total", "SQLite group commits", registry=REGISTRY)
WRITER_JOBS = Counter(
    "resell_writer_jobs_total", "Writes committed by SQLite group commits (createOrders and others)", registry=REGISTRY
)
WRITER_BUSY = Counter(
    "resell_writer_busy_seconds_total", "Seconds SQLite's writer was held by this process's batches", registry=REGISTRY
)
WRITER_WAIT = Counter(
    "resell_writer_wait_seconds_total",
    "Seconds this process's batches waited for the writer, held by the other processes",
    registry=REGISTRY,
)


def count_writer_batch(jobs: int, waited: float, held: float) -> None:
    """A group commit's figures into the writer's metrics (Database.observe_batches)."""
    WRITER_BATCHES.inc()
    WRITER_JOBS.inc(jobs)
    WRITER_WAIT.inc(waited)
    WRITER_BUSY.inc(held)


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope["headers"])
        status = 500
        code: int | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, code
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            elif message["type"] == "http.response.body" and code is None and status < 500:
                code = _response_code(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            state = scope.get("state") or {}
            # a handler serving several operations (SOAP) names the one it ran in request.state.operation
            operation = state.get("operation") or getattr(route, "name", None) or "unknown"
            response_code = state.get("response_code", code)
            if operation != "metrics":
                _counted(operation, status, response_code).inc()
                _timed(operation).observe(elapsed)
                if operation == "createOrder" and status == 201:
                    ORDERS.inc()
                log.info(
                    "request",
                    request_id=request_id,
                    method=scope["method"],
                    path=route.path if route is not None else "unmatched",  # the template: no order numbers
                    operation=operation,
                    merchant=state.get("merchant"),
                    status=status,
                    response_code=response_code,
                    duration_ms=round(elapsed * 1000, 2),
                )


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID (its first 64 characters), else a new one: 32 random hex digits (the
    length of a uuid4's hex, without its object, a sixth of the cost)."""
    for name, value in headers:
        if name == b"x-request-id":
            if value:
                return value.decode("latin-1")[:64]
            break
    return os.urandom(16).hex()


@functools.cache
def _counted(operation: str, status: int, response_code: int | None) -> Any:
    """The request counter's series for these labels, looked up once (labels() takes a lock and
    builds its key on every call)."""
    return REQUESTS.labels(operation, str(status), str(response_code))


@functools.cache
def _timed(operation: str) -> Any:
    return LATENCY.labels(operation)


def _response_code(chunk: bytes) -> int | None:
    """The responseCode of a JSON reply, read from its last bytes (replies end with the code and message)."""
    marker = chunk.rfind(b'"responseCode":')
    if marker < 0:
        return None
    digits = chunk[marker + 15 : marker + 25].split(b",")[0].split(b"}")[0]
    try:
        return int(digits)
    except ValueError:
        return None


# A scrape counts each pool's available serials up to this many (a bigger pool reads as this):
# an exact count walks the whole pool, seconds on ten million serials, under a read transaction.
STOCK_GAUGE_CAP = 100_000


class _StockCollector:
    """serials available per product (up to STOCK_GAUGE_CAP), read at scrape time."""

    def __init__(self) -> None:
        self.ctx: Context | None = None

    def collect(self):  # type: ignore[no-untyped-def]
        gauge = GaugeMetricFamily(
            "resell_serials_available",
            f"Serials available per product, counted up to {STOCK_GAUGE_CAP:,}",
            labels=["product_ref"],
        )
        if self.ctx is not None:
            for ref, available in stock.pool_levels(self.ctx, STOCK_GAUGE_CAP):
                gauge.add_metric([str(ref)], available)
        yield gauge


_stock = _StockCollector()
REGISTRY.register(_stock)


_scraped: CollectorRegistry | None = None


def scraped_registry() -> CollectorRegistry:
    """What a scrape reads: this process's registry, or with PROMETHEUS_MULTIPROC_DIR (several workers)
    the values every worker wrote there, summed, and the stock gauge."""
    global _scraped
    if _scraped is None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)
            merged.register(_stock)
            _scraped = merged
        else:
            _scraped = REGISTRY
    return _scraped


def metrics_response(ctx: Context, authorization: str | None) -> PlainTextResponse:
    """The metrics, or 401 when RESELL_METRICS_TOKEN is set and the request does not carry it (compared in
    constant time, through hashes so that not even its length leaks)."""
    token = ctx.settings.metrics_token
    if token and not secret_matches(bearer_token(authorization) or "", hash_secret(token)):
        return PlainTextResponse(
            "401 Unauthorized: /metrics needs Authorization: Bearer <RESELL_METRICS_TOKEN>\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    _stock.ctx = ctx
    return PlainTextResponse(generate_latest(scraped_registry()), media_type=CONTENT_TYPE_LATEST)


def metrics_app(ctx: Context) -> Starlette:
    """The application of RESELL_METRICS_BIND: /metrics and nothing else (404)."""

    def metrics(request: Request) -> PlainTextResponse:  # sync: the stock gauge reads the database
        return metrics_response(ctx, request.headers.get("authorization"))

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


def serve_metrics(ctx: Context, sock: socket.socket) -> threading.Thread:
    """Serve metrics_app on `sock` (already bound) from a daemon thread of this process: with one worker
    that is the API's process, with several the uvicorn supervisor, which reads the workers' files."""
    sock.listen()
    config = uvicorn.Config(metrics_app(ctx), lifespan="off", access_log=False, log_level="warning")
    thread = threading.Thread(
        target=uvicorn.Server(config).run, kwargs={"sockets": [sock]}, name="resell-metrics", daemon=True
    )
    thread.start()
    return thread
