"""Alembic environment: runs the migrations on the connection handed over by resell.db.migrate.

On SQLite a migration that alters a table rebuilds it (copy, drop, rename): rows of other tables
point at it meanwhile, so foreign keys are not enforced during the migrations (SQLite only takes
that setting outside a transaction) and are checked whole before the commit instead.
"""

from alembic import context

from resell.db.tables import metadata

connection = context.config.attributes["connection"]
sqlite = connection.dialect.name == "sqlite"
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=sqlite,  # SQLite alters tables by copying them
    compare_type=True,
)
if sqlite and not connection.in_transaction():
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA foreign_keys=OFF")
    done = False
    try:
        with context.begin_transaction():
            context.run_migrations()
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"the migrations leave rows whose foreign keys point nowhere: {broken[:10]}")
        done = True
    finally:
        # committed (or undone) here, so that the setting can be put back: SQLite ignores it in a transaction
        if connection.in_transaction():
            connection.commit() if done else connection.rollback()
        driver.execute("PRAGMA foreign_keys=ON")
else:
    with context.begin_transaction():
        context.run_migrations()
