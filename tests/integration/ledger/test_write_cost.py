"""On PostgreSQL, what recording an entry reads does not grow with the size of the ledger.

The database's insert checks (statement triggers over the inserted rows) once joined those
rows to the whole posting table with whatever plan PL/pgSQL cached from a connection's
first insert. After a large first batch, every later entry on that connection walked the
entire posting index (migration 0005). This test counts the rows one entry's transaction fetched
from the ledger's tables, so it fails on such a plan, however fast the machine is. What the
checks refuse is tested in `test_database_guards`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, text

from ledger.account import Account, AccountKind, AccountSpec
from ledger.db import make_engine
from ledger.posting import post_entries
from ledger.service import open_account_in
from tests.builders import idr, transfer
from tests.conftest import TEST_SEAL_KEY

_FIRST_BATCH = 1000
# One entry's own rows, the accounts it locks and a few index pages' worth of slack.
_ROWS_READ_MAX = 20

# A backend's counts not yet flushed to the shared statistics, which happens only between
# transactions: the difference of two readings in one transaction is what it read between.
_ROWS_READ = text(
    "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)"
    " FROM pg_stat_xact_user_tables WHERE relname IN ('ledger_posting', 'ledger_entry')"
)


@pytest.fixture
def conn(pg_url: str) -> Iterator[Connection]:
    """One connection for the whole test: the plan a trigger caches belongs to it."""
    engine = make_engine(pg_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def _open(conn: Connection, name: str, kind: AccountKind, floor: int | None = 0) -> Account:
    with conn.begin():
        return open_account_in(
            conn, AccountSpec(f"c1:{name}", 1, "IDR", kind, floor), seal_key=TEST_SEAL_KEY
        )


def test_an_entry_after_a_large_first_batch_reads_only_its_own_rows(conn: Connection) -> None:
    cash = _open(conn, "cash", AccountKind.COOP_CASH, None)
    wallets = [_open(conn, f"w{n}", AccountKind.MEMBER_WALLET) for n in range(10)]
    funding = [
        transfer(f"fund-{n}", cash, wallets[n % len(wallets)], idr(10)) for n in range(_FIRST_BATCH)
    ]
    with conn.begin():
        assert all(o.ok for o in post_entries(conn, funding, seal_key=TEST_SEAL_KEY))

    with conn.begin():
        rows_before = conn.execute(_ROWS_READ).scalar_one()
        (outcome,) = post_entries(
            conn, [transfer("pay", wallets[0], wallets[1], idr(5))], seal_key=TEST_SEAL_KEY
        )
        rows_read = conn.execute(_ROWS_READ).scalar_one() - rows_before

    assert outcome.ok
    assert rows_read <= _ROWS_READ_MAX, (
        f"one entry read {rows_read} rows of a ledger of {_FIRST_BATCH} entries"
    )
