"""Alembic environment: runs migrations on the connection or URL the caller configured.

The URL comes from the Alembic config (`sqlalchemy.url`), set by `migrations.runner`, and
so do the lock and idle-in-transaction timeouts of the engine made for it (the defaults of
`ledger.db.make_engine` when the config names none); a connection passed in
`config.attributes["connection"]` (not in a transaction) is used as is. On SQLite all
migrations of a run share one transaction, with foreign keys off.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from ledger.db import make_engine


def _run(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    # SQLite changes a table by copying it into a new one and dropping the old: with foreign
    # keys enforced, dropping a table other rows point at fails. They are switched off for
    # the run (only possible outside a transaction); every reference is checked before the
    # one transaction of the run commits, and they are switched on again after it.
    if connection.in_transaction():
        raise RuntimeError("SQLite migrations need a connection outside a transaction")
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        context.configure(connection=connection, render_as_batch=True, transactional_ddl=True)
        with context.begin_transaction():
            context.run_migrations()
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left broken references: {broken[:5]}")
    finally:
        driver.execute("PRAGMA foreign_keys = ON")


def run_migrations_online() -> None:
    """Run the migrations on the configured connection, or on a fresh engine."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    engine = make_engine(url, bounds=context.config.attributes.get("session_bounds"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run_migrations_online()
