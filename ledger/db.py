"""Engines for PostgreSQL (psycopg 3) and SQLite, and bounded retries of contended work.

SQLite is opened in WAL mode with foreign keys on, and every transaction starts with
`BEGIN IMMEDIATE`, so a writer takes the database lock before reading what it will change
(the single-writer equivalent of PostgreSQL's row locks). Every PostgreSQL session starts
with `lock_timeout` and `idle_in_transaction_session_timeout` set (`make_engine`), so no
wait for a lock, and no lock left held by a session idle inside a transaction, lasts
without bound. `run_transaction` retries a unit of work that lost a race (serialization
failure, deadlock, duplicate id inserted concurrently, SQLite busy) a bounded number of
times, then fails with `contention_retries_exhausted`; a statement that waited for a lock
past `lock_timeout` fails the unit of work at once with `lock_wait_timeout`, not retried
(`run_transaction` says why). `commit_with` sends a transaction's last writes and its
COMMIT to PostgreSQL in one round trip, so that row locks are released sooner;
`pipeline_begun` sends its BEGIN with its first statements. Every PostgreSQL connection
dumps the typed array parameters of `ledger.pg_arrays` with their own binary dumpers.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ledger.errors import LedgerError, LedgerErrorCode
from ledger.pg_arrays import register as register_arrays

__all__ = [
    "IDLE_IN_TRANSACTION_TIMEOUT_MS_DEFAULT",
    "IDLE_IN_TRANSACTION_TIMEOUT_MS_MAX",
    "IDLE_IN_TRANSACTION_TIMEOUT_MS_MIN",
    "LOCK_TIMEOUT_MS_DEFAULT",
    "LOCK_TIMEOUT_MS_MAX",
    "SessionBounds",
    "TransactionRetryError",
    "commit_with",
    "dialect_insert",
    "driver",
    "is_lock_wait_timeout",
    "is_retryable",
    "make_engine",
    "normalise_url",
    "pipeline_begun",
    "pipelined",
    "reading",
    "run_transaction",
    "sqlstate",
]

T = TypeVar("T")

# An execution option for a transaction that only reads (an audit). SQLite begins it
# deferred: in WAL mode its first read takes a snapshot, and it holds no write lock, so
# writers go on while it reads (every other transaction begins IMMEDIATE, taking the write
# lock at once). PostgreSQL ignores it: say read-only there with `postgresql_readonly`.
_READS_ONLY = "kopnet_reads_only"

# The bounds every PostgreSQL session of `make_engine` is held to, by default and at most.
# A statement waits for a lock up to `lock_timeout`; the server ends a session left idle
# inside a transaction for `idle_in_transaction_session_timeout`, releasing its locks.
LOCK_TIMEOUT_MS_DEFAULT = 5_000
LOCK_TIMEOUT_MS_MAX = 600_000
# Under a second, a transaction would be ended between two statements of a busy client.
IDLE_IN_TRANSACTION_TIMEOUT_MS_MIN = 1_000
IDLE_IN_TRANSACTION_TIMEOUT_MS_DEFAULT = 60_000
IDLE_IN_TRANSACTION_TIMEOUT_MS_MAX = 3_600_000

# Serialization failure and deadlock: a fresh attempt can win the race.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# lock_not_available: a statement waited for a lock past the session's `lock_timeout`.
_LOCK_NOT_AVAILABLE = "55P03"
_RACE_CONSTRAINTS = frozenset(
    {"uq_ledger_entry_entry_id", "uq_ledger_entry_target_seq", "uq_ledger_account_ref"}
)


def normalise_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver named for PostgreSQL URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class SessionBounds:
    """What every PostgreSQL session of an engine is held to: how long one wait for a lock
    may last (`lock_timeout`), and how long the session may sit idle inside a transaction
    before the server ends it (`idle_in_transaction_session_timeout`)."""

    lock_timeout_ms: int = LOCK_TIMEOUT_MS_DEFAULT
    idle_in_transaction_timeout_ms: int = IDLE_IN_TRANSACTION_TIMEOUT_MS_DEFAULT

    def __post_init__(self) -> None:
        lock, idle = self.lock_timeout_ms, self.idle_in_transaction_timeout_ms
        assert type(lock) is int and 1 <= lock <= LOCK_TIMEOUT_MS_MAX
        assert type(idle) is int
        assert IDLE_IN_TRANSACTION_TIMEOUT_MS_MIN <= idle <= IDLE_IN_TRANSACTION_TIMEOUT_MS_MAX


def make_engine(url: str, *, pool_size: int = 20, bounds: SessionBounds | None = None) -> Engine:
    """Create an engine for `url`; SQLite gets WAL, foreign keys and BEGIN IMMEDIATE (its
    own busy timeout bounds the wait for the write lock).

    Every PostgreSQL session of the engine starts held to `bounds` (the defaults if None),
    added to the URL's own `options`; later `SET`s and rollbacks do not undo them."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    options = _session_options(url, bounds or SessionBounds())
    # No pre-ping: it costs a round trip per transaction; a connection found dead is
    # invalidated and the unit of work retried (`is_retryable`).
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, connect_args={"options": options}
    )
    event.listen(engine, "connect", _postgres_on_connect)
    return engine


