"""The command line given a database it cannot use: an unparseable URL or one naming a driver
kopnet does not install (`database_url_invalid`), a server or a file that cannot be opened,
a database not migrated to head or migrated by a newer kopnet.

Each is refused with exit 2 and the error's code printed, never a traceback (whose exit 1
`audit verify` documents as 'tampered'), and a refused command changes nothing (README
"Commands", api/cli_support.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.db import make_engine
from migrations.runner import upgrade
from tests.cli import assert_refused_with, assert_refused_with_a_code, error_code, invoke

_COMMANDS_WITH_A_DATABASE = [
    ("db", "upgrade"),
    ("audit", "verify"),
    ("ledger", "seal"),
    ("ledger", "expire"),
    ("demo",),
]


@pytest.mark.parametrize("command", _COMMANDS_WITH_A_DATABASE, ids=" ".join)
def test_commands_with_an_unparseable_database_url_exit_2_with_a_code(
    command: tuple[str, ...],
) -> None:
    """`--database-url nonsense` is `database_url_invalid` with exit 2 for every command
    that opens a database, not SQLAlchemy's ArgumentError traceback (exit 1)."""
    assert_refused_with_a_code(invoke(*command, "--database-url", "nonsense"))


def test_cli_with_an_unusable_database_url_exits_2_with_a_code() -> None:
    """`kopnet settle close --database-url nonsense` prints `database_url_invalid` and
    exits 2, not SQLAlchemy's ArgumentError traceback."""
    result = invoke("settle", "close", "--date", "2020-01-01", "--database-url", "nonsense")
    assert error_code(result) == "database_url_invalid"


@pytest.mark.parametrize(
    "command",
    [("db", "upgrade"), ("ledger", "seal"), ("settle", "close", "--date", "2026-11-23")],
    ids=" ".join,
)
def test_a_database_url_naming_a_driver_that_is_not_installed_is_database_url_invalid(
    command: tuple[str, ...],
) -> None:
    """`postgresql+psycopg2://...` names PostgreSQL through a driver kopnet does not
    install: `database_url_invalid`, not a ModuleNotFoundError traceback."""
    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/kopnet_no_such_db"
    assert_refused_with(invoke(*command, "--database-url", url), "database_url_invalid")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("nonsense", "database_url_invalid"),
        ("postgresql://postgres@127.0.0.1:1/postgres", "database_unavailable"),
    ],
)
def test_bench_with_a_database_it_cannot_use_exits_2_with_a_code(url: str, code: str) -> None:
    """The bench commands check their database as the others do: a bad URL or an
    unreachable server gets the documented code, not a traceback."""
    assert_refused_with(invoke("bench", "settlement", "--database-url", url), code)


def _unopenable_url(kind: str, tmp_path: Path) -> str:
    if kind == "unreachable server":
        return "postgresql://postgres@127.0.0.1:1/kopnet"
    if kind == "path is a directory":
        return f"sqlite:///{tmp_path}"
    if kind == "folder missing":
        return f"sqlite:///{tmp_path / 'missing' / 'kopnet.db'}"
    (tmp_path / "not-a-database.db").write_bytes(b"this is not an SQLite file" * 100)
    return f"sqlite:///{tmp_path / 'not-a-database.db'}"


@pytest.mark.parametrize(
    "kind", ["unreachable server", "path is a directory", "folder missing", "not a database"]
)
@pytest.mark.parametrize(
    "command",
    [("db", "upgrade"), ("audit", "verify"), ("settle", "close", "--date", "2026-11-23")],
    ids=" ".join,
)
def test_commands_on_a_database_that_cannot_be_opened_exit_2_with_a_code(
    command: tuple[str, ...], kind: str, tmp_path: Path
) -> None:
    """A database that cannot be opened is a named error with exit 2, not a raw
    OperationalError/DatabaseError traceback with exit 1, which for `audit verify` is the
    status documented as 'tampered'."""
    assert_refused_with_a_code(invoke(*command, "--database-url", _unopenable_url(kind, tmp_path)))


@pytest.mark.parametrize(
    ("command", "revision"),
    [
        (("audit", "verify"), "none"),
        (("settle", "close", "--date", "2026-11-23"), "none"),
        (("settle", "close", "--date", "2026-11-23"), "0003"),
    ],
    ids=["audit verify-none", "settle close-none", "settle close-0003"],
)
def test_commands_on_a_database_not_migrated_to_head_exit_2_with_a_code(
    command: tuple[str, ...], revision: str, tmp_path: Path
) -> None:
    """A database not migrated (or at an older revision) is refused with a code telling
    the operator to run `kopnet db upgrade`, not a `no such table` / `no such column`
    traceback (exit 1: 'tampered' for `audit verify`)."""
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    if revision != "none":
        upgrade(f"sqlite:///{path}", revision)
    assert_refused_with_a_code(invoke(*command, "--database-url", f"sqlite:///{path}"))


def test_db_upgrade_of_a_database_at_an_unknown_revision_exits_2_with_a_code(
    sqlite_url: str,
) -> None:
    """A database migrated by a newer kopnet (a revision this code does not know) is a
    named error for `db upgrade`, not Alembic's CommandError traceback."""
    with make_engine(sqlite_url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    assert_refused_with_a_code(invoke("db", "upgrade", "--database-url", sqlite_url))


def test_audit_verify_of_a_missing_sqlite_file_creates_no_database(tmp_path: Path) -> None:
    """A failed command changes nothing: auditing a mistyped SQLite path leaves no empty
    database file behind."""
    missing = tmp_path / "typo.db"
    invoke("audit", "verify", "--database-url", f"sqlite:///{missing}")
    assert not missing.exists()
