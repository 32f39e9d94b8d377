"""Processes whose window calendars differ (another cut-off or time zone), on both engines.

A close runs once the closer's calendar says the window is due. Run by a process whose
cut-off is earlier, it closes a window that a paying process's calendar still calls open:
the payment used to read the clock again and again (SQLite: spinning with the write lock
held, so no other process could write), or fail as `contention_retries_exhausted`
(PostgreSQL). It is now refused at once as `window_closed`, and nothing is recorded. A
close of a window closed already reports it, whatever the calendar of the process asking.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from interchange.payment_model import CashIn, PaymentError, PaymentErrorCode
from interchange.tables import payment
from interchange.window import WindowCalendar
from ledger.db import run_transaction
from settlement.closing import close_window
from tests.network import cutoff_in, idr, network_on

# Far below the seconds the payment spun before (until this process's own cut-off).
_REFUSED_WITHIN_S = 10.0


def test_a_payment_in_a_window_another_calendar_closed_is_refused_at_once(db_url: str) -> None:
    with network_on(db_url, cutoff_s=cutoff_in(3600)) as net:
        ksa = net.add_coop("KSA")
        ani = net.add_member("ani", ksa)
        services = net.services
        calendar = services.settlement.calendar
        window_date = calendar.window_date(datetime.now(UTC))
        early = WindowCalendar(calendar.time_zone, cutoff_s=1)
        assert early.cutoff_at(window_date) <= datetime.now(UTC), "due for the early closer"
        closed = run_transaction(
            services.engine,
            lambda conn: close_window(conn, window_date, actor="early", calendar=early),
        )
        assert closed.newly_closed
        started = time.monotonic()
        with pytest.raises(PaymentError) as refused:
            services.payments.pay(CashIn("late", ani.id, ksa.id, idr(1_000)))
        assert time.monotonic() - started < _REFUSED_WITHIN_S
        assert refused.value.code is PaymentErrorCode.WINDOW_CLOSED
        assert "KOPNET_WINDOW_CUTOFF_S" in refused.value.message
        with services.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(payment)).scalar_one() == 0
        again = services.settlement.close(window_date, actor="late")
        assert not again.newly_closed and again.window_date == window_date