def _session_options(url: str, bounds: SessionBounds) -> str:
    """The libpq `options` every session starts with: the environment's `PGOPTIONS` (which
    an explicit `options` would otherwise replace), the URL's own, then `bounds`.

    They are startup parameters rather than a `SET` on connect: a `SET` made inside the
    transaction psycopg opens would be undone by the pool's rollback. Of two settings of
    one name the later wins, so neither the environment nor the URL loosens the bounds."""
    given = make_url(url).query.get("options", ())
    parts = [os.environ.get("PGOPTIONS", "")]
    parts += [given] if isinstance(given, str) else list(given)
    parts.append(f"-c lock_timeout={bounds.lock_timeout_ms}")
    parts.append(f"-c idle_in_transaction_session_timeout={bounds.idle_in_transaction_timeout_ms}")
    return " ".join(parts)


def _postgres_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Typed array parameters go in binary through their own dumpers (`ledger.pg_arrays`).
    register_arrays(dbapi_connection.adapters)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, as IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA busy_timeout = 30000")
    # Without it the rows `INSERT OR REPLACE` deletes fire no DELETE trigger, which would
    # let it rewrite append-only history past the guards of migrations/versions/0001.
    cursor.execute("PRAGMA recursive_triggers = ON")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    reads_only = conn.get_execution_options().get(_READS_ONLY, False)
    conn.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


def reading(engine: Engine, *, one_snapshot: bool = False) -> Connection:
    """A connection for transactions that only read: on SQLite each begins deferred and
    takes no write lock (`_READS_ONLY`); `one_snapshot`, on PostgreSQL every statement of a
    transaction sees one snapshot, read-only (an audit's)."""
    options: dict[str, object] = {_READS_ONLY: True}
    if one_snapshot and engine.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    return engine.connect().execution_options(**options)


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT into `table` in the dialect of `conn` (PostgreSQL's or SQLite's), which
    has `on_conflict_do_nothing` and `on_conflict_do_update`."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def driver(conn: Connection) -> Any:
    """The psycopg connection under a SQLAlchemy connection to PostgreSQL."""
    return conn.connection.driver_connection


@contextmanager
def pipelined(pg: Any) -> Iterator[None]:
    """Queue the statements run inside in pipeline mode, sent and checked on leaving; if
    a pipeline is already open, queue them in it and leave sending to its owner."""
    if pg.pgconn.pipeline_status != pq.PipelineStatus.OFF:
        yield
        return
    with pg.pipeline():
        yield


@contextmanager
def pipeline_begun(pg: Any) -> Iterator[None]:
    """A pipeline for the statements run inside, led by the transaction's BEGIN if it has
    not begun: psycopg would otherwise send BEGIN alone and wait for its answer, one round
    trip more. The BEGIN is the one psycopg would send (the connection's isolation level,
    read-only and deferrable settings); the transaction it opens is the caller's, ended by
    COMMIT or ROLLBACK as any other."""
    if pg.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        with pg.pipeline():
            yield
        return
    begin = _begin_statement(pg)
    # In autocommit psycopg sends no BEGIN of its own. It is left at once the block ends:
    # psycopg's setter refuses inside a transaction, so the flag is reset directly; psycopg
    # reads it only to decide whether to begin a transaction when none is open.
    pg.autocommit = True
    try:
        with pg.pipeline():
            pg.execute(begin)
            yield
    finally:
        pg._autocommit = False


def _begin_statement(pg: Any) -> str:
    """The BEGIN psycopg sends for `pg` (`Connection._get_tx_start_command`)."""
    parts = ["BEGIN"]
    if pg.isolation_level is not None:
        level = psycopg.IsolationLevel(pg.isolation_level).name.replace("_", " ")
        parts.append(f"ISOLATION LEVEL {level}")
    if pg.read_only is not None:
        parts.append("READ ONLY" if pg.read_only else "READ WRITE")
    if pg.deferrable is not None:
        parts.append("DEFERRABLE" if pg.deferrable else "NOT DEFERRABLE")
    return " ".join(parts)


