"""Where product files live: a storage backend behind one small interface, chosen by RESELL_STORAGE_BACKEND.

Objects are content-addressed (`sha256/ab/abcdef...`): storing the same bytes twice costs nothing,
a stored object never changes, and its SHA-256 is its strong ETag. The local backend keeps them under
RESELL_FILES_DIR (default `var/files/`) and lets the download endpoint stream them from disk with
Range support. A remote store (S3-compatible) implements the same interface and answers `local_path`
with None and `redirect_url` with a short-lived presigned URL, which the download endpoint redirects to.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from resell.config import Settings
from resell.private_files import private_dir

CHUNK = 1024 * 1024
_KEY = re.compile(r"^sha256/[0-9a-f]{2}/[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class StorageError(Exception):
    """The backend cannot store or find an object."""


class FileStorage(Protocol):
    def put_stream(self, chunks: Iterable[bytes]) -> StoredObject:
        """Store the bytes; returns their key, size and SHA-256 (computed while storing)."""
        ...

    def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> Path | None:
        """A path on this machine to stream from, or None for a remote store."""
        ...

    def redirect_url(self, key: str, file_name: str, ttl_seconds: int) -> str | None:
        """For a remote store: a short-lived URL of the object; None for a local one."""
        ...


def read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class LocalStorage:
    """A directory: objects written to a temporary file, fsynced, then renamed into place (atomic)."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise StorageError(f"not a storage key: {key!r}")
        return self.root / key

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
            key = f"sha256/{sha[:2]}/{sha}"
            final = self._path(key)
            private_dir(final.parent)
            os.replace(tmp, final)  # same bytes, same name: replacing an existing copy changes nothing
        finally:
            tmp.unlink(missing_ok=True)
        return StoredObject(key, size, sha)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def redirect_url(self, key: str, file_name: str, ttl_seconds: int) -> str | None:
        return None


def get_storage(settings: Settings) -> FileStorage:
    if settings.storage_backend == "local":
        return LocalStorage(settings.effective_files_dir)
    raise StorageError(f"unknown storage backend {settings.storage_backend!r} (RESELL_STORAGE_BACKEND)")
