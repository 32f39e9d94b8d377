"""Running the Alembic migrations from code: `upgrade`, `downgrade`, and the revisions.

The migrations ship inside the package, so `kopnet db upgrade` works from an installed
wheel as well as from a checkout. `upgrade` and `downgrade` hold their PostgreSQL session
to a lock timeout and an idle-in-transaction timeout (`ledger.db.make_engine`): a migration
whose DDL waits for a table lock past it fails and rolls back, where it would otherwise
wait without bound with every later session of the table queued behind its request.
`current_revision` reads a database's revision without changing anything; `head_revision`
is the newest revision this code defines.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from ledger.db import SessionBounds, make_engine

__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "known_revisions",
    "upgrade",
]

_HERE = Path(__file__).resolve().parent


def alembic_config(
    url: str | None = None,
    connection: Connection | None = None,
    *,
    bounds: SessionBounds | None = None,
) -> Config:
    """Return an Alembic config pointing at these migrations and `url` or `connection`;
    the engine made for `url` holds its sessions to the two timeouts (`make_engine`)."""
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    config.attributes["session_bounds"] = bounds
    return config


def upgrade(url: str, revision: str = "head", *, bounds: SessionBounds | None = None) -> None:
    """Migrate the database at `url` up to `revision`, in one transaction on PostgreSQL:
    a statement that waits for a lock past `bounds` rolls all of it back."""
    command.upgrade(alembic_config(url, bounds=bounds), revision)


def downgrade(url: str, revision: str = "base", *, bounds: SessionBounds | None = None) -> None:
    """Migrate the database at `url` down to `revision`, bounded as `upgrade`."""
    command.downgrade(alembic_config(url, bounds=bounds), revision)


def head_revision() -> str:
    """The newest revision these migrations define (they have exactly one head)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations have one head"
    return head


def known_revisions() -> frozenset[str]:
    """Every revision these migrations define."""
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(revision.revision for revision in script.walk_revisions())


def current_revision(url: str) -> str | None:
    """The revision of the database at `url`, None if it was never migrated; connects."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
