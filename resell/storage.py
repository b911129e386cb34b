"""Where product files live: a storage backend behind one small interface, chosen by RESELL_STORAGE.

Objects are content-addressed (`sha256/ab/abcdef...`): storing the same bytes twice costs nothing,
a stored object never changes, and its SHA-256 is its strong ETag. Two backends:

- `local` (the default): a directory, RESELL_FILES_DIR (default `var/files/`). `local_path` gives the
  download endpoint a path, which Starlette's FileResponse streams from disk.
- `s3`: a bucket of an S3-compatible store (`resell/storage_s3.py`, boto3 imported only then), which
  several API nodes share. `local_path` is None: the download endpoint reads the byte ranges it
  serves through `open_range`, a bounded window at a time.

`get_storage` is the one place that picks the backend from the settings.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from resell.config import Settings
from resell.private_files import private_dir

CHUNK = 1024 * 1024
_KEY = re.compile(r"^sha256/[0-9a-f]{2}/[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    modified: float  # POSIX time: the Last-Modified of a download, and what a dated If-Range compares to


class StorageError(Exception):
    """The backend cannot store or find an object (or cannot be reached)."""


class ObjectMissing(StorageError):
    """No object under that key: the store lost it, or it was never copied there."""


class RangeReader(Protocol):
    """One byte range of an object, read in order: `read(n)` gives n bytes until the range ends."""

    def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


class FileStorage(Protocol):
    def put_stream(self, chunks: Iterable[bytes]) -> StoredObject:
        """Store the bytes; returns their key, size and SHA-256 (computed while storing)."""
        ...

    def exists(self, key: str) -> bool: ...

    def stat(self, key: str) -> ObjectInfo:
        """Size and modification time; ObjectMissing when there is no such object."""
        ...

    def open_range(self, key: str, start: int, end: int) -> RangeReader:
        """Bytes [start, end) of the object, streamed (never the whole object in memory)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (nothing if it is not there)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A path on this machine to stream from, or None for a remote store."""
        ...


def check_key(key: str) -> str:
    """Keys come from the database; still, one that is not a content address never reaches a path or a bucket."""
    if not _KEY.match(key):
        raise StorageError(f"not a storage key: {key!r}")
    return key


def content_key(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256}"


def read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class _FileRange:
    """A byte range of a local file."""

    def __init__(self, handle: BinaryIO, start: int, end: int):
        self._handle = handle
        self._left = end - start
        handle.seek(start)

    def read(self, n: int) -> bytes:
        data = self._handle.read(min(n, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._handle.close()


class LocalStorage:
    """A directory: objects written to a temporary file, fsynced, then renamed into place (atomic)."""

    name = "local"

    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def __str__(self) -> str:
        return f"the directory {self.root}"

    def put_stream(self, chunks: Iterable[bytes]) -> StoredObject:
        incoming = self.root / "incoming"
        private_dir(incoming)
        digest, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=incoming)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            key = content_key(sha)
            final = self._path(key)
            private_dir(final.parent)
            os.replace(tmp, final)  # same bytes, same name: replacing an existing copy changes nothing
        finally:
            tmp.unlink(missing_ok=True)
        return StoredObject(key, size, sha)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stat(self, key: str) -> ObjectInfo:
        try:
            result = os.stat(self._path(key))
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        return ObjectInfo(result.st_size, result.st_mtime)

    def open_range(self, key: str, start: int, end: int) -> RangeReader:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        return _FileRange(handle, start, end)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


def get_storage(settings: Settings) -> FileStorage:
    """The backend RESELL_STORAGE names: the one place that chooses."""
    if settings.storage == "s3":
        return s3_storage(settings)
    return LocalStorage(settings.effective_files_dir)


def s3_storage(settings: Settings) -> FileStorage:
    """The bucket of the RESELL_S3_* settings, whatever RESELL_STORAGE says (`resell files migrate-to-s3`
    copies there before the switch)."""
    if not settings.s3_bucket:
        raise StorageError("RESELL_S3_BUCKET is not set")
    return _s3(
        settings.s3_endpoint_url,
        settings.s3_bucket,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
        settings.s3_prefix,
    )


@functools.lru_cache(maxsize=8)
def _s3(endpoint: str, bucket: str, region: str, key_id: str, secret: str, prefix: str) -> FileStorage:
    """One client per configuration and process (a boto3 client is thread-safe and pools its connections;
    making one costs tens of milliseconds, too much per download)."""
    from resell.storage_s3 import S3Storage  # boto3 is imported by S3 users only

    return S3Storage(endpoint, bucket, region, key_id, secret, prefix)
