"""The database's own guards, on both engines: history is append-only and entries balance.

Every statement here bypasses the ledger's service and goes straight to SQL, which is what
a buggy migration, a support engineer or an attacker with database access would do.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from ledger.account import Account
from ledger.service import Ledger
from ledger.tables import account, chain, entry, posting
from tests.builders import idr, open_wallets, transfer
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


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    """Cash, Ani and Budi after two sealed entries: fund Ani Rp100, Ani pays Budi Rp40."""
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(transfer("pay", a["ani"], a["budi"], idr(40)))
    assert ledger.seal() == 2
    return {name: ledger.account(acc.id) for name, acc in a.items()}


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
