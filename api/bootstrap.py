"""The composition root: settings in, engine and services out. Nothing else builds them.

`build` migrates nothing and starts the services' threads; call `Services.close()` when
done. `migrate` brings a database to the newest schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from api.settings import Settings
from ledger.db import make_engine, normalise_url
from ledger.service import Ledger
from migrations.runner import upgrade

__all__ = ["Services", "build", "migrate"]


@dataclass(frozen=True, slots=True)
class Services:
    """The services of one process over one database."""

    settings: Settings
    engine: Engine
    ledger: Ledger

    def close(self) -> None:
        """Stop worker threads and release database connections."""
        self.ledger.close()
        self.engine.dispose()


def migrate(settings: Settings) -> None:
    """Migrate the configured database to the newest schema."""
    upgrade(normalise_url(settings.database_url))


def build(settings: Settings) -> Services:
    """Build the engine and services for `settings`."""
    engine = make_engine(settings.database_url)
    ledger = Ledger(
        engine,
        seal_key=settings.seal_key_bytes(),
        group_commit_workers=settings.group_commit_workers,
    )
    return Services(settings, engine, ledger)
