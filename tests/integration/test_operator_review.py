"""Review tests of the operator surface: the `kopnet` command line, its settings, the demo,
and the database guards the migrations install.

The command line promises (api/cli.py, api/cli_settle.py): exit 0 on success, 1 only when a
check found a problem, 2 on bad input with the error's code printed; never a traceback. A
failed command changes nothing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner, Result

from api.cli import app
from ledger.db import make_engine
from ledger.service import Ledger
from migrations.runner import upgrade
from tests.builders import idr, open_wallets, transfer
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.raw import CHANGE_REFUSED, INSERT_REFUSED, refusal_code


def _invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=True)


def _assert_refused_with_a_code(result: Result) -> None:
    """Exit 2 with an error code printed, not a traceback (exit 1 means 'tampered')."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}"
    )
    assert result.exit_code == 2, result.output
    assert '"error"' in result.output, result.output


# --- database URLs and databases the commands cannot use -------------------------------------

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
    """`--database-url nonsense` is `database_url_invalid` with exit 2 (as `settle` does);
    these commands die with SQLAlchemy's ArgumentError traceback, exit 1."""
    _assert_refused_with_a_code(_invoke(*command, "--database-url", "nonsense"))


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
    """A database that cannot be opened is a named error with exit 2; the commands die
    with a raw OperationalError/DatabaseError traceback and exit 1, which for `audit
    verify` is the status documented as 'tampered'."""
    _assert_refused_with_a_code(
        _invoke(*command, "--database-url", _unopenable_url(kind, tmp_path))
    )


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
    the operator to run `kopnet db upgrade`; the commands die with `no such table` /
    `no such column` tracebacks (exit 1: 'tampered' for `audit verify`)."""
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    if revision != "none":
        upgrade(f"sqlite:///{path}", revision)
    _assert_refused_with_a_code(_invoke(*command, "--database-url", f"sqlite:///{path}"))


def test_db_upgrade_of_a_database_at_an_unknown_revision_exits_2_with_a_code(
    sqlite_url: str,
) -> None:
    """A database migrated by a newer kopnet (a revision this code does not know) is a
    named error; `db upgrade` dies with Alembic's CommandError traceback."""
    with make_engine(sqlite_url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    _assert_refused_with_a_code(_invoke("db", "upgrade", "--database-url", sqlite_url))


def test_audit_verify_of_a_missing_sqlite_file_creates_no_database(tmp_path: Path) -> None:
    """A failed command changes nothing: auditing a mistyped SQLite path leaves an empty
    database file behind (and dies with `no such table`)."""
    missing = tmp_path / "typo.db"
    _invoke("audit", "verify", "--database-url", f"sqlite:///{missing}")
    assert not missing.exists()


# --- hostile arguments and files ---------------------------------------------------------


def test_settle_confirm_of_a_reference_that_is_not_utf8_exits_2_with_a_code(
    sqlite_url: str,
) -> None:
    """A reference from a non-UTF-8 command line (Python passes it as a lone surrogate) is
    refused with a code; it dies with UnicodeEncodeError in the database driver."""
    result = _invoke(
        "settle",
        "confirm",
        "KN\udcff1",
        "--bank-reference",
        "B1",
        "--amount",
        "1.00",
        "--database-url",
        sqlite_url,
    )
    _assert_refused_with_a_code(result)


def test_fees_publish_of_a_file_that_is_not_utf8_exits_2_with_a_code(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`fees publish` of a file that is not UTF-8 text is refused with a code (as
    `settle reconcile` does); it dies with a UnicodeDecodeError traceback."""
    schedule = tmp_path / "schedule.json"
    schedule.write_bytes(b'\xff\xfe{"version": 1}')
    _assert_refused_with_a_code(
        _invoke("fees", "publish", str(schedule), "--database-url", sqlite_url)
    )


@pytest.mark.parametrize(
    "args",
    [
        ("ledger", "--coops", "0"),
        ("ledger", "--wallets-per-coop", "1"),
        ("ledger", "--duration-s", "-1"),
        ("ledger", "--duration-s", "nan"),
        ("ledger", "--coops", "1", "--wallets-per-coop", "2", "--duration-s", "inf"),
        ("interchange", "--coops", "1"),
        ("interchange", "--duration-s", "0"),
        ("settlement", "--coops", "1"),
        ("settlement", "--payments", "0"),
    ],
    ids=" ".join,
)
def test_bench_commands_with_nonsense_parameters_exit_2_with_a_code(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    """Benchmark options are command-line input: zero cooperatives, a negative, NaN or
    infinite duration are refused with a code, not an AssertionError/OverflowError."""
    kind, *options = args
    result = _invoke(
        "bench",
        kind,
        "--database-url",
        f"sqlite:///{tmp_path / 'bench.db'}",
        *options,
        *(["--no-pgbench"] if kind == "ledger" else []),
    )
    _assert_refused_with_a_code(result)


@pytest.mark.parametrize(
    "setting",
    [
        "KOPNET_WINDOW_CUTOFF_S=abc",
        "KOPNET_WINDOW_CUTOFF_S=-5",
        "KOPNET_WINDOW_CUTOFF_S=86401",
        "KOPNET_TIME_ZONE=Mars/Olympus",
        "KOPNET_NIK_KEYS=garbage",
        "KOPNET_GROUP_COMMIT_WORKERS=0",
        "KOPNET_SEAL_KEY=",
        "KOPNET_ENVIRONMENT=production",
    ],
)
def test_a_bad_setting_in_the_environment_exits_2_with_a_code(
    setting: str, sqlite_url: str
) -> None:
    """Settings are operator input: a malformed or refused one is a named error with exit
    2; the commands die with ValidationError, AssertionError, ZoneInfoNotFoundError or
    NikVaultError tracebacks."""
    name, value = setting.split("=", 1)
    result = _invoke(
        "settle", "close", "--date", "2026-11-23", "--database-url", sqlite_url, env={name: value}
    )
    _assert_refused_with_a_code(result)


# --- the demo ------------------------------------------------------------------------------


def _entry_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM ledger_entry")).scalar_one())
    finally:
        engine.dispose()


def test_the_demo_run_again_on_its_database_succeeds_or_refuses_changing_nothing(
    tmp_path: Path,
) -> None:
    """`kopnet demo` on a database it already ran on either runs or refuses with a code,
    unchanged; it books new payments, then dies with a WindowError traceback
    (`window_settled`)."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = _invoke("demo", "--database-url", url)
    assert first.exit_code == 0, first.output
    entries = _entry_count(url)
    again = _invoke("demo", "--database-url", url)
    assert again.exception is None or isinstance(again.exception, SystemExit), (
        f"traceback: {again.exception!r}"
    )
    if again.exit_code != 0:
        assert again.exit_code == 2
        assert _entry_count(url) == entries


def test_the_demo_prints_no_database_password(pg_url: str) -> None:
    """The demo's last line shows the database URL with the password in clear: a
    credential leak into terminals and logs (it should be hidden, as `***`)."""
    secret = "kopnet-demo-secret-pw"
    url = make_url(pg_url).set(password=secret).render_as_string(hide_password=False)
    result = _invoke("demo", "--database-url", url)
    assert result.exit_code == 0, result.output
    assert secret not in result.output.replace("\n", "")


def test_the_demo_prints_a_database_path_with_brackets_as_given(tmp_path: Path) -> None:
    """The URL is printed as rich markup: a path with `[/b]` in it makes the demo die at
    its last line with a MarkupError after the whole run (exit 1)."""
    folder = tmp_path / "a[" / "b]"
    folder.mkdir(parents=True)
    result = _invoke("demo", "--database-url", f"sqlite:///{folder / 'demo.db'}")
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}"
    )
    assert result.exit_code == 0


