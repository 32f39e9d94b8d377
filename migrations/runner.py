"""Running the Alembic migrations from code: `upgrade`, `downgrade`, and the revisions.

The migrations ship inside the package, so `kopnet db upgrade` works from an installed
wheel as well as from a checkout. `current_revision` reads a database's revision without
changing anything; `head_revision` is the newest revision this code defines.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from ledger.db import make_engine

__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "known_revisions",
    "upgrade",
]

_HERE = Path(__file__).resolve().parent


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """Return an Alembic config pointing at these migrations and `url` or `connection`."""
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at `url` down to `revision`."""
    command.downgrade(alembic_config(url), revision)


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
