"""Tampered download and Metalink links: 403 "not valid", never a file, never a 500.

tests/api/rest/test_downloads.py covers the first edits (a flipped signature character, the
last token character, the file id changed or swapped within one order); here: every position
of the token and signature, truncations, splices between two orders (and two merchants), case
and padding games, and the Metalink document's link.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from resell.services.context import Context
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import attach


@pytest.fixture
def links(ctx: Context, world: World, shop_a: Merchant, shop_b: Merchant) -> dict[str, dict[str, str]]:
    """Two orders of A and one of B, each with product 1001's stored file: their file and Metalink paths."""
    attach(ctx, 1001, "setup.exe", 5000)
    found = {}
    for name, shop in (("a1", shop_a), ("a2", shop_a), ("b", shop_b)):
        reply = shop.call("POST", "/order/new", order_body(f"LINK-{name}", (1001, 1), (1002, 1)))
        assert reply.status_code == 201, reply.text
        order = reply.json()
        found[name] = {
            "file": urlsplit(order["orderLines"][0]["files"][0]["url"]).path,
            "other_line_file": urlsplit(order["orderLines"][1]["files"][0]["url"]).path,
            "metalink": urlsplit(order["downloadManager"]["pc"]).path,
        }
    return found


def parts(path: str) -> tuple[str, str, str]:
    _, _, token, file_id, signature = path.split("/")
    return token, file_id, signature


def other_char(c: str) -> str:
    return "A" if c != "A" else "B"


def assert_refused(http: httpx.Client, path: str) -> None:
    reply = http.get(path)
    assert reply.status_code == 403, (path, reply.status_code, reply.text[:300])
    assert "not valid" in reply.text
    assert "text/html" in reply.headers["content-type"]
    assert "content-disposition" not in reply.headers


def test_any_changed_character_of_token_or_signature_is_403(http: httpx.Client, links) -> None:  # type: ignore[no-untyped-def]
    token, file_id, signature = parts(links["a1"]["file"])
    forged = []
    for i in range(len(token)):
        forged.append(f"/download/{token[:i]}{other_char(token[i])}{token[i + 1:]}/{file_id}/{signature}")
    for i in range(len(signature)):
        forged.append(f"/download/{token}/{file_id}/{signature[:i]}{other_char(signature[i])}{signature[i + 1:]}")
    for path in forged:
        assert_refused(http, path)
    assert http.get(links["a1"]["file"]).status_code == 200  # the real one still works


def test_truncated_padded_or_recased_links_are_403(http: httpx.Client, links) -> None:  # type: ignore[no-untyped-def]
    token, file_id, signature = parts(links["a1"]["file"])
    for path in (
        f"/download/{token}/{file_id}/{signature[:-1]}",
        f"/download/{token}/{file_id}/{signature[:len(signature) // 2]}",
        f"/download/{token}/{file_id}/{signature[:1]}",
        f"/download/{token[:-1]}/{file_id}/{signature}",
        f"/download/{token[:8]}/{file_id}/{signature}",
        f"/download/{token}/{file_id[:-1] or '0'}/{signature}",
        f"/download/{token}/{file_id}/{signature}=",
        f"/download/{token}/{file_id}/{signature}==",
        f"/download/{token}/{file_id}/{signature}A",
        f"/download/{token}x/{file_id}/{signature}",
        f"/download/{token}/{file_id}/{signature.swapcase()}",
        f"/download/{token.swapcase()}/{file_id}/{signature}",
        f"/download/{token}/-{file_id}/{signature}",
        f"/download/{token}/{file_id}.0/{signature}",
        f"/download/{token}/{'9' * 30}/{signature}",
        f"/download/{'t' * 500}/{file_id}/{signature}",
        f"/download/{token}/{file_id}/{'s' * 500}",
        f"/download/{token}/{file_id}/%00",
    ):
        assert_refused(http, path)
    # a leading zero spells the same file id ("01" is 1): the same link, so the same file, nothing more
    same = http.get(f"/download/{token}/0{file_id}/{signature}")
    assert same.status_code == 200 and same.content == http.get(links["a1"]["file"]).content
    # a missing segment is no route at all: 404 (or 405), never the file
    for path in (f"/download/{token}/{file_id}", f"/download/{token}", f"/download/{file_id}/{signature}"):
        reply = http.get(path)
        assert reply.status_code in (404, 405), (path, reply.status_code)


def test_tokens_and_signatures_spliced_between_orders_are_403(http: httpx.Client, links) -> None:  # type: ignore[no-untyped-def]
    a1, a2, b = (parts(links[n]["file"]) for n in ("a1", "a2", "b"))
    a1_other_line = parts(links["a1"]["other_line_file"])
    for donor in (a2, b):  # another order of the same merchant, an order of another merchant
        assert_refused(http, f"/download/{donor[0]}/{a1[1]}/{a1[2]}")  # their token, our file and signature
        assert_refused(http, f"/download/{a1[0]}/{donor[1]}/{donor[2]}")  # our token, their file and signature
        assert_refused(http, f"/download/{a1[0]}/{a1[1]}/{donor[2]}")  # our link, their signature
        assert_refused(http, f"/download/{donor[0]}/{donor[1]}/{a1[2]}")
    # both lines of one order: each line's token with the other line's file id or signature
    assert_refused(http, f"/download/{a1[0]}/{a1_other_line[1]}/{a1_other_line[2]}")
    assert_refused(http, f"/download/{a1_other_line[0]}/{a1[1]}/{a1[2]}")
    for name in ("a1", "a2", "b"):
        assert http.get(links[name]["file"], headers={"Range": "bytes=0-0"}).status_code == 206


def test_tampered_metalink_links_are_403(http: httpx.Client, links) -> None:  # type: ignore[no-untyped-def]
    def split(path: str) -> tuple[str, str]:
        _, _, order_id, last = path.split("/")
        return order_id, last.removesuffix(".meta4")

    a1, a2, b = (split(links[n]["metalink"]) for n in ("a1", "a2", "b"))
    assert http.get(links["a1"]["metalink"]).status_code == 200
    for path in (
        f"/metalink/{a2[0]}/{a1[1]}.meta4",  # another order's id under our signature
        f"/metalink/{b[0]}/{a1[1]}.meta4",  # another merchant's order
        f"/metalink/{a1[0]}/{b[1]}.meta4",
        f"/metalink/{a1[0]}/{a1[1][:-1]}.meta4",
        f"/metalink/{a1[0]}/{other_char(a1[1][0])}{a1[1][1:]}.meta4",
        f"/metalink/{a1[0]}/{a1[1].swapcase()}.meta4",
        f"/metalink/{'9' * 30}/{a1[1]}.meta4",
        f"/metalink/x{a1[0]}/{a1[1]}.meta4",
    ):
        assert_refused(http, path)
