"""One way to run a /connect operation, whether the fast path or FastAPI's router found it.

Each operation is declared once, as an `Operation`: its route, its handler, whether it reads a JSON
body and where it runs. `add_routes` turns the declarations into the documented FastAPI routes, and
`api/rest/hot_path.py` answers the busiest ones before FastAPI's routing; both call `dispatch`, so
the two can no longer drift apart (tests/api/rest/test_dispatch.py compares their replies byte for
byte).

What dispatch does, in this order (the contract's order of refusals):
1. the token and the catalogue secret (401; responseCode 70, 71), services/iam.py;
2. the body, when the operation reads one (HTTP 400, responseCode 1030);
3. the handler: on the event loop for the cheap reads, in one shared read with the authentication
   (`Database.shared_read`, lazy: a transaction only once a read needs one snapshot); in the
   thread pool for everything that writes or may wait (createOrder waits for its group commit to
   reach the disk). On PostgreSQL
   (`Database.reads_on_loop` false) authentication and every handler run in the thread pool, in one
   hop: a query there is a network round trip that may wait on a lock or a busy server, and the
   event loop must keep answering the process's other requests meanwhile;
4. any exception is answered by the REST error reply (api/errors.py).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from fastapi import APIRouter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from resell.api.errors import error_reply
from resell.api.rest.deps import authenticated, context_of, parse_json_object
from resell.api.shapes import STATUS_REPLIES, JSONReply
from resell.services.context import Caller, Context

Body = dict[str, Any]
# PostgreSQL, per process: the reads' threads (RESELL_DATABASE_READ_THREADS) and the others'
# (RESELL_DATABASE_WRITE_THREADS: createOrder and every write), at most 20 each, which together hold no
# more connections than the process's pool has (20 + 20 overflow, db/engine.py), so that a read never
# waits for a connection held by a write waiting for its commit. The reads keep theirs between
# requests (`Database.shared_read`).
# SQLite, per process: the threads of the writes (they wait for their group commit, holding no
# pooled connection), as many as Starlette's thread pool had
SQLITE_WRITE_THREADS = 40


@dataclass(frozen=True)
class Call:
    """What a handler gets: the context, the authenticated caller, the JSON body ({} when the
    operation reads none), the path parameters and the query's (the last value of each name)."""

    ctx: Context
    who: Caller
    body: Body
    params: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], "Body | Response"]


@dataclass(frozen=True)
class Operation:
    """A /connect operation. `name` is the contract's operation name, also its route name (the
    request log, the metrics and the keys of an error reply go by it)."""

    name: str
    methods: tuple[str, ...]  # one route per method, in this order
    path: str  # under /connect, with {parameters}
    handler: Handler  # returns the reply dict (sent with `status_code`) or a whole Response
    reads_body: bool
    in_thread_pool: bool  # False: on the event loop, a few indexed reads only
    hot: bool = False  # answered by the fast path (api/rest/hot_path.py), before FastAPI's routing
    status_code: int = 200  # of a reply dict (a refusal of createOrder returns its own 200 Response)
    path_params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        params = tuple(part[1:-1] for part in self.path.split("/") if part.startswith("{"))
        object.__setattr__(self, "path_params", params)


async def dispatch(operation: Operation, request: Request) -> Response:
    """Authenticate, read the body, run the handler where it belongs, render the reply or the error."""
    try:
        ctx = context_of(request)
        raw = await _body(request) if operation.reads_body else b""
        params = request.path_params
        if not ctx.db.reads_on_loop:  # PostgreSQL: nothing that may wait on the database runs on the loop
            run = partial(_run, operation, request, ctx, raw, params)
            threads = (
                _threads("write", ctx.settings.database_write_threads)
                if operation.in_thread_pool
                else _threads("read", ctx.settings.database_read_threads)
            )
            reply = await threads.run(run)
        elif operation.in_thread_pool:
            who = ctx.db.run_read(partial(authenticated, request), lazy=True)
            handle = partial(_handle, operation, request, ctx, raw, params, who)
            reply = await _threads("sqlite write", SQLITE_WRITE_THREADS).run(handle)
        else:
            reply = _run(operation, request, ctx, raw, params)
    except Exception as exc:  # noqa: BLE001 - every error gets the contract's reply (api/errors.py)
        return await error_reply(request, exc)
    if isinstance(reply, Response):
        return reply
    if operation.name in STATUS_REPLIES:  # the request log reads responseCode; these replies say `code`
        request.state.response_code = reply["code"]
    return JSONReply(reply, status_code=operation.status_code)


