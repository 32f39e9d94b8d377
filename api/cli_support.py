"""What every `kopnet` command shares: refusing bad input with a code, reading the settings,
opening the database and the services over it.

A refused command prints `{"error": code, "message": ...}` as JSON on stdout and exits 2;
it has changed nothing (exit 1 is kept for a check that found a problem). A command left
without an answer (`outcome_unknown`) prints the same and exits 3: it is not a refusal,
what it sent may yet be recorded, and running it again is safe (every write is
idempotent). The codes added
here: `setting_invalid`, `database_url_invalid`, `database_not_found`,
`database_unavailable`, `database_busy`, `schema_not_at_head`, `schema_revision_unknown`,
`migration_refused`, `database_permission_denied`, `database_read_only`, and the
ledger's `lock_wait_timeout` for a migration. Domain errors
keep their own codes. Messages never carry a secret: settings are named, not echoed, and a
URL is shown with its password hidden.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import psycopg
import typer
from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from api.bootstrap import SchemaRevisionError, Services, build, migrate
from api.settings import DATABASE_URL_CHARS_MAX, Settings
from interchange.errors import InterchangeError
from ledger.db import sqlstate
from ledger.errors import LedgerError, LedgerErrorCode
from settlement.errors import SettlementError

__all__ = [
    "OUTCOME_UNKNOWN_EXIT",
    "REFUSED_EXIT",
    "connection_code",
    "fail",
    "load_settings",
    "open_services",
    "opening_database",
    "print_refusal",
    "require_database_url",
    "running",
    "shown_url",
    "upgrade_schema",
]

# The drivers kopnet installs: SQLite's own, and psycopg 3 (a bare `postgresql://` means it).
_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"})
_URL_EXPECTED = "expected sqlite:///FILE or postgresql://USER@HOST/DATABASE (psycopg 3)"
# While working, a lost connection is the database's fault, and a refusal of the role's
# work (`_REFUSING_SQLSTATES`) the operator's; any other driver error is a defect and
# keeps its traceback.
_CONNECTION_LOST = (OperationalError, InterfaceError)
# The database refusing the work itself: a role without the privilege (an auditor's
# read-only role asked to seal first), a read-only server (a replica) asked to write, a
# lock held past `lock_timeout` (a migration's; the services raise it as a `LedgerError`).
_REFUSING_SQLSTATES = {
    "42501": ("database_permission_denied", "the database refused this role"),
    "25006": ("database_read_only", "the database takes no writes"),
    "55P03": (
        str(LedgerErrorCode.LOCK_WAIT_TIMEOUT),
        "a lock stayed held by another transaction past KOPNET_LOCK_TIMEOUT_MS: nothing"
        " changed; run it again once that transaction ends",
    ),
}
# The first 16 bytes of every SQLite database file.
_SQLITE_HEADER = b"SQLite format 3\x00"
REFUSED_EXIT = 2
OUTCOME_UNKNOWN_EXIT = 3


def fail(code: str, message: str, *, exit_code: int = REFUSED_EXIT) -> NoReturn:
    """Print the error's code and message as JSON and exit (2: refused, changed nothing)."""
    print_refusal(code, message)
    raise typer.Exit(exit_code)


def print_refusal(code: str, message: str) -> None:
    """Print a refusal as every command prints one: `{"error": code, "message": ...}`."""
    typer.echo(json.dumps({"error": code, "message": message}))


def load_settings(database_url: str | None) -> Settings:
    """The settings from the environment, with `--database-url` applied if given.

    Refuses a setting that does not validate (`setting_invalid`, naming the setting,
    not its value) and a URL that does not parse or names another database
    (`database_url_invalid`).
    """
    try:
        settings = Settings()
    except ValidationError as error:
        fail("setting_invalid", _describe(error))
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    require_database_url(settings.database_url)
    return settings


def _describe(error: ValidationError) -> str:
    """Each failing setting by its variable's name and what is wrong, without its value."""
    parts = []
    for detail in error.errors(include_url=False, include_input=False):
        name = "_".join(str(part) for part in detail["loc"]).upper()
        reason = detail["msg"].removeprefix("Value error, ")
        parts.append(f"KOPNET_{name}: {reason}" if name else reason)
    return "; ".join(parts)


def require_database_url(url: str) -> URL:
    """`url` parsed, or `database_url_invalid` unless it names SQLite or PostgreSQL through
    a driver kopnet installs (psycopg 3), within `DATABASE_URL_CHARS_MAX` characters."""
    if len(url) > DATABASE_URL_CHARS_MAX:
        fail(
            "database_url_invalid", f"{_URL_EXPECTED} (at most {DATABASE_URL_CHARS_MAX} characters)"
        )
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        parsed = None
    if parsed is None or parsed.drivername not in _DRIVERS:
        fail("database_url_invalid", _URL_EXPECTED)
    if parsed.get_backend_name() == "sqlite" and parsed.query:
        # SQLAlchemy would take `file.db?mode=ro` for a file of that name, and create it.
        fail("database_url_invalid", "a SQLite URL names a file and takes no ?options")
    return parsed


