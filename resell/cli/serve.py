"""`resell serve`: the Connect API under uvicorn (the default) or granian, and /metrics where
RESELL_METRICS_BIND says. The two servers run the same ASGI application with the same settings:
workers, address, and the proxies whose forwarded client address is believed (docs/deployment.md)."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer

from resell.cli.support import context, fail
from resell.config import Settings, get_settings
from resell.private_files import private_dir
from resell.services.context import Context


def serve(
    host: Annotated[str | None, typer.Option(help="default RESELL_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default RESELL_PORT or 8000")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes (RESELL_WORKERS)")] = None,
    server: Annotated[str | None, typer.Option(help="uvicorn or granian (RESELL_SERVER, default uvicorn)")] = None,
) -> None:
    """Serve the Connect API (OpenAPI docs at /docs, metrics at /metrics or RESELL_METRICS_BIND)."""
    settings = get_settings()
    server = server or settings.server
    if server not in SERVERS:
        fail(f"unknown server {server!r}: choose among {', '.join(SERVERS)}")
    allowed_proxies = settings.forwarded_allow_ips.strip()
    ctx = context()  # a database `resell db upgrade` has not migrated stops here, before binding
    workers = workers or settings.workers
    if workers > 1 or server == "granian":  # granian serves from worker processes, even with one
        _share_metrics(settings)
    if settings.metrics_address is None:
        ctx.db.dispose()
    else:
        _serve_metrics(ctx)
    if server == "granian":
        _serve_granian(host or settings.host, port or settings.port, workers, settings.log_level)
        return
    import uvicorn

    from resell.api.one_write import OneWriteHttpToolsProtocol

    uvicorn.run(
        "resell.app:create_app",
        factory=True,
        http=OneWriteHttpToolsProtocol,  # a reply in one socket write, not two
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        access_log=False,
        log_level=settings.log_level.lower(),
        # X-Forwarded-For/-Proto believed from RESELL_FORWARDED_ALLOW_IPS only (uvicorn's own default
        # believes 127.0.0.1, where anyone on the machine could name their own address to the throttles)
        proxy_headers=bool(allowed_proxies),
        forwarded_allow_ips=allowed_proxies or None,
    )


SERVERS = ("uvicorn", "granian")


def _serve_granian(host: str, port: int, workers: int, log_level: str) -> None:
    """The same application under granian (a Rust HTTP server): its workers build it through
    `granian_app`, which also puts the forwarded-address rule of RESELL_FORWARDED_ALLOW_IPS in front."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "resell.cli.serve:granian_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        respawn_failed_workers=True,  # a worker that dies is replaced, as uvicorn's supervisor does
        log_access=False,
        log_level=LogLevels(log_level.lower()),
    ).serve()


def granian_app() -> object:
    """The ASGI application of a granian worker. Granian passes the peer's address as the client;
    X-Forwarded-For/-Proto are believed from RESELL_FORWARDED_ALLOW_IPS only, as under uvicorn."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from resell.app import create_app

    app = create_app()
    allowed_proxies = get_settings().forwarded_allow_ips.strip()
    if allowed_proxies:
        return ProxyHeadersMiddleware(app, trusted_hosts=allowed_proxies)  # type: ignore[arg-type]
    return app


def _share_metrics(settings: Settings) -> None:
    """Several workers: each writes its metrics under PROMETHEUS_MULTIPROC_DIR (set before any worker
    starts) and a scrape sums them. Unless the operator chose the directory, it is var/metrics, emptied
    here: the values of a previous run must not be added to this one's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = settings.var_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    private_dir(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())


def _serve_metrics(ctx: Context) -> None:
    """/metrics on RESELL_METRICS_BIND, bound now so that a busy or wrong address stops `serve` in one line."""
    import socket

    from resell.api.rest.observability import serve_metrics

    host, port = ctx.settings.metrics_address or ("", 0)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        fail(f"cannot listen on RESELL_METRICS_BIND={ctx.settings.metrics_bind}: {reason}")
        return
    serve_metrics(ctx, sock)
