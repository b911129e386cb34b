"""What resell writes to disk is its own user's alone (issue: safe to put on the internet): the SQLite
file with its -wal and -shm, the generated JWT key, the demo credentials and the product files are
mode 0600, and the directories it creates (var/, the files directory and below) 0700, whatever the
umask of the operator's shell."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from resell.config import Settings
from tests.conftest import run_cli


@pytest.fixture(params=[0o000, 0o022], ids=["umask-000", "umask-022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_a_fresh_var_dir_after_db_upgrade_and_demo_is_private(tmp_path: Path, umask: int) -> None:
    var = tmp_path / "deploy" / "var"  # two levels that do not exist yet
    env: dict[str, str | None] = {
        "RESELL_VAR_DIR": str(var),
        "RESELL_DATABASE_URL": None,  # the default: SQLite in var/
        "RESELL_FILES_DIR": None,
        "RESELL_JWT_SECRET": None,  # generated into var/jwt-secret
    }
    upgraded = run_cli(env, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    seeded = run_cli(env, "demo", "--serials", "3")
    assert seeded.exit_code == 0, seeded.output
    assert Settings(var_dir=var, jwt_secret="").effective_jwt_secret  # generated as `resell serve` does

    found = modes(var)
    for name in ("resell.db", "resell.db-wal", "resell.db-shm", "jwt-secret", "demo-credentials.json"):
        assert name in found, sorted(found)
    assert any(name.startswith("files/sha256/") for name in found)  # the demo's product files
    files = {name: mode for name, mode in found.items() if (var / name).is_file()}
    dirs = {name: mode for name, mode in found.items() if (var / name).is_dir()}
    assert files and all(mode == 0o600 for mode in files.values()), files
    assert dirs and all(mode == 0o700 for mode in dirs.values()), dirs
    assert stat.S_IMODE((tmp_path / "deploy").stat().st_mode) == 0o700  # a missing parent too
