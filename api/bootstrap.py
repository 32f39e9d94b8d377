"""The composition root: settings in, engine and services out. Nothing else builds them.

`build` migrates nothing and starts the services' threads; call `Services.close()` when
done. `migrate` brings a database to the newest schema. Both hold every PostgreSQL session
to the settings' lock and idle-in-transaction timeouts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from api.settings import Settings
from interchange.payments import Payments
from interchange.registry import Registry
from interchange.window import WindowCalendar
from ledger.db import make_engine, normalise_url
from ledger.service import Ledger
from migrations.runner import upgrade
from settlement.service import Settlement
from settlement.unsettled import coop_has_unsettled_obligations

__all__ = ["Services", "build", "migrate"]


@dataclass(frozen=True, slots=True)
class Services:
    """The services of one process over one database."""

    settings: Settings
    engine: Engine
    ledger: Ledger
    registry: Registry
    payments: Payments
    settlement: Settlement

    def close(self) -> None:
        """Stop worker threads and release database connections."""
        self.payments.close()
        self.ledger.close()
        self.engine.dispose()


def migrate(settings: Settings) -> None:
    """Migrate the configured database to the newest schema; a migration that waits for a
    lock past `lock_timeout_ms` fails, rolled back, rather than hold up every session
    queued behind its own lock request."""
    upgrade(normalise_url(settings.database_url), bounds=settings.session_bounds())


def build(settings: Settings) -> Services:
    """Build the engine and services for `settings`."""
    engine = make_engine(settings.database_url, bounds=settings.session_bounds())
    seal_key = settings.seal_key_bytes()
    calendar = WindowCalendar(settings.time_zone, settings.window_cutoff_s)
    vault = settings.nik_vault()
    # Settings refuse this when read; a copy made with `model_copy` is not checked again.
    if settings.is_production and vault.is_development:
        raise ValueError("KOPNET_NIK_KEYS holds the public development keys")
    # The registry checks the vault's keys against the fingerprints the database recorded
    # before its first NIK use (`nik_key_mismatch`), not here: a command that touches no
    # NIK (an auditor's read-only `audit verify`) neither needs nor records them.
    ledger = Ledger(
        engine,
        seal_key=seal_key,
        group_commit_workers=settings.group_commit_workers,
        answer_wait_s=settings.answer_wait_s,
    )
    return Services(
        settings,
        engine,
        ledger,
        Registry(engine, vault, seal_key=seal_key, unsettled=coop_has_unsettled_obligations),
        Payments(
            engine,
            ledger,
            seal_key=seal_key,
            calendar=calendar,
            workers=settings.group_commit_workers,
            answer_wait_s=settings.answer_wait_s,
        ),
        Settlement(engine, ledger, seal_key=seal_key, calendar=calendar),
    )
