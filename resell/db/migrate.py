"""Bring a database to the latest schema with the Alembic migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from resell.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    config = alembic_config(db)
    with db.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to `revision` (the migrations' downgrades; what they cannot undo, they refuse)."""
    config = alembic_config(db)
    with db.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class NotMigrated(Exception):
    """The schema is missing or behind (or ahead of) the migrations of this release: the message says what to do."""


def where(db: Database) -> str:
    """The database in words for an operator: the SQLite file, or the URL without its password."""
    url = make_url(db.url)
    if db.is_sqlite and url.database and url.database != ":memory:":
        return str(Path(url.database).resolve())
    return url.render_as_string(hide_password=True)


def require_latest(db: Database) -> None:
    """Refuse to run on a schema this release did not migrate: every call would fail with a 500 or a traceback."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(db))
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    latest = set(script.get_heads())
    if current == latest:
        return
    unknown = sorted(rev for rev in current if rev not in {s.revision for s in script.walk_revisions()})
    if unknown:
        raise NotMigrated(
            f"the database at {where(db)} is at revision {', '.join(unknown)}, which this release of resell "
            "does not know: run the release that migrated it"
        )
    raise NotMigrated(f"the database at {where(db)} is not migrated: run `resell db upgrade`")