def shown_url(url: str) -> str:
    """`url` as it may be printed: with its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def opening_database() -> Iterator[None]:
    """Map a database that cannot be named or opened to its code."""
    try:
        yield
    except ArgumentError:
        fail("database_url_invalid", _URL_EXPECTED)
    except (DBAPIError, psycopg.OperationalError) as error:
        fail(connection_code(error), _first_line(error))


def _first_line(error: Exception) -> str:
    """The first line of the driver's message (it names no password); SQLAlchemy's
    errors carry the driver's as `orig`, psycopg's own (a benchmark's) are it."""
    driver_error = error.orig if isinstance(error, DBAPIError) else error
    lines = str(driver_error).strip().splitlines()
    return lines[0] if lines else type(driver_error).__name__


def upgrade_schema(settings: Settings) -> None:
    """Migrate the database of `settings` to head (creating a SQLite file if missing).

    Refuses a database at a revision these migrations do not know
    (`schema_revision_unknown`: a newer kopnet migrated it) and one a migration will not
    change (`migration_refused`: it says why, and the database stays where it was); on
    PostgreSQL, a migration that waited for a table lock past `KOPNET_LOCK_TIMEOUT_MS`
    (`lock_wait_timeout`: rolled back, the database stays where it was), besides the
    opening errors.
    """
    with opening_database():
        try:
            migrate(settings)
        except CommandError as error:
            fail("schema_revision_unknown", f"{error}: a newer kopnet migrated this database")
        except RuntimeError as error:
            fail("migration_refused", str(error))
        except DBAPIError as error:
            _fail_if_refused(error)
            raise


@contextmanager
def open_services(database_url: str | None) -> Iterator[Services]:
    """The services over an existing database migrated to head; closed after.

    Checks, before building anything: the settings (`load_settings`); that a SQLite file
    exists (`database_not_found`, so that nothing is created). Then, as `running` builds
    the services (`api.bootstrap.build`, which every process goes through): that the
    database opens (`database_unavailable`); that its schema is at head
    (`schema_not_at_head`, or `schema_revision_unknown` for a revision a newer kopnet
    wrote); that the sealing key is the database's (`seal_key_mismatch`).
    """
    settings = load_settings(database_url)
    _require_sqlite_file(settings.database_url)
    with running(settings) as services:
        yield services


def _require_sqlite_file(url: str) -> None:
    """`database_not_found` if `url` names a SQLite file that does not exist, or one that
    does not start as a SQLite database does (opening it would write to it)."""
    parsed = require_database_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return
    if not Path(path).exists():
        fail("database_not_found", f"no database at {path}; run `kopnet db upgrade` first")
    try:
        with Path(path).open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as error:
        fail("database_unavailable", f"cannot read {path}: {error.strerror}")
    if header != _SQLITE_HEADER:
        fail("database_not_found", f"{path} holds no SQLite database")


def connection_code(error: BaseException) -> str:
    """`database_busy` when SQLite's write lock stayed taken past the busy timeout (another
    process writing: running the command again later is safe), else
    `database_unavailable`."""
    busy = isinstance(error, OperationalError) and "database is locked" in str(error.orig)
    return "database_busy" if busy else "database_unavailable"


def _fail_ledger(error: LedgerError) -> NoReturn:
    """Exit with the ledger's code: 3 when the outcome is unknown (the sealing key's
    fingerprint, recorded by `build`, included), 2 for a refusal."""
    unknown = error.code is LedgerErrorCode.OUTCOME_UNKNOWN
    fail(
        str(error.code), error.message, exit_code=OUTCOME_UNKNOWN_EXIT if unknown else REFUSED_EXIT
    )


@contextmanager
def running(settings: Settings) -> Iterator[Services]:
    """The services of `settings`, closed after; errors of the work inside mapped to codes.

    A setting `build` refuses is `setting_invalid`, a schema not at head its code
    (`SchemaRevisionError`), a sealing key not the database's `seal_key_mismatch`; a
    domain error keeps its code; a connection lost while working is
    `database_unavailable` (`database_busy` for SQLite's write lock held past the busy
    timeout); work the database refuses to its role is
    `database_permission_denied` (use `audit verify --no-seal-first` with a read-only
    role), and writes to a read-only server `database_read_only`.
    """
    with opening_database():
        try:
            services = build(settings)
        except ValueError as error:
            fail("setting_invalid", str(error))
        except SchemaRevisionError as error:
            fail(error.code, error.message)
        except LedgerError as error:
            _fail_ledger(error)
        except DBAPIError as error:
            # The sealing key's check reads (and may record) its fingerprint.
            _fail_if_refused(error)
            raise
    try:
        yield services
    except LedgerError as error:
        _fail_ledger(error)
    except (InterchangeError, SettlementError) as error:
        fail(str(error.code), error.message)
    except _CONNECTION_LOST as error:
        fail(connection_code(error), _first_line(error))
    except (DBAPIError, psycopg.Error) as error:
        # psycopg's own errors come from the writes sent in a pipeline (`ledger.db`).
        _fail_if_refused(error)
        raise
    finally:
        services.close()


def _fail_if_refused(error: Exception) -> None:
    """Fail with the code of a refusal by the database (`_REFUSING_SQLSTATES`), saying
    why and what the driver said; return for any other error, a defect to raise."""
    refusal = _REFUSING_SQLSTATES.get(sqlstate(error) or "")
    if refusal is not None:
        code, why = refusal
        fail(code, f"{why}: {_first_line(error)}")
