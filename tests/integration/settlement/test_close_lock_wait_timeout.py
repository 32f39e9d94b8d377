"""A close held up by a payment stuck inside its window gets `lock_wait_timeout`, bounded.

On PostgreSQL a payment holds its window's shared advisory lock until its transaction
ends, and the close takes it exclusively, waiting for the payments already in the window.
A payment transaction that never ends (a stalled process; here a session outside kopnet
holding the lock) used to stall the close without bound. Now the close fails after the
engine's lock timeout with the ledger's `lock_wait_timeout`, leaving the window open, and
closes once the lock goes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from api.bootstrap import build
from api.settings import Settings
from interchange.payment_store import WINDOW_LOCK_CLASS, window_key
from ledger.errors import LedgerError, LedgerErrorCode
from settlement.window_rules import SettlementErrorCode, WindowError
from tests.conftest import TEST_SEAL_KEY
from tests.races import answered_within

_ANSWER_S_MAX = 10.0


def test_a_close_behind_a_stuck_payment_fails_with_lock_wait_timeout_then_closes(
    pg_url: str,
) -> None:
    settings = Settings(database_url=pg_url, seal_key=TEST_SEAL_KEY.decode(), lock_timeout_ms=200)
    services = build(settings)
    try:
        settlement = services.settlement
        yesterday = settlement.calendar.window_date(datetime.now(UTC)) - timedelta(days=1)
        with psycopg.connect(pg_url) as stuck:
            stuck.execute(
                "SELECT pg_advisory_xact_lock_shared(%s, %s)",
                [WINDOW_LOCK_CLASS, window_key(yesterday)],
            )
            try:
                started = time.monotonic()
                answer = answered_within(
                    _ANSWER_S_MAX, lambda: settlement.close(yesterday, actor="night-job")
                )
                elapsed_s = time.monotonic() - started
                assert isinstance(answer, LedgerError), answer
                assert answer.code is LedgerErrorCode.LOCK_WAIT_TIMEOUT
                assert elapsed_s < 5.0
                with pytest.raises(WindowError) as still_open:
                    settlement.summary(yesterday)
                assert still_open.value.code is SettlementErrorCode.WINDOW_NOT_CLOSED
            finally:
                stuck.rollback()
        assert settlement.close(yesterday, actor="night-job").newly_closed
    finally:
        services.close()