async def _body(request: Request) -> bytes:
    """The whole body, read from the server's messages: what `request.body()` returns, without the
    async generator it runs for every request. Nothing after dispatch reads the body again."""
    chunks = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class Threads:
    """A pool of threads for the handlers that must not run on the event loop. A plain executor: an
    anyio thread hop (what Starlette's run_in_threadpool takes) cost twice its CPU, about 100 µs
    against 40-55 with 32 requests in flight. Nothing the handlers read is in a context variable of
    the request's, so none is copied over."""

    def __init__(self, kind: str, size: int):
        self.size = size
        self.calls = 0  # running in a thread or queued for one
        self._executor = ThreadPoolExecutor(size, thread_name_prefix=f"resell-{kind.replace(' ', '-')}")

    async def run(self, work: Callable[[], Any]) -> Any:
        self.calls += 1  # on the event loop: no lock needed
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self.calls -= 1


_THREADS: dict[tuple[str, int], Threads] = {}


def _threads(kind: str, size: int) -> Threads:
    """The threads of the reads or of the writes on PostgreSQL, apart from each other: during a launch
    the createOrders waiting for their commit would otherwise take every thread and every pooled
    connection, and the stock polls queue behind them (bench/run.py, launch scenario: 5 polls/s with
    one thread pool for both, 45/s with one connection pool). On SQLite, the writes' (the reads run
    on the loop). One pool per kind and size, made at its first use (a process that serves apps of
    other settings, as the tests do, gets one of each)."""
    pool = _THREADS.get((kind, size))
    if pool is None:
        pool = _THREADS[(kind, size)] = Threads(kind, size)
    return pool


def _run(operation: Operation, request: Request, ctx: Context, raw: bytes, params: dict[str, str]) -> Body | Response:
    """Authenticate, parse, run the handler: in the caller's thread, on the loop (SQLite's cheap
    reads) or in the thread pool (PostgreSQL, one hop for the whole request). A read operation
    authenticates and answers in one shared read (`Database.run_read`); any other authenticates in
    its own, on a kept connection too (no checkout, no ping), and its handler takes connections of its
    own. Both are lazy: on PostgreSQL the authentication and the reads that need no common snapshot
    run outside a transaction (no BEGIN, no COMMIT)."""
    if operation.in_thread_pool:
        who = ctx.db.run_read(partial(authenticated, request), lazy=True)
        return _handle(operation, request, ctx, raw, params, who)
    return ctx.db.run_read(lambda: _handle(operation, request, ctx, raw, params, authenticated(request)), lazy=True)


def _handle(
    operation: Operation, request: Request, ctx: Context, raw: bytes, params: dict[str, str], who: Caller
) -> Body | Response:
    """The body parsed (after authentication: the contract refuses a bad token before a bad body),
    then the handler."""
    body = parse_json_object(raw) if operation.reads_body else {}
    return operation.handler(Call(ctx, who, body, params, _query(request)))


def _query(request: Request) -> dict[str, str]:
    """Read from the scope: `request.url` would build the whole URL of every call first."""
    return dict(request.query_params) if request.scope.get("query_string") else {}


def add_routes(router: APIRouter, operations: Iterable[Operation]) -> None:
    """The documented FastAPI routes of `operations`, each calling `dispatch`."""
    for operation in operations:
        for method in operation.methods:
            router.add_api_route(
                operation.path,
                _endpoint(operation),
                methods=[method],
                name=operation.name,
                operation_id=operation_id(operation, method),
                status_code=operation.status_code,
                response_model=None,
            )


def operation_id(operation: Operation, method: str) -> str:
    """The OpenAPI operationId: the contract's operation name (`createOrder`), as Nexway's docs name it;
    an operation served on a second method too gets the method appended (`renewSubscriptionPut`)."""
    return operation.name if method == operation.methods[0] else operation.name + method.title()


def _endpoint(operation: Operation) -> Callable[..., Any]:
    """A FastAPI endpoint for `operation`: its signature names the path parameters (so that the
    OpenAPI document lists them) and the request; dispatch reads everything else itself."""

    async def endpoint(request: Request, **_path: str) -> Response:
        return await dispatch(operation, request)

    request_param = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)
    path_params = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str) for name in operation.path_params
    ]
    endpoint.__signature__ = inspect.Signature([request_param, *path_params])  # type: ignore[attr-defined]
    endpoint.__name__ = endpoint.__qualname__ = operation.name
    return endpoint
