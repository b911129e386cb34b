"""Product files in a bucket of an S3-compatible object store (AWS S3, MinIO, Ceph, R2...), through boto3.

Imported only when RESELL_STORAGE=s3 (or by `resell files migrate-to-s3`): local-storage users never
load boto3. Memory stays bounded both ways:

- storing streams the bytes in parts of PART_SIZE: a file smaller than one part is one PUT under its
  content address; a larger one is a multipart upload to a temporary key (its SHA-256, hence its
  address, is known only at the end), then a server-side copy to its address and the temporary key
  deleted;
- reading is one ranged GET per range asked for, its body read a chunk at a time and closed after.

The client is thread-safe; the download endpoint calls it from worker threads, off the event loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from resell.storage import ObjectInfo, ObjectMissing, RangeReader, StorageError, StoredObject, check_key, content_key

PART_SIZE = 16 * 1024 * 1024  # S3 wants parts of 5 MiB at least (but the last); 10,000 parts: files up to 160 GiB
MAX_CONNECTIONS = 64  # concurrent downloads each hold one connection while they read a range
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


class _BodyRange:
    """A ranged GET's body: read in order, closed (its connection released) when done or abandoned."""

    def __init__(self, body: Any, length: int):
        self._body = body
        self._left = length

    def read(self, n: int) -> bytes:
        if self._left <= 0:
            return b""
        try:
            data: bytes = self._body.read(min(n, self._left))
        except (BotoCoreError, OSError) as exc:
            raise StorageError(f"reading from the object store failed: {exc}") from exc
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._body.close()


class S3Storage:
    name = "s3"

    def __init__(self, endpoint: str, bucket: str, region: str, key_id: str, secret: str, prefix: str):
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        config = Config(
            max_pool_connections=MAX_CONNECTIONS,
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=60,
            # another store than AWS is reached at its own address, path-style (MinIO and most others need it)
            s3={"addressing_style": "path" if endpoint else "auto"},
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region or None,
            aws_access_key_id=key_id or None,  # none: boto3's own chain (AWS_* variables, an instance role...)
            aws_secret_access_key=secret or None,
            config=config,
        )

    def __str__(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"the bucket {self.bucket}{where}" + (f" (keys under {self.prefix})" if self.prefix else "")

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _call(self, what: str, key: str, method: Any, **kw: Any) -> Any:
        """One client call; a missing object is ObjectMissing, anything else that fails a StorageError."""
        try:
            return method(Bucket=self.bucket, **kw)
        except ClientError as exc:
            if _missing(exc):
                raise ObjectMissing(key) from exc
            raise StorageError(f"{what} {key} in {self}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{what} {key} in {self}: {exc}") from exc

    def put_stream(self, chunks: Iterable[bytes]) -> StoredObject:
        digest, size = hashlib.sha256(), 0
        buffer = bytearray()
        upload: _Multipart | None = None
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                while len(buffer) >= PART_SIZE:
                    upload = upload or _Multipart(self)
                    upload.part(bytes(buffer[:PART_SIZE]))
                    del buffer[:PART_SIZE]
            sha = digest.hexdigest()
            key = content_key(sha)
            if upload is None:  # one part: stored under its address at once
                if not self.exists(key):
                    self._call("storing", key, self.client.put_object, Key=self._name(key), Body=bytes(buffer))
                return StoredObject(key, size, sha)
            if buffer:
                upload.part(bytes(buffer))
            buffer.clear()
            upload.complete()
            if not self.exists(key):
                self._copy(upload.name, key)
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        try:
            upload.remove()
        except StorageError:
            pass  # the object is stored; a leftover under incoming/ is the lifecycle rule's (docs/operations.md)
        return StoredObject(key, size, sha)

    def _copy(self, source_name: str, key: str) -> None:
        """Server-side copy (multipart beyond 5 GiB: the managed transfer splits it)."""
        try:
            self.client.copy({"Bucket": self.bucket, "Key": source_name}, self.bucket, self._name(key))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"copying {source_name} to {key} in {self}: {exc}") from exc

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectMissing:
            return False
        return True

    def stat(self, key: str) -> ObjectInfo:
        head = self._call("looking up", key, self.client.head_object, Key=self._name(key))
        modified = head.get("LastModified")
        return ObjectInfo(
            int(head["ContentLength"]), modified.timestamp() if isinstance(modified, dt.datetime) else 0.0
        )

    def open_range(self, key: str, start: int, end: int) -> RangeReader:
        if end <= start:
            return _BodyRange(_Empty(), 0)
        reply = self._call(
            "reading", key, self.client.get_object, Key=self._name(key), Range=f"bytes={start}-{end - 1}"
        )
        return _BodyRange(reply["Body"], end - start)

    def delete(self, key: str) -> None:
        self._call("deleting", key, self.client.delete_object, Key=self._name(key))

    def local_path(self, key: str) -> Path | None:
        return None


class _Empty:
    def read(self, n: int) -> bytes:
        return b""

    def close(self) -> None:
        pass


class _Multipart:
    """A multipart upload to a temporary key of the bucket."""

    def __init__(self, store: S3Storage):
        self.store = store
        self.name = f"{store.prefix}incoming/{uuid.uuid4().hex}"
        self.parts: list[dict[str, Any]] = []
        reply = self._do(store.client.create_multipart_upload, Key=self.name)
        self.upload_id = reply["UploadId"]
        self.completed = False

    def _do(self, method: Any, **kw: Any) -> Any:
        try:
            return method(Bucket=self.store.bucket, **kw)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"uploading to {self.store}: {exc}") from exc

    def part(self, data: bytes) -> None:
        number = len(self.parts) + 1
        reply = self._do(
            self.store.client.upload_part, Key=self.name, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"PartNumber": number, "ETag": reply["ETag"]})

    def complete(self) -> None:
        self._do(
            self.store.client.complete_multipart_upload,
            Key=self.name,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        self.completed = True

    def abort(self) -> None:
        """Best effort: a failed upload leaves no parts (a bucket lifecycle rule catches what this misses)."""
        try:
            if self.completed:
                self.remove()
            else:
                self.store.client.abort_multipart_upload(
                    Bucket=self.store.bucket, Key=self.name, UploadId=self.upload_id
                )
        except (ClientError, BotoCoreError, StorageError):
            pass

    def remove(self) -> None:
        self._do(self.store.client.delete_object, Key=self.name)
