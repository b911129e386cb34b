"""Files and directories only the service's own user may read: the SQLite database, the secrets in
var/ and the product files.

Modes are set explicitly rather than left to the umask, so that a umask of 000 or 022 never makes the
JWT key, the demo credentials or the database readable by another user of the machine. A directory
that already exists (an operator's /srv/resell, /tmp) keeps its mode: only what resell creates is set.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create `path` and its missing parents with mode 0700, whatever the umask."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it first
            continue
        os.chmod(directory, DIR_MODE)


def open_private(path: Path | str, flags: int = os.O_WRONLY | os.O_TRUNC) -> int:
    """os.open(path, flags), creating the file with mode 0600 whatever the umask if it is missing."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return os.open(path, flags)
    os.fchmod(fd, FILE_MODE)
    return fd


def touch_private(path: Path | str) -> None:
    """Create the file empty with mode 0600 unless it exists."""
    os.close(open_private(path, os.O_WRONLY))
