"""The database's own guards, on both engines: history is append-only and entries balance.

Every statement here bypasses the ledger's service and goes straight to SQL, which is what
a buggy migration, a support engineer or an attacker with database access would do. On
SQLite that includes `INSERT OR REPLACE`, from kopnet's own connections or any other (the
`sqlite3` shell).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ledger.account import Account
from ledger.db import make_engine
from ledger.service import Ledger
from ledger.tables import account, chain, entry, posting
from tests.builders import idr, open_wallets, post_sealed, transfer
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.raw import (
    CHANGE_REFUSED,
    INSERT_REFUSED,
    RawLeg,
    insert_entry,
    refusal_code,
)

_TABLES = {"ledger_entry": entry, "ledger_posting": posting, "ledger_chain": chain}
_SOME_COLUMN = {
    "ledger_entry": "digest",
    "ledger_posting": "amount_minor",
    "ledger_chain": "chain_hash",
}


def _fund_and_pay(ledger: Ledger) -> dict[str, Account]:
    """Cash, Ani and Budi after two sealed entries: fund Ani Rp100 (seq 1), Ani pays Budi
    Rp40 (seq 2)."""
    a = open_wallets(ledger, "ani", "budi")
    return post_sealed(
        ledger,
        a,
        transfer("fund", a["cash"], a["ani"], idr(100)),
        transfer("pay", a["ani"], a["budi"], idr(40)),
    )


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    """Cash, Ani and Budi after two sealed entries: fund Ani Rp100, Ani pays Budi Rp40."""
    return _fund_and_pay(ledger)


def _snapshot(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for name, t in _TABLES.items()
        }


def _refused(engine: Engine, sql: str, **params: Any) -> str:
    with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
        conn.execute(text(sql), params)
    return refusal_code(refused.value)


def test_history_rows_cannot_be_updated_or_deleted(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    before = _snapshot(ledger.engine)
    statements = [
        *(f"UPDATE {table} SET {column} = {column}" for table, column in _SOME_COLUMN.items()),
        *(f"DELETE FROM {table}" for table in _TABLES),
    ]
    refused = {sql: _refused(ledger.engine, sql) for sql in statements}
    assert refused == dict.fromkeys(statements, CHANGE_REFUSED[ledger.engine.dialect.name])
    assert _snapshot(ledger.engine) == before
    assert ledger.verify().intact


def test_history_cannot_be_truncated_on_postgresql(pg_ledger: Ledger) -> None:
    a = open_wallets(pg_ledger, "ani")
    pg_ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    for table in _TABLES:
        code = _refused(pg_ledger.engine, f"TRUNCATE {table} CASCADE")
        assert code == CHANGE_REFUSED["postgresql"]
    assert pg_ledger.entry("fund").seq == 1


def test_accounts_stay_updatable_because_their_balances_are_a_cache(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    # The negative space of the guards above: the one mutable ledger table is not guarded.
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_account SET status = status"))
    assert ledger.verify().intact


def test_a_balanced_entry_written_in_raw_sql_is_accepted(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    cash, budi = wallets["cash"], wallets["budi"]
    with ledger.engine.begin() as conn:
        insert_entry(
            conn,
            [
                RawLeg(cash.id, -500, cash.posting_count + 1, cash.posted_minor - 500),
                RawLeg(budi.id, 500, budi.posting_count + 1, budi.posted_minor + 500),
            ],
            entry_id="raw-ok",
        )
    assert [p.amount.amount_minor for p in ledger.entry("raw-ok").postings] == [-500, 500]


def test_an_entry_whose_postings_do_not_sum_to_zero_is_refused(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    cash, budi = wallets["cash"], wallets["budi"]
    refused = {}
    for name, (cash_minor, budi_minor) in {
        "short": (-500, 499),
        "long": (-500, 501),
        "one-sided": (500, 500),
    }.items():
        legs = [
            RawLeg(cash.id, cash_minor, cash.posting_count + 1, cash.posted_minor + cash_minor),
            RawLeg(budi.id, budi_minor, budi.posting_count + 1, budi.posted_minor + budi_minor),
        ]
        with pytest.raises(DBAPIError) as error, ledger.engine.begin() as conn:
            insert_entry(conn, legs, entry_id=f"raw-{name}")
        refused[name] = refusal_code(error.value)
    assert refused == dict.fromkeys(refused, INSERT_REFUSED[ledger.engine.dialect.name])
    with ledger.engine.connect() as conn:
        assert conn.execute(select(posting).where(posting.c.leg_no > 2)).all() == []
        assert conn.execute(select(entry).where(entry.c.entry_id.like("raw-%"))).all() == []


def test_an_entry_that_balances_per_number_but_not_per_currency_is_refused(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    cash, budi = wallets["cash"], wallets["budi"]
    legs = [
        RawLeg(cash.id, -500, cash.posting_count + 1, cash.posted_minor - 500),
        RawLeg(budi.id, 500, budi.posting_count + 1, budi.posted_minor + 500, currency="JPY"),
    ]
    with pytest.raises(DBAPIError) as refused, ledger.engine.begin() as conn:
        insert_entry(conn, legs, entry_id="raw-two-currencies")
    assert refusal_code(refused.value) == INSERT_REFUSED[ledger.engine.dialect.name]


def test_an_entry_of_a_kind_with_legs_needs_at_least_two_postings(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    with pytest.raises(DBAPIError) as refused, ledger.engine.begin() as conn:
        insert_entry(conn, [], entry_id="raw-empty")
    assert refusal_code(refused.value) == INSERT_REFUSED[ledger.engine.dialect.name]


def test_postings_cannot_be_added_to_a_recorded_entry(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    pay = ledger.entry("pay")
    ids = [wallets["budi"].id, wallets["cash"].id]
    refused = {}
    for name, amounts in {"one": (7,), "a balanced pair": (7, -7)}.items():
        rows = [
            {
                "entry_seq": pay.seq,
                "leg_no": 3 + i,
                "account_id": ids[i],
                "coop_id": 1,
                "currency": "IDR",
                "amount_minor": amount,
                "is_pending": True,
                "committed_at": pay.committed_at,
            }
            for i, amount in enumerate(amounts)
        ]
        with pytest.raises(DBAPIError) as error, ledger.engine.begin() as conn:
            conn.execute(posting.insert(), rows)
        refused[name] = refusal_code(error.value)
    assert refused == dict.fromkeys(refused, INSERT_REFUSED[ledger.engine.dialect.name])
    assert len(ledger.entry("pay").postings) == 2


def test_an_accounts_running_number_cannot_be_used_twice(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    cash, budi = wallets["cash"], wallets["budi"]
    reused = [
        RawLeg(cash.id, -500, cash.posting_count, cash.posted_minor - 500),
        RawLeg(budi.id, 500, budi.posting_count + 1, budi.posted_minor + 500),
    ]
    with pytest.raises(DBAPIError) as refused, ledger.engine.begin() as conn:
        insert_entry(conn, reused, entry_id="raw-reused-number")
    # SQLite's REPLACE guard (migration 0006) refuses the taken key before the index does.
    expected = {"postgresql": "23505", "sqlite": "SQLITE_CONSTRAINT_TRIGGER"}
    assert refusal_code(refused.value) == expected[ledger.engine.dialect.name]


def test_a_cached_balance_that_breaks_its_limit_is_refused(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    with pytest.raises(DBAPIError) as refused, ledger.engine.begin() as conn:
        conn.execute(
            account.update().where(account.c.id == wallets["budi"].id).values(posted_minor=-1)
        )
    expected = {"postgresql": "23514", "sqlite": "SQLITE_CONSTRAINT_CHECK"}
    assert refusal_code(refused.value) == expected[ledger.engine.dialect.name]


# SQLite: `INSERT OR REPLACE` deletes the row it replaces without firing DELETE triggers
# (unless `recursive_triggers` is on, which only kopnet's own connections set). Migration
# 0006's BEFORE INSERT triggers refuse a taken key, declared or the hidden rowid, from any
# connection, so history stays append-only on both engines.


@contextmanager
def _ledger_on(url: str) -> Iterator[Ledger]:
    engine = make_engine(url)
    ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
    try:
        yield ledger
    finally:
        ledger.close()
        engine.dispose()


@pytest.fixture
def sqlite_ledger(sqlite_url: str) -> Iterator[Ledger]:
    """Two sealed entries on SQLite: fund Ani Rp100 (seq 1), Ani pays Budi Rp40 (seq 2)."""
    with _ledger_on(sqlite_url) as ledger:
        _fund_and_pay(ledger)
        yield ledger


def _two_transfers(url: str) -> None:
    """Fund Ani Rp100 and let her pay Budi Rp40, sealed, in the migrated database at `url`."""
    with _ledger_on(url) as ledger:
        _fund_and_pay(ledger)


def _run_all(ledger: Ledger, statements: list[str]) -> None:
    with ledger.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _rows(ledger: Ledger, sql: str) -> list[tuple[Any, ...]]:
    with ledger.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def test_sqlite_insert_or_replace_from_any_connection_cannot_rewrite_recorded_history(
    sqlite_url: str,
) -> None:
    """The rows `INSERT OR REPLACE` deletes fire DELETE triggers only under
    `recursive_triggers`, which only kopnet's own connections set: migration 0006's
    BEFORE INSERT triggers refuse a taken key from any connection (the `sqlite3` shell)."""
    with _ledger_on(sqlite_url) as ledger:
        a = open_wallets(ledger, "ani", "budi")
        ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
        assert ledger.seal() == 1
    rewrites = {
        "entry": "INSERT OR REPLACE INTO ledger_entry (seq, entry_id, kind, business_date,"
        " committed_at, digest, metadata_json) SELECT seq, entry_id, kind, business_date,"
        ' committed_at, digest, \'{"note":"forged"}\' FROM ledger_entry',
        "chain": "INSERT OR REPLACE INTO ledger_chain (position, entry_seq, chain_hash,"
        " sealed_at) SELECT position, entry_seq, 'ff', sealed_at FROM ledger_chain",
    }
    accepted = []
    plain = sqlite3.connect(make_url(sqlite_url).database or "")
    try:
        for name, sql in rewrites.items():
            try:
                with plain:
                    plain.execute(sql)
                accepted.append(name)
            except sqlite3.DatabaseError:
                pass
    finally:
        plain.close()
    assert accepted == [], f"rewrote recorded {accepted} through the guard triggers"


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


@pytest.mark.parametrize("table", sorted(_REPLACE_BY_ROWID))
def test_sqlite_insert_or_replace_by_rowid_cannot_delete_recorded_history(
    sqlite_url: str, table: str
) -> None:
    """The history tables have no INTEGER PRIMARY KEY, so each has a hidden rowid: an
    `INSERT OR REPLACE` that reuses a recorded row's rowid (with new keys) from a plain
    `sqlite3` connection is refused too, not only one that reuses a declared key."""
    _two_transfers(sqlite_url)
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


def test_insert_or_replace_cannot_rewrite_a_recorded_entry_on_sqlite(
    sqlite_ledger: Ledger,
) -> None:
    """History is append-only on both engines: PostgreSQL refuses an upsert of an entry,
    and SQLite refuses an `INSERT OR REPLACE` that would delete and rewrite the entry row
    (here its business date), although REPLACE's delete fires no DELETE trigger."""
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
    posting's (account, running number) would silently delete that leg of entry `pay`,
    leaving it summing to Rp40 instead of zero; it is refused and every entry balances."""
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
