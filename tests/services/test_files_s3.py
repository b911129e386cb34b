"""Product files in an S3 bucket (moto's real S3-protocol server): `resell files add`, the demo files,
`resell files migrate-to-s3`, the settings, and boto3 left unloaded by local-storage users."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from resell.config import Settings
from resell.services import demo, files
from resell.services.context import Context
from resell.storage import LocalStorage, ObjectMissing, get_storage
from tests import s3_support
from tests.conftest import Merchant, World, order_body, run_cli, settings_for
from tests.delivery_support import attach, payload
from tests.s3_support import Bucket

moto_s3 = s3_support.moto_s3  # the session's S3 server
s3 = s3_support.s3  # the test's corner of its bucket


def key_of(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"sha256/{digest[:2]}/{digest}"


def cli_env(settings: Settings) -> dict[str, str | None]:
    return {
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_VAR_DIR": str(settings.var_dir),
        "RESELL_JWT_SECRET": settings.jwt_secret,
        "COLUMNS": "200",
    }


def download(server: str, shop: Merchant, pon: str, ref: int, index: int = 0) -> bytes:
    order = shop.call("POST", "/order/new", order_body(pon, (ref, 1))).json()
    url = order["orderLines"][0]["files"][index]["url"].removeprefix("http://resell.test")
    reply = httpx.get(server + url)
    assert reply.status_code == 200, reply.text
    return reply.content


@pytest.fixture
def settings(tmp_path: Path, db_url: str, s3: Bucket) -> Settings:
    return settings_for(tmp_path, db_url, **s3.settings)


def test_files_add_stores_in_the_bucket(
    ctx: Context, world: World, s3: Bucket, shop_a: Merchant, server: str, tmp_path: Path
) -> None:
    data = payload("game.exe", 20 * 1024 * 1024)  # more than one upload part
    (tmp_path / "game.exe").write_bytes(data)
    added = run_cli(cli_env(ctx.settings) | s3.env, "files", "add", "1002", str(tmp_path / "game.exe"))
    assert added.exit_code == 0, added.output
    assert f"{len(data)} bytes" in added.stdout and hashlib.sha256(data).hexdigest() in added.stdout
    assert s3.keys() == [key_of(data)] and s3.read(key_of(data)) == data
    assert s3.uploads_in_progress() == []
    assert not ctx.settings.effective_files_dir.exists()  # nothing on this node's disk
    (row,) = [f for f in files.list_files(ctx, 1002) if f.file_name == "game.exe"]
    assert (row.size, row.sha256, row.stored) == (len(data), hashlib.sha256(data).hexdigest(), True)

    again = files.add_file(ctx, 1002, tmp_path / "game.exe")  # the same bytes: stored once
    assert again.replaced and s3.keys() == [key_of(data)]
    assert download(server, shop_a, "S3-CLI", 1002, index=1) == data  # after the catalogue's app.zip


def test_the_store_interface_on_s3(ctx: Context, s3: Bucket) -> None:
    store = get_storage(ctx.settings)
    assert store.local_path(key_of(b"")) is None
    stored = store.put_stream(iter([b"hello ", b"world"]))
    assert (stored.key, stored.size) == (key_of(b"hello world"), 11)
    assert store.exists(stored.key) and store.stat(stored.key).size == 11
    reader = store.open_range(stored.key, 3, 8)
    assert reader.read(2) + reader.read(100) + reader.read(1) == b"lo wo"
    reader.close()
    empty = store.put_stream(iter([]))
    assert empty.size == 0 and store.stat(empty.key).size == 0
    store.delete(stored.key)
    assert not store.exists(stored.key)
    with pytest.raises(ObjectMissing):
        store.stat(stored.key)
    with pytest.raises(ObjectMissing):
        store.open_range(stored.key, 0, 5)
    store.delete(stored.key)  # twice: nothing


def test_an_upload_that_fails_midway_leaves_nothing_in_the_bucket(ctx: Context, s3: Bucket) -> None:
    def source():  # type: ignore[no-untyped-def]
        yield payload("big", 20 * 1024 * 1024)  # one part uploaded already
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="disk"):
        get_storage(ctx.settings).put_stream(source())
    assert s3.uploads_in_progress() == [] and s3.keys() == []


def test_the_store_interface_on_a_directory(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "files")
    stored = store.put_stream(iter([b"hello ", b"world"]))
    assert store.local_path(stored.key) == tmp_path / "files" / stored.key
    assert store.exists(stored.key) and store.stat(stored.key).size == 11
    reader = store.open_range(stored.key, 3, 8)
    assert reader.read(2) + reader.read(100) + reader.read(1) == b"lo wo"
    reader.close()
    store.delete(stored.key)
    assert not store.exists(stored.key)
    with pytest.raises(ObjectMissing):
        store.stat(stored.key)
    with pytest.raises(ObjectMissing):
        store.open_range(stored.key, 0, 5)
    store.delete(stored.key)


def test_the_demo_files_go_to_the_bucket(ctx: Context, s3: Bucket) -> None:
    demo.seed(ctx, serials_per_product=1)
    declared = [f for p in demo.demo_catalog()["products"] for f in p.get("files", [])]
    assert s3.keys() == sorted(f"sha256/{f['sha256'][:2]}/{f['sha256']}" for f in declared)


def test_migrate_to_s3_copies_the_local_files_then_downloads_come_from_the_bucket(
    tmp_path: Path, db_url: str, world: World, s3: Bucket, clock, _session_server
) -> None:
    from resell.app import create_app
    from resell.db.engine import Database

    local = settings_for(tmp_path, db_url, **(s3.settings | {"storage": "local"}))
    ctx = Context(db=Database(db_url), settings=local, clock=clock)
    try:
        setup = attach(ctx, 1001, "setup.exe", 3 * 1024 * 1024)
        app_zip = attach(ctx, 1002, "app.zip", 17 * 1024 * 1024)
        assert s3.keys() == []
        env = cli_env(local) | s3.env | {"RESELL_STORAGE": "local"}
        copied = run_cli(env, "files", "migrate-to-s3")
        assert copied.exit_code == 0, copied.output
        assert "2 files copied" in copied.stdout and "0 already there" in copied.stdout
        assert f"{len(setup) + len(app_zip)} bytes" in copied.stdout
        assert s3.keys() == sorted([key_of(setup), key_of(app_zip)])
        assert s3.read(key_of(app_zip)) == app_zip

        again = run_cli(env, "files", "migrate-to-s3")  # nothing left to copy
        assert again.exit_code == 0 and "0 files copied" in again.stdout and "2 already there" in again.stdout

        # the switch: the same database, RESELL_STORAGE=s3, the local directory gone
        LocalStorage(local.effective_files_dir).delete(key_of(setup))
        LocalStorage(local.effective_files_dir).delete(key_of(app_zip))
        ctx.settings = settings_for(tmp_path, db_url, **s3.settings)
        slot, url = _session_server
        slot.app = create_app(ctx.settings, ctx)
        shop = Merchant(url, world.a)
        try:
            assert download(url, shop, "MIG-1", 1001) == setup
            assert download(url, shop, "MIG-2", 1002) == app_zip
        finally:
            shop.http.close()
            slot.app = None
    finally:
        ctx.db.dispose()


def test_migrate_to_s3_reports_missing_and_corrupt_files(
    ctx: Context, world: World, s3: Bucket, tmp_path: Path
) -> None:
    local = settings_for(tmp_path, ctx.settings.effective_database_url)  # local storage
    lctx = Context(db=ctx.db, settings=local, clock=ctx.clock)
    setup = attach(lctx, 1001, "setup.exe", 5000)
    app_zip = attach(lctx, 1002, "app.zip", 6000)
    (local.effective_files_dir / key_of(setup)).write_bytes(b"tampered")
    (local.effective_files_dir / key_of(app_zip)).unlink()
    result = run_cli(cli_env(local) | s3.env | {"RESELL_STORAGE": "local"}, "files", "migrate-to-s3")
    assert result.exit_code == 1
    assert "0 files copied" in result.stdout
    assert f"missing from the directory {local.effective_files_dir}: {key_of(app_zip)}" in result.stderr
    assert "no longer match their SHA-256" in result.stderr and key_of(setup) in result.stderr
    assert s3.keys() == []  # the tampered copy removed again


def test_migrate_to_s3_needs_a_bucket(ctx: Context, world: World) -> None:
    result = run_cli(
        cli_env(ctx.settings) | {"RESELL_STORAGE": "local", "RESELL_S3_BUCKET": ""}, "files", "migrate-to-s3"
    )
    assert result.exit_code == 1 and "RESELL_S3_BUCKET" in result.stderr


def test_the_storage_settings() -> None:
    assert Settings().storage == "local"
    assert Settings(storage_backend="s3", s3_bucket="b").storage == "s3"  # the earlier name still works
    assert Settings(storage="local", storage_backend="s3", s3_bucket="b").storage == "local"
    with pytest.raises(ValueError, match="RESELL_S3_BUCKET"):
        Settings(storage="s3")
    with pytest.raises(ValueError):
        Settings(storage="ftp")


def test_local_storage_users_never_load_boto3(tmp_path: Path) -> None:
    script = (
        "import sys; from resell.app import create_app; from resell.config import Settings; "
        "from resell.storage import get_storage; "
        f"s = Settings(var_dir={str(tmp_path)!r}); create_app(s); get_storage(s); "
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False", "False"], done.stderr