def commit_with(conn: Connection, writes: Callable[[], None]) -> None:
    """Run `writes`, then commit the transaction; nothing may use `conn` after this.

    On PostgreSQL the statements `writes` sends through psycopg (`pipelined`) are queued
    with the COMMIT and sent in one round trip; an error in any of them raises here and
    nothing is committed. SQLAlchemy statements must not be among them: they cannot read
    results in pipeline mode. On SQLite `writes` runs and the caller's commit follows."""
    if conn.dialect.name != "postgresql":
        writes()
        return
    pg = driver(conn)
    with pg.pipeline():
        writes()
        pg.execute("COMMIT")


class TransactionRetryError(Exception):
    """Raised by a unit of work that must start again in a fresh transaction (one that
    sees a later clock); `run_transaction` rolls back and runs it again, boundedly."""


def sqlstate(error: Exception) -> str | None:
    """The SQLSTATE of a database error: SQLAlchemy's wrapped ones and psycopg's own
    (raised by pipelines); None for any other."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_lock_wait_timeout(error: Exception) -> bool:
    """True when a statement waited for a lock past the session's `lock_timeout` (SQLSTATE
    55P03, lock_not_available); its transaction is aborted, nothing of it recorded."""
    return sqlstate(error) == _LOCK_NOT_AVAILABLE


def is_retryable(error: Exception, race_constraints: frozenset[str] = frozenset()) -> bool:
    """True when the failure is a lost race (or a dropped connection) that a fresh attempt
    can win. Takes SQLAlchemy's wrapped errors and psycopg's own (raised by pipelines). A
    lock wait past `lock_timeout` is not one (`run_transaction`)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    orig = error.orig if isinstance(error, DBAPIError) else error
    state = sqlstate(error)
    if state in _RETRYABLE_SQLSTATES:
        return True
    if state == "23505":
        diag = getattr(orig, "diag", None)
        name = getattr(diag, "constraint_name", None)
        return name in _RACE_CONSTRAINTS or name in race_constraints
    message = str(orig).lower()
    return "database is locked" in message or "database is busy" in message


def run_transaction(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    attempts_max: int = 8,
    race_constraints: frozenset[str] = frozenset(),
) -> T:
    """Run `work` in one transaction, committing on return; retry lost races, boundedly.

    `race_constraints` names unique constraints of the caller's own tables whose violation
    means a concurrent writer got there first (a retry then sees its row).

    A statement that waited for a lock past `lock_timeout` ends the unit of work at once
    with `lock_wait_timeout`, rolled back and not retried: a wait that long most likely
    means a holder outside kopnet's own short transactions (an operator's session, a
    stalled process), which a fresh attempt would wait out again in full, holding up its
    caller, and a group committer's batches behind it, once more. The caller, told that
    nothing was recorded, sends the request again when it chooses.

    A connection lost at the COMMIT itself, once `work` has returned, is `outcome_unknown`,
    not retried: the server may have committed before the answer was lost, and running
    `work` again would answer for a second attempt (a step that is not idempotent, such as
    starting a settlement round, would be refused as done already, its caller told that
    nothing changed). Work that sends its own COMMIT (`commit_with`, whose writes are
    idempotent by their ids) is retried as any other: its second attempt replays."""
    assert attempts_max >= 1
    for attempt in range(1, attempts_max + 1):
        committing = False
        try:
            with engine.connect() as conn, conn.begin():
                result = work(conn)
                committing = True
            return result
        except (DBAPIError, psycopg.Error, TransactionRetryError) as error:
            if committing and isinstance(error, DBAPIError) and error.connection_invalidated:
                raise LedgerError(
                    LedgerErrorCode.OUTCOME_UNKNOWN,
                    "the connection was lost while the transaction committed: it may have"
                    " been recorded; look before doing it again",
                ) from error
            if is_lock_wait_timeout(error):
                raise _lock_wait_timeout() from error
            retryable = isinstance(error, TransactionRetryError) or is_retryable(
                error, race_constraints
            )
            if not retryable or attempt == attempts_max:
                if retryable:
                    raise LedgerError(
                        LedgerErrorCode.CONTENTION_RETRIES_EXHAUSTED,
                        f"gave up after {attempts_max} attempts: the database stayed busy",
                    ) from error
                raise
            time.sleep(random.uniform(0, 0.002 * 2**attempt))  # noqa: S311 - jitter only
    raise AssertionError("unreachable: the loop returns or raises")


def _lock_wait_timeout() -> LedgerError:
    return LedgerError(
        LedgerErrorCode.LOCK_WAIT_TIMEOUT,
        "rows this request needs stayed locked by another transaction for longer than"
        " lock_timeout: nothing of this transaction was recorded, and sending the same"
        " request again later is safe (every write is idempotent by its id)",
    )
