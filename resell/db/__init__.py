"""Storage: SQLAlchemy Core tables, the engine, the unit of work, Alembic migrations."""
