"""`pipeline_begun` on PostgreSQL: the BEGIN it sends leads one transaction that takes in
the statements after it, SQLAlchemy's too, and ends by COMMIT or ROLLBACK as a whole; it
is the BEGIN psycopg would send, with the connection's isolation level and read-only
setting; and once the block ends psycopg begins transactions itself again, so that no
later transaction on the connection, in the same checkout or after it, commits statement
by statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text

from ledger.db import driver, make_engine, pipeline_begun, run_transaction

pytestmark = pytest.mark.postgres


class _UndoneError(Exception):
    """Raised inside a unit of work to have it rolled back."""


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    # One pooled connection: every unit of work below reuses the one before it used.
    engine = make_engine(pg_url, pool_size=1)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch_rows (n integer NOT NULL)"))
    yield engine
    engine.dispose()


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT n FROM scratch_rows ORDER BY n")).scalars())


def _begun_then_sqlalchemy(conn: Connection, first: int, second: int) -> None:
    pg = driver(conn)
    with pipeline_begun(pg):
        pg.execute("INSERT INTO scratch_rows VALUES (%s)", (first,))
    conn.execute(text("INSERT INTO scratch_rows VALUES (:n)"), {"n": second})


def test_the_statements_after_the_begin_commit_together(engine: Engine) -> None:
    run_transaction(engine, lambda conn: _begun_then_sqlalchemy(conn, 1, 2))
    assert _rows(engine) == [1, 2]


def test_a_unit_that_fails_after_the_begin_leaves_nothing(engine: Engine) -> None:
    def work(conn: Connection) -> None:
        _begun_then_sqlalchemy(conn, 1, 2)
        raise _UndoneError

    with pytest.raises(_UndoneError):
        run_transaction(engine, work)
    assert _rows(engine) == []


def test_a_statement_that_fails_in_the_pipeline_leaves_nothing(engine: Engine) -> None:
    def work(conn: Connection) -> None:
        pg = driver(conn)
        with pipeline_begun(pg):
            pg.execute("INSERT INTO scratch_rows VALUES (1)")
            pg.execute("SELECT 1 / 0")

    with pytest.raises(psycopg.errors.DivisionByZero):
        run_transaction(engine, work, attempts_max=1)
    assert _rows(engine) == []


def test_the_next_transaction_of_the_same_checkout_is_one_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        with conn.begin():
            _begun_then_sqlalchemy(conn, 1, 2)
            assert driver(conn).autocommit is False

        def undone() -> None:
            with conn.begin():
                conn.execute(text("INSERT INTO scratch_rows VALUES (3)"))
                raise _UndoneError

        with pytest.raises(_UndoneError):
            undone()
    assert _rows(engine) == [1, 2]


def test_the_begin_is_the_one_psycopg_would_send(engine: Engine) -> None:
    with engine.connect() as plain:
        options = {"isolation_level": "SERIALIZABLE", "postgresql_readonly": True}
        conn = plain.execution_options(**options)
        with conn.begin():
            pg = driver(conn)
            with pipeline_begun(pg):
                settings = pg.execute(
                    "SELECT current_setting('transaction_isolation'),"
                    " current_setting('transaction_read_only')"
                )
            assert settings.fetchone() == ("serializable", "on")


@pytest.mark.parametrize("fails", [False, True], ids=["committed", "rolled-back"])
def test_the_connection_goes_back_to_the_pool_beginning_its_own_transactions(
    engine: Engine, fails: bool
) -> None:
    def work(conn: Connection) -> None:
        _begun_then_sqlalchemy(conn, 1, 2)
        if fails:
            raise _UndoneError

    with pytest.raises(_UndoneError) if fails else nullcontext():
        run_transaction(engine, work)
    with engine.connect() as conn:
        assert driver(conn).autocommit is False

    # A later unit of work that fails takes back every statement it sent.
    def later(conn: Connection) -> None:
        conn.execute(text("INSERT INTO scratch_rows VALUES (3)"))
        conn.execute(text("INSERT INTO scratch_rows VALUES (4)"))
        raise _UndoneError

    with pytest.raises(_UndoneError):
        run_transaction(engine, later)
    assert 3 not in _rows(engine)
