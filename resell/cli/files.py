"""`resell files ...`: product files, stored by the storage backend and served by signed download links."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from resell.cli.support import context, err, fail, out
from resell.config import get_settings

app = typer.Typer(
    help="Product files: stored by the storage backend, served by signed download links.", no_args_is_help=True
)


@app.command("add")
def files_add(
    ref: int,
    path: Path,
    label: Annotated[str | None, typer.Option(help="what end users see (default: the file name)")] = None,
    group: Annotated[str | None, typer.Option(help="e.g. Windows, macOS")] = None,
    file_type: Annotated[str | None, typer.Option("--type", help="install (default), manual, patch...")] = None,
    content_type: Annotated[str | None, typer.Option(help="default: guessed from the file name")] = None,
    name: Annotated[str | None, typer.Option(help="file name shown to end users (default: PATH's name)")] = None,
) -> None:
    """Store PATH, record its size and SHA-256, and attach it to product REF (same name: replaced in place)."""
    from resell.services import files

    try:
        with err.status(f"storing {path.name}..."):
            attached = files.add_file(context(), ref, path, label, group, file_type, content_type, name)
    except files.FileError as exc:
        fail(str(exc))
        return
    verb = "replaced" if attached.replaced else "attached"
    out.print(
        f"file {attached.file_id} {verb} on product {attached.product_ref}: {attached.file_name} "
        f"({attached.size} bytes, {attached.content_type})\nsha256 {attached.sha256}",
        highlight=False,
    )


@app.command("list")
def files_list(ref: Annotated[int | None, typer.Argument(help="only this product")] = None) -> None:
    """Files per product: size, SHA-256, whether the bytes are stored."""
    from resell.services import files

    table = Table("id", "ref", "file name", "label", "group", "size", "sha256", "stored")
    for f in files.list_files(context(), ref):
        table.add_row(
            str(f.file_id),
            str(f.product_ref),
            f.file_name,
            f.label,
            f.group,
            str(f.size),
            (f.sha256 or "")[:16],
            "yes" if f.stored else "no",
        )
    out.print(table)


@app.command("migrate-to-s3")
def files_migrate_to_s3() -> None:
    """Copy every stored file from the files directory (RESELL_FILES_DIR) to the RESELL_S3_* bucket.

    Run it with RESELL_STORAGE still local (or already s3: the local files are read either way), then
    set RESELL_STORAGE=s3 on every node. Objects keep their keys, so nothing in the database changes;
    each copy is checked against its SHA-256; objects already in the bucket are skipped, so running it
    again after an interruption, or after files were added meanwhile, copies only what is left.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from resell.services import files
    from resell.storage import LocalStorage, StorageError, s3_storage

    settings = get_settings()
    ctx = context()
    try:
        target = s3_storage(settings)
    except StorageError as exc:
        fail(f"{exc}: say which bucket to copy to (RESELL_S3_BUCKET, RESELL_S3_ENDPOINT_URL...)")
        return
    source = LocalStorage(settings.effective_files_dir)
    total = sum(size for _key, size in files.stored_objects(ctx))
    with Progress(
        TextColumn("[bold]copying[/]"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("files", total=total)
        try:
            report = files.copy_objects(ctx, source, target, lambda n: progress.advance(task, n))
        except StorageError as exc:
            fail(str(exc))
            return
    out.print(
        f"{report.copied} files copied ({report.copied_bytes} bytes) to {target}, {report.present} already there",
        highlight=False,
    )
    for key in report.missing or []:
        err.print(f"missing from {source}: {key}", highlight=False)
    for key in report.corrupt or []:
        err.print(f"not copied, its bytes no longer match their SHA-256: {source.root / key}", highlight=False)
    if report.missing or report.corrupt:
        fail("some files were not copied: store them again with `resell files add` (same product, same name)")
    out.print("every stored file is in the bucket: set RESELL_STORAGE=s3 on every node", highlight=False)
