"""A real S3-protocol server for the tests: moto's standalone server (`moto[server]`, a dev dependency),
started once per session as a subprocess on a free port, with one bucket; each test gets its own key
prefix in it, so tests never see each other's objects.

Test modules take the fixtures they use by name: `moto_s3 = s3_support.moto_s3`, `s3 = s3_support.s3`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

BUCKET = "resell-test-files"
KEY_ID = "testing"
SECRET = "testing-secret"
REGION = "eu-west-3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """The endpoint URL of a moto S3 server holding the bucket BUCKET; stopped at the end of the session."""
    import boto3

    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
        )
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.close()
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Bucket:
    """The test's corner of the bucket: the settings that point at it, and a client to look inside."""

    endpoint: str
    prefix: str
    client: Any

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "storage": "s3",
            "s3_endpoint_url": self.endpoint,
            "s3_bucket": BUCKET,
            "s3_region": REGION,
            "s3_access_key_id": KEY_ID,
            "s3_secret_access_key": SECRET,
            "s3_prefix": self.prefix,
        }

    @property
    def env(self) -> dict[str, str | None]:
        return {f"RESELL_{name.upper()}": value for name, value in self.settings.items()}

    def keys(self) -> list[str]:
        """Every key under the test's prefix, the prefix removed."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=self.prefix)
        return sorted(o["Key"][len(self.prefix) :] for page in pages for o in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=BUCKET, Key=self.prefix + key)["Body"].read())

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=BUCKET, Key=self.prefix + key)

    def uploads_in_progress(self) -> list[str]:
        reply = self.client.list_multipart_uploads(Bucket=BUCKET, Prefix=self.prefix)
        return [u["Key"] for u in reply.get("Uploads", [])]


@pytest.fixture
def s3(moto_s3: str) -> Iterator[Bucket]:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=moto_s3, region_name=REGION, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    yield Bucket(moto_s3, f"t-{uuid.uuid4().hex[:12]}/", client)
    client.close()
