"""Review of today's fixes: keyed seal chain and anchors, SQLite REPLACE guards, migration
0006, settings validation and the command line's error boundary.

Promises (README "Commands" and "Tamper evidence", api/cli_support.py, migration 0006's
docstring): a refused command exits 2 with `{"error": code, ...}` and never a traceback;
`setting_invalid` names a setting but never echoes it; an intact ledger given back the
`anchor` of an earlier report is intact; on SQLite an `INSERT OR REPLACE` into the
history tables is refused from any connection.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from api.cli import app
from ledger.audit import ChainAnchor
from ledger.db import make_engine
from ledger.service import Ledger
from migrations.runner import current_revision, downgrade, upgrade
from tests.builders import idr, open_wallets, transfer
from tests.conftest import TEST_SEAL_KEY


def _invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=True)


def _assert_refused_with(result: Result, code: str) -> None:
    """Exit 2 with this error code printed, not a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}"
    )
    assert result.exit_code == 2, result.output
    assert f'"error": "{code}"' in result.output, result.output


# --- anchors ---------------------------------------------------------------------------------


def test_the_anchor_of_an_empty_chain_is_held_by_every_later_chain(ledger: Ledger) -> None:
    """The first report of a new network prints anchor `0:000...0`; given back later to
    an intact ledger it must not be reported as `chain_anchor_missing` (tampered)."""
    first = ledger.verify()
    anchor = ChainAnchor(first.chain_length, first.chain_head_hash)
    assert (anchor.position, first.intact) == (0, True)
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    assert ledger.seal() == 1
    assert ledger.verify().intact
    report = ledger.verify(anchor=anchor)
    assert report.intact, report.findings


# --- SQLite: REPLACE through the hidden rowid --------------------------------------------------

_REPLACE_BY_ROWID = {
    "ledger_posting": (
        "INSERT OR REPLACE INTO ledger_posting (rowid, entry_seq, leg_no, account_id,"
        " coop_id, currency, amount_minor, is_pending, account_posting_no,"
        " balance_after_minor, committed_at) SELECT rowid, 100, leg_no, account_id, coop_id,"
        " currency, amount_minor, is_pending, 99, balance_after_minor, committed_at"
        " FROM ledger_posting WHERE entry_seq = 2 AND leg_no = 1"
    ),
    "ledger_chain": (
        "INSERT OR REPLACE INTO ledger_chain (rowid, position, entry_seq, chain_hash,"
        " sealed_at) SELECT rowid, 100, 100, chain_hash, sealed_at FROM ledger_chain"
        " WHERE position = 2"
    ),
    "ledger_entry": (
        "INSERT OR REPLACE INTO ledger_entry (rowid, seq, entry_id, kind, target_seq,"
        " business_date, committed_at, digest) SELECT rowid, 200, 'forged', 'void_pending',"
        " 200, business_date, committed_at, digest FROM ledger_entry WHERE seq = 2"
    ),
}


def _two_transfers(url: str, *, sealed: bool) -> None:
    """Fund Ani Rp100 and let her pay Budi Rp40 in the migrated database at `url`."""
    engine = make_engine(url)
    ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
    try:
        a = open_wallets(ledger, "ani", "budi")
        ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
        ledger.post(transfer("pay", a["ani"], a["budi"], idr(40)))
        if sealed:
            assert ledger.seal() == 2
    finally:
        ledger.close()
        engine.dispose()


@pytest.mark.parametrize("table", sorted(_REPLACE_BY_ROWID))
def test_sqlite_insert_or_replace_by_rowid_cannot_delete_recorded_history(
    sqlite_url: str, table: str
) -> None:
    """The history tables have no INTEGER PRIMARY KEY, so each has a hidden rowid: an
    `INSERT OR REPLACE` that reuses a recorded row's rowid (with new keys) from a plain
    `sqlite3` connection is refused too, not only one that reuses a declared key."""
    _two_transfers(sqlite_url, sealed=True)
    path = sqlite_url.removeprefix("sqlite:///")
    plain = sqlite3.connect(path)
    try:
        before = plain.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
        try:
            with plain:
                plain.execute(_REPLACE_BY_ROWID[table])
        except sqlite3.DatabaseError:
            pass
        after = plain.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    finally:
        plain.close()
    assert after == before, f"a recorded {table} row was deleted by REPLACE: {after}"


