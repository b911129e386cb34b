"""Settings: the defaults a fresh machine runs on."""

from __future__ import annotations

import stat
from pathlib import Path

from resell.config import Settings


def test_jwt_secret_is_generated_once_into_var_and_kept(tmp_path: Path) -> None:
    first = Settings(var_dir=tmp_path / "var")
    key = first.effective_jwt_secret
    assert len(key) >= 32
    path = tmp_path / "var" / "jwt-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(var_dir=tmp_path / "var").effective_jwt_secret == key  # a restart keeps the key
    assert list((tmp_path / "var").iterdir()) == [path]  # no temporary file left behind


def test_jwt_secret_from_the_environment_wins(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RESELL_JWT_SECRET", "from-env-" + "k" * 40)
    assert Settings(var_dir=tmp_path).effective_jwt_secret == "from-env-" + "k" * 40
    assert not (tmp_path / "jwt-secret").exists()


def test_default_database_is_sqlite_under_var(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "v")
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'v' / 'resell.db').as_posix()}"
    assert settings.base_url == "http://127.0.0.1:8000"
