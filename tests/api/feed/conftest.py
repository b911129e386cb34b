"""Feed configurations on the test world, and a client for GET /flow/getcatalog/v2.4/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from resell.services import feeds
from tests.conftest import World

Fetch = Callable[..., httpx.Response]


@pytest.fixture
def feed_configs(ctx, world: World) -> None:  # type: ignore[no-untyped-def]
    """shop-a EUR: acme/xml-feed (xml) and acme/csv-feed (csv); shop-a USD: acme/usd (xml)."""
    feeds.configure(ctx, "shop-a", "EUR", "acme", "xml-feed", "xml")
    feeds.configure(ctx, "shop-a", "EUR", "acme", "csv-feed", "csv", language="fr")
    feeds.configure(ctx, "shop-a", "USD", "acme", "usd", "xml")


@pytest.fixture
def fetch(server: str, world: World, feed_configs: None) -> Fetch:
    """`fetch("xml-feed", diff="last")` with shop-a's EUR secret unless `secret=` says otherwise."""

    def get(config: str | None, secret: str | None = world.a.secret, **params: Any) -> httpx.Response:
        query = {"secret": secret, "provider": "acme", "config": config, **params}
        return httpx.get(
            f"{server}/flow/getcatalog/v2.4/", params={k: v for k, v in query.items() if v is not None}, timeout=60
        )

    return get
