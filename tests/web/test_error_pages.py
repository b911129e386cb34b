"""Errors on the end users' pages (locker, download and Metalink links) are HTML pages with the right status,
without a trace; /connect and /iam keep their JSON contract."""

from __future__ import annotations

import httpx
import pytest

from resell.services import downloads, locker, webhooks
from resell.services.context import Context
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import attach


class Boom(RuntimeError):
    pass


def boom(*args: object, **kw: object) -> None:
    raise Boom("secret internals: /srv/resell/db password=hunter2")


@pytest.fixture
def order(ctx: Context, world: World, shop_a: Merchant) -> dict:
    attach(ctx, 1001, "setup.exe", 5000)
    reply = shop_a.call("POST", "/order/new", order_body("ERR-1", (1001, 1)))
    assert reply.status_code == 201, reply.text
    return reply.json()


def assert_html_error(reply: httpx.Response, status: int) -> None:
    assert reply.status_code == status, (reply.status_code, reply.text[:300])
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.text.lstrip().startswith("<!doctype html>")
    assert f"Error {status}" in reply.text
    for leak in ("responseCode", "Traceback", "Boom", "hunter2", "detail"):
        assert leak not in reply.text
    assert "default-src 'none'" in reply.headers["content-security-policy"]


def once(server: str, method: str, path: str, **kw: object) -> httpx.Response:
    """A request on a connection of its own: uvicorn closes a connection after a handler crashed."""
    return httpx.request(method, server + path, timeout=30, **kw)  # type: ignore[arg-type]


def test_a_crash_in_the_locker_is_an_html_500(server: str, http: httpx.Client, order: dict, monkeypatch) -> None:
    assert http.post("/locker", data={"orderNumber": order["orderNumber"], "email": "buyer@example.com"}).is_redirect
    monkeypatch.setattr(locker, "view", boom)
    assert_html_error(once(server, "GET", "/locker/order", cookies=dict(http.cookies)), 500)
    monkeypatch.setattr(locker, "sign_in", boom)
    assert_html_error(once(server, "POST", "/locker", data={"orderNumber": "1", "email": "a@example.com"}), 500)


def test_a_crash_behind_a_download_or_metalink_link_is_an_html_500(server: str, order: dict, monkeypatch) -> None:
    file_path = httpx.URL(order["orderLines"][0]["files"][0]["url"]).path
    metalink_path = httpx.URL(order["downloadManager"]["pc"]).path
    monkeypatch.setattr(downloads, "resolve", boom)
    monkeypatch.setattr(downloads, "metalink_document", boom)
    assert_html_error(once(server, "GET", file_path), 500)
    assert_html_error(once(server, "GET", metalink_path), 500)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/locker/nothing-here", 404),
        ("GET", "/download/token/1", 404),
        ("GET", "/download/token/1/signature/more", 404),
        ("GET", "/metalink/1/signature", 404),
        ("PUT", "/locker", 405),
        ("DELETE", "/locker/order", 405),
        ("POST", "/download/token/1/signature", 405),
    ],
)
def test_unknown_page_paths_and_methods_are_html(
    http: httpx.Client, world: World, method: str, path: str, status: int
) -> None:
    assert_html_error(http.request(method, path), status)


def test_a_form_that_cannot_be_read_is_an_html_400(http: httpx.Client, world: World) -> None:
    reply = http.post(
        "/locker",
        content=b"--x\r\nContent-Disposition: form-data\r\n\r\nno name and no end",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert_html_error(reply, 400)


def test_the_apis_keep_their_json_errors(server: str, http: httpx.Client, shop_a: Merchant, monkeypatch) -> None:
    monkeypatch.setattr(webhooks, "list_merchant_endpoints", boom)
    headers = {"Authorization": f"Bearer {shop_a.token()}", "secret": shop_a.secret}
    crashed = once(server, "GET", "/connect/webhooks", headers=headers)
    assert crashed.status_code == 500
    assert crashed.headers["content-type"].startswith("application/json")
    assert crashed.json()["responseCode"] == 1000
    assert "hunter2" not in crashed.text
    for path in ("/connect/nothing-here", "/iam/nothing-here"):
        missing = http.get(path)
        assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    malformed = shop_a.call("POST", "/order/new", content=b"{not json")
    assert malformed.status_code == 400 and malformed.json()["responseCode"] == 1030
