"""Product files: storage, size and SHA-256, attachment, re-import, and `resell files`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from resell.db.tables import product_files, products
from resell.services import files
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.storage import LocalStorage, StorageError
from tests.conftest import TEST_CATALOG, CliRun, Merchant, World, order_body
from tests.delivery_support import payload


def write(path: Path, size: int) -> bytes:
    data = payload(path.name, size)
    path.write_bytes(data)
    return data


def rows(ctx: Context, ref: int) -> list:
    with ctx.db.read() as conn:
        return conn.execute(
            select(product_files)
            .join(products, products.c.id == product_files.c.product_id)
            .where(products.c.ref == ref)
            .order_by(product_files.c.position)
        ).all()


def test_adding_a_file_stores_the_bytes_and_records_size_and_sha256(ctx: Context, world: World, tmp_path: Path) -> None:
    data = write(tmp_path / "setup.exe", 70_000)
    (catalogued,) = rows(ctx, 1001)
    assert catalogued.storage_key is None and catalogued.size == 1234  # metadata only, from the catalogue
    attached = files.add_file(ctx, 1001, tmp_path / "setup.exe")
    digest = hashlib.sha256(data).hexdigest()
    assert (attached.size, attached.sha256, attached.replaced) == (70_000, digest, True)
    assert attached.file_id == catalogued.id  # same name: replaced in place, links keep working
    (row,) = rows(ctx, 1001)
    assert (row.size, row.sha256, row.storage_key, row.label) == (
        70_000,
        digest,
        f"sha256/{digest[:2]}/{digest}",
        "Installer",
    )
    stored = ctx.settings.effective_files_dir / row.storage_key
    assert stored.read_bytes() == data
    assert not any((ctx.settings.effective_files_dir / "incoming").iterdir())  # no temporary file left

    manual = tmp_path / "manual.pdf"
    manual.write_bytes(b"%PDF-1.7 manual")
    added = files.add_file(ctx, 1001, manual, label="User manual", group="Docs", file_type="manual")
    assert not added.replaced and added.content_type == "application/pdf"
    assert [(r.file_name, r.label, r.position, r.type) for r in rows(ctx, 1001)] == [
        ("setup.exe", "Installer", 0, "install"),
        ("manual.pdf", "User manual", 1, "manual"),
    ]


def test_mistakes_are_refused_before_anything_is_stored(ctx: Context, world: World, tmp_path: Path) -> None:
    data_file = tmp_path / "x.bin"
    data_file.write_bytes(b"x")
    with pytest.raises(files.FileError, match="no product with ref 4242"):
        files.add_file(ctx, 4242, data_file)
    with pytest.raises(files.FileError, match="no such file"):
        files.add_file(ctx, 1001, tmp_path / "missing.bin")
    assert not (ctx.settings.effective_files_dir / "sha256").exists()
    with pytest.raises(StorageError):
        LocalStorage(tmp_path).local_path("../../etc/passwd")


def test_a_catalogue_reimport_keeps_stored_files_and_the_links_given_out(
    ctx: Context, shop_a: Merchant, server: str, tmp_path: Path
) -> None:
    data = write(tmp_path / "setup.exe", 50_000)
    files.add_file(ctx, 1001, tmp_path / "setup.exe")
    order = shop_a.call("POST", "/order/new", order_body("FILES-1", (1001, 1))).json()
    url = order["orderLines"][0]["files"][0]["url"].removeprefix("http://resell.test")
    assert httpx.get(server + url).content == data

    import_catalog(ctx, TEST_CATALOG)  # the operator loads the catalogue file again
    (row,) = rows(ctx, 1001)
    assert row.size == 50_000 and row.sha256 == hashlib.sha256(data).hexdigest() and row.storage_key
    assert httpx.get(server + url).content == data

    changed = {**TEST_CATALOG, "products": [dict(p) for p in TEST_CATALOG["products"]]}
    first = next(p for p in changed["products"] if p["ref"] == 1001)
    first["files"] = [{"label": "New installer", "fileName": "setup-v2.exe", "size": 10}]
    import_catalog(ctx, changed)  # setup.exe withdrawn, its download counters with it
    assert [(r.file_name, r.storage_key) for r in rows(ctx, 1001)] == [("setup-v2.exe", None)]
    assert httpx.get(server + url).status_code == 404


def test_the_files_commands(ctx: Context, world: World, cli: CliRun, tmp_path: Path) -> None:
    data = write(tmp_path / "game-setup.exe", 12_345)
    added = cli("files", "add", "1002", str(tmp_path / "game-setup.exe"), "--label", "Game", "--group", "Windows")
    assert added.exit_code == 0, added.output
    assert "attached on product 1002" in added.stdout and "12345 bytes" in added.stdout
    assert hashlib.sha256(data).hexdigest() in added.stdout
    listed = cli("files", "list", "1002")
    assert listed.exit_code == 0 and "game-setup.exe" in listed.stdout and "Windows" in listed.stdout
    assert cli("files", "add", "999", str(tmp_path / "game-setup.exe")).exit_code == 1
    assert [(r.file_name, r.size) for r in rows(ctx, 1002)] == [("app.zip", 99), ("game-setup.exe", 12_345)]
