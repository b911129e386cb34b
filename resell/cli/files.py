"""`resell files ...`: product files, stored by the storage backend and served by signed download links."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from resell.cli.support import context, err, fail, out

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