# --- the guards on SQLite: REPLACE deletes without firing DELETE triggers ----------------


@pytest.fixture
def sqlite_ledger(sqlite_url: str) -> Iterator[Ledger]:
    """Two sealed entries on SQLite: fund Ani Rp100 (seq 1), Ani pays Budi Rp40 (seq 2)."""
    engine = make_engine(sqlite_url)
    ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(transfer("pay", a["ani"], a["budi"], idr(40)))
    assert ledger.seal() == 2
    yield ledger
    ledger.close()
    engine.dispose()


def _run_all(ledger: Ledger, statements: list[str]) -> None:
    with ledger.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _rows(ledger: Ledger, sql: str) -> list[tuple[Any, ...]]:
    with ledger.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def test_insert_or_replace_cannot_rewrite_a_recorded_entry_on_sqlite(
    sqlite_ledger: Ledger,
) -> None:
    """History is append-only on both engines: PostgreSQL refuses an upsert of an entry,
    but SQLite's `INSERT OR REPLACE` deletes and rewrites the entry row (here its business
    date) because REPLACE's delete fires no DELETE trigger."""
    before = _rows(sqlite_ledger, "SELECT * FROM ledger_entry ORDER BY seq")
    with pytest.raises(DBAPIError) as refused, sqlite_ledger.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT OR REPLACE INTO ledger_entry SELECT seq, entry_id, kind, target_seq,"
                " '2020-01-01', timeout_s, expires_at, metadata_json, committed_at, digest"
                " FROM ledger_entry WHERE entry_id = 'pay'"
            )
        )
    assert refusal_code(refused.value) == CHANGE_REFUSED["sqlite"]
    assert _rows(sqlite_ledger, "SELECT * FROM ledger_entry ORDER BY seq") == before


