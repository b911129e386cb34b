"""`resell catalog ...`: the product catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from resell.cli.support import context, fail, out

app = typer.Typer(help="The product catalogue.", no_args_is_help=True)


@app.command("import")
def catalog_import(file: Path) -> None:
    """Import (upsert) a catalogue JSON file: see docs/catalog-format.md."""
    from resell.services.catalog_import import CatalogImportError, import_catalog

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        counts = import_catalog(context(), data)
    except (OSError, json.JSONDecodeError, CatalogImportError) as exc:
        fail(f"{file}: {exc}")
        return
    out.print("imported " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