# --- migration 0006 through the command line -------------------------------------------------


def _broken_unkeyed_chain_at_0005(url: str) -> None:
    """Two entries at head, then down to 0005 and sealed as 0005 did, link 2 wrong."""
    upgrade(url)
    _two_transfers(url, sealed=False)
    downgrade(url, "0005")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT seq, digest FROM ledger_entry ORDER BY seq")).all()
            previous = "0" * 64
            for position, (seq, digest) in enumerate(rows, start=1):
                link = bytes.fromhex(previous) + bytes.fromhex(digest)
                previous = hashlib.sha256(link).hexdigest()
                conn.execute(
                    text(
                        "INSERT INTO ledger_chain (position, entry_seq, chain_hash, sealed_at)"
                        " VALUES (:p, :s, :h, :t)"
                    ),
                    {
                        "p": position,
                        "s": seq,
                        "h": "f" * 64 if position == 2 else previous,
                        "t": datetime.now(UTC),
                    },
                )
    finally:
        engine.dispose()


def test_db_upgrade_over_a_broken_unkeyed_chain_exits_2_with_a_code(tmp_path: Path) -> None:
    """Migration 0006 stops on a broken pre-0006 chain, as documented; `kopnet db
    upgrade` says so as `migration_refused` (exit 2), not with a traceback."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _broken_unkeyed_chain_at_0005(url)
    result = _invoke("db", "upgrade", "--database-url", url)
    assert current_revision(url) == "0005"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}"
    )
    assert result.exit_code == 2, result.output
    assert '"error"' in result.output, result.output


# --- database URLs and settings --------------------------------------------------------------


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
    _assert_refused_with(_invoke(*command, "--database-url", url), "database_url_invalid")


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
    _assert_refused_with(_invoke("bench", "settlement", "--database-url", url), code)


def _key() -> str:
    return base64.b64encode(hashlib.sha256(b"review-secret").digest()).decode()


@pytest.mark.parametrize(
    "setting",
    [
        "{key}:k1;lookup:{lookup}",  # id and key swapped
        "k1:{lookup};{key}:lookup",  # the lookup part swapped
    ],
)
def test_a_misordered_nik_keys_setting_is_refused_without_echoing_the_key(
    setting: str, sqlite_url: str
) -> None:
    """`setting_invalid` names a setting but never echoes it (README), even when a
    KOPNET_NIK_KEYS has an id and its key swapped (the key stands where an id should)."""
    key = _key()
    lookup = base64.b64encode(b"L" * 32).decode()
    value = setting.format(key=key, lookup=lookup)
    result = _invoke("ledger", "seal", "--database-url", sqlite_url, env={"KOPNET_NIK_KEYS": value})
    _assert_refused_with(result, "setting_invalid")
    assert key not in result.output, result.output


# --- found by checking the README's commands -----------------------------------------------


def test_settle_start_before_the_network_operator_is_registered_is_refused_with_a_code(
    tmp_path: Path,
) -> None:
    """`settle start` on a database without the network operator was an AssertionError
    traceback (exit 1); it is `network_not_registered`, exit 2, as the README names it."""
    url = f"sqlite:///{tmp_path / 'no-network.db'}"
    assert _invoke("db", "upgrade", "--database-url", url).exit_code == 0
    closed = _invoke("settle", "close", "--date", "2026-11-23", "--database-url", url)
    assert closed.exit_code == 0, closed.output
    started = _invoke("settle", "start", "--date", "2026-11-23", "--database-url", url)
    _assert_refused_with(started, "network_not_registered")


def test_an_unknown_time_zone_setting_is_named_but_not_echoed(tmp_path: Path) -> None:
    """`setting_invalid` names `KOPNET_TIME_ZONE` without repeating what it was set to."""
    url = f"sqlite:///{tmp_path / 'tz.db'}"
    result = _invoke(
        "audit", "verify", "--database-url", url, env={"KOPNET_TIME_ZONE": "hunter2-secret"}
    )
    _assert_refused_with(result, "setting_invalid")
    assert "KOPNET_TIME_ZONE" in result.output
    assert "hunter2" not in result.output
