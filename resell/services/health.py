"""Readiness: whether this process can serve requests, that is whether its database answers
(`GET /readyz`, for load balancers and orchestrators; `/healthz` only says the process is up)."""

from __future__ import annotations

from sqlalchemy import text

from resell.services.context import Context


def database_problem(ctx: Context) -> str | None:
    """None when the database answers a query; else the kind of failure (no details: the reply is public)."""
    try:
        with ctx.db.read() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", never a 500
        return type(exc).__name__
    return None