def test_insert_or_replace_cannot_delete_a_leg_of_a_recorded_entry_on_sqlite(
    sqlite_ledger: Ledger,
) -> None:
    """A new balanced entry whose posting is inserted `OR REPLACE` with an existing
    posting's (account, running number) silently deletes that leg of entry `pay`, which
    then sums to Rp40 instead of zero: the balance and append-only guards are bypassed."""
    statements = [
        "INSERT OR REPLACE INTO ledger_posting SELECT 3, leg_no, account_id, coop_id,"
        " currency, amount_minor, is_pending, account_posting_no,"
        " balance_after_minor, committed_at FROM ledger_posting"
        " WHERE entry_seq = 2 AND leg_no = 1",
        "INSERT INTO ledger_posting SELECT 3, 2, (SELECT id FROM ledger_account"
        " WHERE ref = 'c1:cash'), coop_id, currency, -amount_minor, is_pending, 99,"
        " 0, committed_at FROM ledger_posting WHERE entry_seq = 3 AND leg_no = 1",
        "INSERT INTO ledger_entry SELECT 3, 'raw-replace', kind, target_seq,"
        " business_date, timeout_s, expires_at, metadata_json, committed_at, digest"
        " FROM ledger_entry WHERE seq = 2",
    ]
    with pytest.raises(DBAPIError) as refused:
        _run_all(sqlite_ledger, statements)
    assert refusal_code(refused.value) in {CHANGE_REFUSED["sqlite"], INSERT_REFUSED["sqlite"]}
    sums = _rows(
        sqlite_ledger,
        "SELECT entry_seq, count(*), sum(amount_minor) FROM ledger_posting GROUP BY entry_seq",
    )
    assert sums == [(1, 2, 0), (2, 2, 0)]


class _LongWaitError(Exception):
    """Raised instead of sleeping for longer than a demo may take."""


def test_the_demo_finishes_within_a_minute_in_any_network_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kopnet demo` runs in under a minute; with `KOPNET_TIME_ZONE=Asia/Makassar` (WITA)
    it places the cut-off in Jakarta seconds but the window in Makassar time, and sleeps
    for hours (about 23 h, or 7 h for UTC) waiting for the cut-off."""
    real_sleep = time.sleep
    waits_s: list[float] = []

    def sleep(seconds: float) -> None:
        if seconds > 60:
            waits_s.append(seconds)
            raise _LongWaitError(f"asked to sleep {seconds:.0f} s")
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    result = _invoke(
        "demo",
        "--database-url",
        f"sqlite:///{tmp_path / 'demo.db'}",
        env={"KOPNET_TIME_ZONE": "Asia/Makassar"},
    )
    assert waits_s == []
    assert result.exit_code == 0, result.output
