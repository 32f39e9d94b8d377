"""The composition root: settings in, engine and services out. Nothing else builds them.

`build` migrates nothing and starts the services' threads; call `Services.close()` when
done. It refuses a database whose schema is not at head (`SchemaRevisionError`:
`schema_not_at_head`, or `schema_revision_unknown` for a revision a newer kopnet wrote),
and a sealing key that is not the database's (`seal_key_mismatch`, checked before any
service writes: the payment, registry and settlement services seal what they write with
the same key without going through the ledger's methods). `migrate` brings a database to
the newest schema. Both hold every PostgreSQL session to the settings' lock and
idle-in-transaction timeouts.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from api.settings import Settings
from interchange.payments import Payments
from interchange.registry import Registry
from interchange.window import WindowCalendar
from ledger.db import make_engine, normalise_url, reading
from ledger.service import Ledger
from migrations.runner import head_revision, known_revisions, upgrade
from settlement.service import Settlement
from settlement.unsettled import coop_has_unsettled_obligations

__all__ = ["SchemaRevisionError", "Services", "build", "migrate"]


class SchemaRevisionError(Exception):
    """The database's schema is not the one this kopnet needs; `code` is stable:
    `schema_not_at_head` (run `kopnet db upgrade`) or `schema_revision_unknown` (a newer
    kopnet migrated it)."""

    def __init__(self, code: str, message: str) -> None:
        assert code in ("schema_not_at_head", "schema_revision_unknown")
        super().__init__(message)
        self.code = code
        self.message = message


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


def _require_schema_at_head(engine: Engine) -> None:
    """Raise `SchemaRevisionError` unless the database of `engine` is at this kopnet's
    head revision: `schema_revision_unknown` for a revision these migrations do not
    define, `schema_not_at_head` for an older one or none. Connects; changes nothing."""
    # A read: on SQLite it must not take the write lock (a fresh audit waits for no writer).
    with reading(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = head_revision()
    if current is not None and current not in known_revisions():
        message = f"database is at {current}: a newer kopnet migrated it"
        raise SchemaRevisionError("schema_revision_unknown", message)
    if current != head:
        raise SchemaRevisionError(
            "schema_not_at_head",
            f"database is at {current or 'no revision'}, this kopnet needs {head}: "
            "run `kopnet db upgrade`",
        )


def build(settings: Settings) -> Services:
    """Build the engine and services for `settings`, over a database at head whose
    recorded sealing key is `settings`' (`SchemaRevisionError`, `seal_key_mismatch`)."""
    engine = make_engine(settings.database_url, bounds=settings.session_bounds())
    try:
        return _build_over(engine, settings)
    except BaseException:
        engine.dispose()
        raise


def _build_over(engine: Engine, settings: Settings) -> Services:
    _require_schema_at_head(engine)
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
    try:
        # Every service of this process seals with this key, most without the ledger's
        # methods: it is checked here, before any of them can write under it.
        ledger.check_seal_key()
    except BaseException:
        ledger.close()
        raise
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
