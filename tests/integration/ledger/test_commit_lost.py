"""A connection lost at the COMMIT itself is `outcome_unknown`, not a second attempt.

The server may have committed before the answer was lost (a proxy or a network that
drops the connection right after forwarding COMMIT). `run_transaction` used to run the
work again: a step that is not idempotent then answered for the second attempt, as
`settle start` did ("settlement already started", exit 2, nothing changed) after a round
it had just started. Here the session is ended by the server as the COMMIT is about to
go (before it lands, the one way a test can drop it on time); either way the caller must
be told the outcome is unknown, and the work must have run once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, event, text

from ledger.db import make_engine, run_transaction
from ledger.errors import LedgerError, LedgerErrorCode

_GONE_WITHIN_S = 10.0


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def test_a_connection_lost_at_commit_is_outcome_unknown_and_the_work_runs_once(
    engine: Engine,
) -> None:
    runs: list[int] = []

    def work(conn: Connection) -> int:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        runs.append(pid)
        return pid

    def end_the_session_first(conn: Connection) -> None:
        alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": runs[-1]})
            deadline = time.monotonic() + _GONE_WITHIN_S
            while other.execute(alive, {"pid": runs[-1]}).scalar_one():
                assert time.monotonic() < deadline, "the session outlived its termination"
                time.sleep(0.01)

    event.listen(engine, "commit", end_the_session_first)
    try:
        with pytest.raises(LedgerError) as unknown:
            run_transaction(engine, work)
    finally:
        event.remove(engine, "commit", end_the_session_first)
    assert unknown.value.code is LedgerErrorCode.OUTCOME_UNKNOWN
    assert len(runs) == 1
    assert run_transaction(engine, work) > 0, "the engine goes on with a fresh connection"
