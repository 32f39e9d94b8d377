"""Alembic environment: runs migrations on the connection or URL the caller configured.

The URL comes from the Alembic config (`sqlalchemy.url`), set by `migrations.runner`; a
connection passed in `config.attributes["connection"]` is used as is (tests do this).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from ledger.db import make_engine


def _run(connection: Connection) -> None:
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the configured connection, or on a fresh engine."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run_migrations_online()
