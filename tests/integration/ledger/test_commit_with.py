"""`commit_with` on both engines: the writes and the commit land together or not at all."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError

from ledger.account import AccountKind, AccountSpec
from ledger.db import commit_with, driver, make_engine, run_transaction
from ledger.posting import plan_entries, write_planned
from ledger.service import open_account_in
from ledger.tables import account, entry
from tests.builders import idr, transfer
from tests.conftest import TEST_SEAL_KEY


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _post(conn: Connection, entry_id: str) -> None:
    cash = open_account_in(
        conn, AccountSpec("c1:cash", 1, "IDR", AccountKind.COOP_CASH, None), seal_key=TEST_SEAL_KEY
    )
    wallet = open_account_in(
        conn, AccountSpec("c1:w", 1, "IDR", AccountKind.MEMBER_WALLET), seal_key=TEST_SEAL_KEY
    )
    planned = plan_entries(conn, [transfer(entry_id, cash, wallet, idr(1))], seal_key=TEST_SEAL_KEY)
    commit_with(conn, lambda: write_planned(conn, planned))


def _entries(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(entry)).scalar_one()


def test_the_writes_are_committed_and_the_callers_commit_after_is_harmless(
    engine: Engine,
) -> None:
    run_transaction(engine, lambda conn: _post(conn, "first"))
    run_transaction(engine, lambda conn: _post(conn, "second"))
    assert _entries(engine) == 2


def test_a_write_that_fails_raises_and_nothing_of_the_transaction_is_committed(
    engine: Engine,
) -> None:
    run_transaction(engine, lambda conn: _post(conn, "first"))

    def work(conn: Connection) -> None:
        spec = AccountSpec("c1:other", 1, "IDR", AccountKind.COOP_CASH, None)
        other = open_account_in(conn, spec, seal_key=TEST_SEAL_KEY)
        wallet = open_account_in(
            conn, AccountSpec("c1:w", 1, "IDR", AccountKind.MEMBER_WALLET), seal_key=TEST_SEAL_KEY
        )
        request = transfer("second", other, wallet, idr(1))
        planned = plan_entries(conn, [request], seal_key=TEST_SEAL_KEY)

        def writes() -> None:
            write_planned(conn, planned)
            driver(conn).execute("SELECT * FROM no_such_table")

        commit_with(conn, writes)

    with pytest.raises((DBAPIError, psycopg.Error, sqlite3.Error), match="no_such_table"):
        run_transaction(engine, work, attempts_max=1)
    assert _entries(engine) == 1
    with engine.connect() as conn:
        refs = set(conn.execute(select(account.c.ref)).scalars())
    assert refs == {"c1:cash", "c1:w"}
