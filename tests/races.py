"""Deterministic races: another caller's whole request lands between two statements of ours,
or ours waits on a lock another session holds.

`racing` runs `rival` to completion in another thread right after the calling thread's
`after`-th statement that `matches` (SQLAlchemy's `after_cursor_execute`), before the
calling thread goes on. The rival uses its own connection, so on PostgreSQL it commits
between our two statements; the test then checks that our request still ends well. Not
for SQLite, whose single writer would make the rival wait for us.
`blocked_rival` starts `rival` at the same point but does not wait for it: it returns once
the rival waits for a lock, which our transaction holds, and the test collects the rival's
result after ours. `wait_until_a_session_waits_for_a_lock` returns once some session of
the test's PostgreSQL database is blocked on a lock, `wait_until_a_session_waits_on` once
one waits on a given event, and `terminate_a_session_waiting` then drops its connection,
as a server or network failure would.
`held_by_another_session` holds a row lock from a plain psycopg connection of its own, as
an operator's psql session or a stalled process would, and releases it on leaving, however
the test ends; `answered_within` runs a call in another thread and fails the test when it
has not returned within a bound, so a wait that is not bounded shows as a failure, never
as a suite that hangs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from sqlalchemy import Engine, event, text

__all__ = [
    "answered_within",
    "blocked_rival",
    "change_while_a_payment_waits",
    "held_by_another_session",
    "racing",
    "terminate_a_session_waiting",
    "wait_until_a_session_waits_for_a_lock",
    "wait_until_a_session_waits_on",
]

T = TypeVar("T")
U = TypeVar("U")
_RIVAL_TIMEOUT_S = 30.0
_LOCK_WAIT_TIMEOUT_S = 60.0


@contextmanager
def racing(
    engine: Engine, matches: Callable[[str], bool], rival: Callable[[], T], *, after: int = 1
) -> Iterator[list[T]]:
    """Yield the list that receives the rival's result once it has run (exactly once)."""
    me = threading.get_ident()
    seen = 0
    results: list[T] = []

    def after_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal seen
        if threading.get_ident() != me or results or not matches(statement):
            return
        seen += 1
        if seen == after:
            with ThreadPoolExecutor(max_workers=1) as other:
                results.append(other.submit(rival).result(timeout=_RIVAL_TIMEOUT_S))

    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        yield results
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)
    assert results, "the rival never ran: no statement matched"


@contextmanager
def blocked_rival(
    engine: Engine, matches: Callable[[str], bool], rival: Callable[[], T]
) -> Iterator[list[Future[T]]]:
    """Yield the list that receives the rival's future: the rival starts in another thread
    right after the calling thread's first statement that `matches`, and the calling
    thread goes on once the rival waits for a lock (PostgreSQL only)."""
    me = threading.get_ident()
    started: list[Future[T]] = []
    pool = ThreadPoolExecutor(max_workers=1)

    def after_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() != me or started or not matches(statement):
            return
        started.append(pool.submit(rival))
        wait_until_a_session_waits_for_a_lock(engine)

    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        yield started
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)
        pool.shutdown(wait=True)
    assert started, "the rival never started: no statement matched"


def wait_until_a_session_waits_for_a_lock(engine: Engine, sessions: int = 1) -> None:
    """Return once `sessions` sessions of this test's database wait for a lock; fail after
    a while."""
    assert sessions >= 1
    _waiting_sessions(engine, "wait_event_type = 'Lock'", sessions)


def wait_until_a_session_waits_on(engine: Engine, wait_event: str) -> int:
    """Return the process id of a session of this test's database that waits on
    `wait_event` (a name of `pg_stat_activity.wait_event`, such as `PgSleep`), once there
    is one; fail after a while."""
    (pid,) = _waiting_sessions(engine, "wait_event = :event", 1, event=wait_event)
    return pid


def terminate_a_session_waiting(engine: Engine, wait_event: str) -> int:
    """Terminate a session that waits on `wait_event` (`wait_until_a_session_waits_on`),
    as a dropped connection would end it; return its process id."""
    pid = wait_until_a_session_waits_on(engine, wait_event)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    return pid


def _waiting_sessions(engine: Engine, condition: str, sessions: int, **params: str) -> list[int]:
    """The process ids of the first `sessions` sessions found meeting `condition`."""
    query = text(
        "SELECT pid FROM pg_stat_activity"
        f" WHERE datname = current_database() AND {condition} ORDER BY pid"
    )
    deadline = time.monotonic() + _LOCK_WAIT_TIMEOUT_S
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            pids = list(conn.execute(query, params).scalars())
        if len(pids) >= sessions:
            return pids[:sessions]
        time.sleep(0.01)
    raise AssertionError(f"fewer than {sessions} sessions ever met: {condition}")


@contextmanager
def held_by_another_session(url: str, table: str, row_id: int) -> Iterator[None]:
    """Hold `SELECT ... FOR UPDATE` on the row `row_id` of `table` (PostgreSQL) from a
    session outside every engine of the test, until exit; rolled back however it ends."""
    with psycopg.connect(url) as conn:
        query = sql.SQL("SELECT id FROM {} WHERE id = %s FOR UPDATE").format(sql.Identifier(table))
        assert conn.execute(query, [row_id]).fetchone() is not None, "no such row to lock"
        try:
            yield
        finally:
            conn.rollback()


def answered_within(timeout_s: float, call: Callable[[], T]) -> T | Exception:
    """What `call` returned or raised, run in another thread; the test fails if it has not
    returned within `timeout_s` (the thread is left to finish once what it waits for goes)."""
    assert timeout_s > 0
    answers: list[T | Exception] = []

    def run() -> None:
        try:
            answers.append(call())
        except Exception as error:
            answers.append(error)

    thread = threading.Thread(target=run, name="answered-within", daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert answers, f"no answer within {timeout_s:g} s: the wait is not bounded"
    return answers[0]


def change_while_a_payment_waits(
    url: str,
    engine: Engine,
    held_account_id: int,
    pay: Callable[[], T],
    change: Callable[[], U],
    *,
    timeout_s: float = 10.0,
) -> tuple[T, U]:
    """Run `pay` held up, after it has read what it needs, on the ledger account
    `held_account_id` (a plain session holds its lock, as a concurrent payment to it
    would); then start `change` (a status change) and check that it waits for the payment
    too; release both and return their results (PostgreSQL)."""
    paid: list[T] = []
    changed: list[U] = []
    payer = threading.Thread(target=lambda: paid.append(pay()), name="payer")
    changer = threading.Thread(target=lambda: changed.append(change()), name="changer")
    with held_by_another_session(url, "ledger_account", held_account_id):
        payer.start()
        wait_until_a_session_waits_for_a_lock(engine)
        changer.start()
        changer.join(0.5)
        assert changer.is_alive(), "the change did not wait for the payment"
    payer.join(timeout_s)
    changer.join(timeout_s)
    assert paid and changed, "the payment or the change did not finish"
    return paid[0], changed[0]
