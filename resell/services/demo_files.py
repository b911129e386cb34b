"""Real bytes for the demo catalogue's files, generated at `resell demo` time into the files directory.

Each file's content is made from its name alone (a short text header, then pseudo-random bytes
seeded by the name's SHA-256), so every machine generates exactly the bytes whose size and SHA-256
the demo catalogue (resell/demo/catalog.json) declares, and downloads and Metalink checks work
right after `make run`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

from resell.services import files
from resell.services.context import Context

CHUNK = 1024 * 1024


def demo_bytes(file_name: str, size: int) -> Iterator[bytes]:
    header = f"resell demo file {file_name}: not real software, just {size} bytes to download.\n".encode()
    header = header[:size]
    yield header
    rng = random.Random(int.from_bytes(hashlib.sha256(file_name.encode()).digest()[:16], "big"))
    left = size - len(header)
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def digest(file_name: str, size: int) -> str:
    sha = hashlib.sha256()
    for chunk in demo_bytes(file_name, size):
        sha.update(chunk)
    return sha.hexdigest()


def store_demo_files(ctx: Context, catalog: dict[str, Any]) -> int:
    """Generate and attach every file the demo catalogue lists; returns how many."""
    count = 0
    for product in catalog["products"]:
        for f in product.get("files", []):
            files.add_stream(ctx, product["ref"], demo_bytes(f["fileName"], f["size"]), f["fileName"], actor="demo")
            count += 1
    return count
