"""Product files: store the bytes in the storage backend, record size and SHA-256, attach to the product.

The bytes are stored first (content-addressed, so a retry or a failed transaction leaves at most an
unreferenced object); then one transaction attaches them. A file is matched by its file name within
the product: adding it again replaces the bytes in place and keeps its id, so links already given
to end users keep working and serve the new bytes.

`copy_objects` copies every stored file from one store to another (`resell files migrate-to-s3`):
keys are content addresses, the same in every store, so the database is not touched.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, update

from resell.db.engine import inserted_id
from resell.db.tables import product_files, products
from resell.services.audit_log import audit
from resell.services.context import Context
from resell.services.orders import forget_product_files
from resell.storage import CHUNK, FileStorage, ObjectMissing, RangeReader, get_storage, read_chunks


class FileError(ValueError):
    """An operator mistake (unknown product, missing file): the CLI prints it."""


@dataclass(frozen=True)
class AttachedFile:
    file_id: int
    product_ref: int
    label: str
    file_name: str
    size: int
    sha256: str
    content_type: str
    storage_key: str
    replaced: bool


@dataclass(frozen=True)
class FileRow:
    file_id: int
    product_ref: int
    label: str
    file_name: str
    group: str
    size: int
    sha256: str | None
    stored: bool


def add_file(
    ctx: Context,
    ref: int,
    path: Path,
    label: str | None = None,
    group: str | None = None,
    file_type: str | None = None,
    content_type: str | None = None,
    file_name: str | None = None,
    storage: FileStorage | None = None,
    actor: str = "operator",
) -> AttachedFile:
    if not path.is_file():
        raise FileError(f"{path}: no such file")
    return add_stream(
        ctx, ref, read_chunks(path), file_name or path.name, label, group, file_type, content_type, storage, actor
    )


def add_stream(
    ctx: Context,
    ref: int,
    chunks: Iterable[bytes],
    file_name: str,
    label: str | None = None,
    group: str | None = None,
    file_type: str | None = None,
    content_type: str | None = None,
    storage: FileStorage | None = None,
    actor: str = "operator",
) -> AttachedFile:
    with ctx.db.read() as conn:  # fail before copying gigabytes for a product that does not exist
        if conn.execute(select(products.c.id).where(products.c.ref == ref)).first() is None:
            raise FileError(f"no product with ref {ref}")
    stored = (storage or get_storage(ctx.settings)).put_stream(chunks)
    content_type = content_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    now = ctx.now()
    with ctx.db.write() as conn:
        product = conn.execute(select(products.c.id).where(products.c.ref == ref)).first()
        if product is None:
            raise FileError(f"no product with ref {ref}")
        existing = conn.execute(
            select(product_files).where(
                product_files.c.product_id == product.id, product_files.c.file_name == file_name
            )
        ).first()
        values = {
            "size": stored.size,
            "sha256": stored.sha256,
            "storage_key": stored.key,
            "content_type": content_type,
        }
        if label is not None:
            values["label"] = label
        if group is not None:
            values["group"] = group
        if file_type is not None:
            values["type"] = file_type
        if existing is not None:
            conn.execute(update(product_files).where(product_files.c.id == existing.id).values(**values))
            file_id = existing.id
            before = {"size": existing.size, "sha256": existing.sha256}
        else:
            position = conn.execute(
                select(func.coalesce(func.max(product_files.c.position) + 1, 0)).where(
                    product_files.c.product_id == product.id
                )
            ).scalar_one()
            values.setdefault("label", file_name)
            values.setdefault("group", "")
            values.setdefault("type", "install")
            file_id = inserted_id(
                conn.execute(
                    product_files.insert().values(
                        product_id=product.id, position=position, file_name=file_name, **values
                    )
                )
            )
            before = None
        audit(
            conn,
            now,
            actor,
            "product",
            ref,
            "file_stored",
            before=before,
            after={"fileId": file_id, "fileName": file_name, "size": stored.size, "sha256": stored.sha256},
        )
        row = conn.execute(select(product_files).where(product_files.c.id == file_id)).one()
    forget_product_files(ctx.db)
    return AttachedFile(
        file_id=file_id,
        product_ref=ref,
        label=row.label,
        file_name=file_name,
        size=stored.size,
        sha256=stored.sha256,
        content_type=content_type,
        storage_key=stored.key,
        replaced=existing is not None,
    )


def list_files(ctx: Context, ref: int | None = None) -> list[FileRow]:
    query = (
        select(product_files, products.c.ref)
        .join(products, products.c.id == product_files.c.product_id)
        .order_by(products.c.ref, product_files.c.position, product_files.c.id)
    )
    if ref is not None:
        query = query.where(products.c.ref == ref)
    with ctx.db.read() as conn:
        return [
            FileRow(r.id, r.ref, r.label, r.file_name, r.group, r.size, r.sha256, r.storage_key is not None)
            for r in conn.execute(query)
        ]


@dataclass
class CopyReport:
    copied: int = 0
    copied_bytes: int = 0
    present: int = 0  # already in the target store: nothing sent
    missing: list[str] | None = None  # referenced, but not in the source store either
    corrupt: list[str] | None = None  # in the source store, but its bytes no longer match their SHA-256


def stored_objects(ctx: Context) -> list[tuple[str, int]]:
    """Every object the product files reference, once each, with its recorded size."""
    query = (
        select(product_files.c.storage_key, func.max(product_files.c.size))
        .where(product_files.c.storage_key.is_not(None))
        .group_by(product_files.c.storage_key)
        .order_by(product_files.c.storage_key)
    )
    with ctx.db.read() as conn:
        return [(key, int(size or 0)) for key, size in conn.execute(query)]


def copy_objects(
    ctx: Context,
    source: FileStorage,
    target: FileStorage,
    on_progress: Callable[[int], None] = lambda _n: None,
) -> CopyReport:
    """Copy the referenced objects `target` lacks, streamed; `on_progress(n)` as n bytes are done (an
    object already there counts its size at once). Checked on the way: the copy's SHA-256 must be its
    key's, else it is removed from the target and reported corrupt. Running it again copies what is left."""
    report = CopyReport(missing=[], corrupt=[])
    assert report.missing is not None and report.corrupt is not None
    for key, recorded in stored_objects(ctx):
        if target.exists(key):
            report.present += 1
            on_progress(recorded)
            continue
        try:
            size = source.stat(key).size
            reader = source.open_range(key, 0, size)
        except ObjectMissing:
            report.missing.append(key)
            on_progress(recorded)
            continue
        try:
            stored = target.put_stream(_chunks(reader, on_progress))
        finally:
            reader.close()
        if stored.key != key:
            target.delete(stored.key)
            report.corrupt.append(key)
            continue
        report.copied += 1
        report.copied_bytes += stored.size
    return report


def _chunks(reader: RangeReader, on_progress: Callable[[int], None]) -> Iterator[bytes]:
    while chunk := reader.read(CHUNK):
        on_progress(len(chunk))
        yield chunk
