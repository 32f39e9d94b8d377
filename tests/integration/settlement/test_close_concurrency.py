"""Closing a window while payments keep arriving, against real PostgreSQL.

Submitters run from before the cut-off to a moment after it while two closers close the
window as soon as it is due. Afterwards every payment belongs to exactly one window, the
closed window's positions are exactly what its payments did to the ledger, the next
window's obligations are exactly what the rest did, and the window was closed once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from interchange.payment_model import PaymentCommand, PaymentOutcome, QrPurchase, Transfer
from interchange.payment_store import WINDOW_LOCK_CLASS, window_key
from interchange.registry_model import Member, Merchant
from interchange.tables import payment, window_close
from settlement import tables as st
from settlement.closing import WindowSummary
from settlement.window_rules import SettlementErrorCode, WindowError
from tests.integration.settlement.night import (
    last_due_window,
    ledger_nets,
    next_day,
    obligation_nets,
)
from tests.network import cutoff_in, idr, network_on, qr_for
from tests.races import wait_until_a_session_waits_for_a_lock

pytestmark = pytest.mark.postgres

SUBMITTERS = 6
AFTER_CUTOFF_S = 1.0
CLOSERS = 8


def _commands(
    k: int, members: list[Member], shops: list[Merchant]
) -> Callable[[int], list[PaymentCommand]]:
    """Submitter `k`'s n-th batch: a cross-cooperative purchase and transfer by its member."""
    payer = members[k]
    shop = shops[(k + 1) % len(shops)]
    payee = members[(k + 2) % len(members)]

    def batch(n: int) -> list[PaymentCommand]:
        return [
            QrPurchase(f"race-{k}-{n}-qr", payer.id, qr_for(shop), idr(1_000 + n)),
            Transfer(f"race-{k}-{n}-tr", payer.id, payee.id, idr(500)),
        ]

    return batch


def _close_when_due(close: Callable[[], WindowSummary], cutoff: datetime) -> WindowSummary:
    """Close as soon as the window is due, retrying a close that came a moment too early."""
    time.sleep(max(0.0, (cutoff - datetime.now(UTC)).total_seconds()))
    deadline = cutoff + timedelta(seconds=5)
    while True:
        try:
            return close()
        except WindowError as error:
            if error.code != SettlementErrorCode.WINDOW_NOT_DUE or datetime.now(UTC) > deadline:
                raise
            time.sleep(0.005)


def test_payments_racing_the_close_each_land_in_exactly_one_window(pg_url: str) -> None:
    with network_on(pg_url, cutoff_s=cutoff_in(3)) as net:
        coops = [net.add_coop(code) for code in ("KSA", "KSB", "KSC")]
        members = [
            net.add_member(f"member-{k}", coops[k % 3], cash_in=2_000_000)
            for k in range(SUBMITTERS)
        ]
        shops = [net.add_merchant(f"Kios {c.code}", c) for c in coops]
        settlement, payments = net.services.settlement, net.services.payments
        window_date = settlement.calendar.window_date(datetime.now(UTC))
        cutoff = settlement.calendar.cutoff_at(window_date)
        stop_at = cutoff + timedelta(seconds=AFTER_CUTOFF_S)
        outcomes: list[list[PaymentOutcome]] = [[] for _ in range(SUBMITTERS)]
        closed: list[WindowSummary] = []
        failures: list[BaseException] = []

        def submit(k: int) -> None:
            batch = _commands(k, members, shops)
            n = 0
            try:
                while datetime.now(UTC) < stop_at:
                    outcomes[k].extend(payments.submit_batch(batch(n)))
                    n += 1
            except BaseException as error:  # reported by the main thread
                failures.append(error)

        def close() -> None:
            try:
                closed.append(
                    _close_when_due(
                        lambda: settlement.close(window_date, actor="night-job"), cutoff
                    )
                )
            except BaseException as error:  # reported by the main thread
                failures.append(error)

        threads = [threading.Thread(target=submit, args=(k,)) for k in range(SUBMITTERS)]
        threads += [threading.Thread(target=close) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert not failures, failures
        assert not any(thread.is_alive() for thread in threads)
        accepted = [o for mine in outcomes for o in mine]
        assert [o.code for o in accepted if not o.ok] == []
        tomorrow = next_day(window_date)
        with net.services.engine.connect() as conn:
            rows = conn.execute(
                select(
                    payment.c.payment_id,
                    payment.c.business_date,
                    payment.c.window_date,
                    payment.c.created_at,
                ).where(payment.c.payment_id.like("race-%"))
            ).all()
            close_events = conn.execute(
                select(func.count())
                .select_from(st.event)
                .where(st.event.c.window_date == window_date, st.event.c.action == "close")
            ).scalar_one()
        # None lost, none twice: one row per accepted payment.
        assert sorted(r.payment_id for r in rows) == sorted(o.payment_id for o in accepted)
        by_window = {r.payment_id: r.business_date for r in rows}
        assert all(r.window_date == r.business_date for r in rows)
        assert set(by_window.values()) == {window_date, tomorrow}, "the race did not happen"
        for r in rows:
            assert r.business_date == settlement.calendar.window_date(r.created_at)
        summary = settlement.summary(window_date)
        assert [s.window_date for s in closed] == [window_date] * 2
        assert close_events == 1
        assert summary.recompute_ok is True
        assert all(r.created_at < summary.closed_at for r in rows if r.business_date == window_date)
        gross = {
            (p.coop_id, p.currency): (p.payable_minor, p.receivable_minor)
            for p in summary.positions
        }
        assert gross == obligation_nets(net.services.engine, window_date)
        nets = {(p.coop_id, p.currency): p.net_minor for p in summary.positions if p.net_minor}
        assert nets == ledger_nets(net.services.engine, window_date)
        upcoming = {
            key: receivable - payable
            for key, (payable, receivable) in obligation_nets(net.services.engine, tomorrow).items()
            if receivable != payable
        }
        assert upcoming == ledger_nets(net.services.engine, tomorrow)


def test_concurrent_closes_of_one_window_close_it_once(pg_url: str) -> None:
    with network_on(pg_url, cutoff_s=1) as net:
        settlement = net.services.settlement
        window_date = last_due_window(net)
        start = threading.Barrier(CLOSERS)
        summaries: list[WindowSummary] = []
        failures: list[BaseException] = []

        def close() -> None:
            try:
                start.wait(timeout=10)
                summaries.append(settlement.close(window_date, actor="night-job"))
            except BaseException as error:  # reported by the main thread
                failures.append(error)

        threads = [threading.Thread(target=close) for _ in range(CLOSERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert not failures, failures
        assert len(summaries) == CLOSERS
        assert len({(s.window_date, s.closed_at, s.closed_by) for s in summaries}) == 1
        with net.services.engine.connect() as conn:
            actions = conn.execute(
                select(st.event.c.action).where(st.event.c.window_date == window_date)
            ).scalars()
            closes = conn.execute(select(func.count()).select_from(window_close)).scalar_one()
            windows = conn.execute(select(func.count()).select_from(st.window)).scalar_one()
            assert list(actions).count("close") == 1
        assert (closes, windows) == (1, 1)


def test_a_payment_that_waited_for_a_window_being_closed_lands_in_the_next_one(
    pg_url: str,
) -> None:
    """The payment's transaction starts before the cut-off, in the window a closer holds;
    once the closer has closed it, the payment starts again in a new transaction, whose
    clock is past the cut-off, and lands in the next window."""
    # Room for the registrations below before the cut-off, on a loaded machine too.
    with network_on(pg_url, cutoff_s=cutoff_in(5)) as net:
        ksa, ksb = net.add_coop("KSA"), net.add_coop("KSB")
        ani = net.add_member("ani", ksa, cash_in=100_000)
        toko = net.add_merchant("Toko", ksb)
        engine, calendar = net.services.engine, net.services.settlement.calendar
        window_date = calendar.window_date(datetime.now(UTC))
        cutoff = calendar.cutoff_at(window_date)
        late = QrPurchase("late", ani.id, qr_for(toko), idr(1_000))
        with ThreadPoolExecutor(max_workers=1) as pool, engine.connect() as closer:
            key = window_key(window_date)
            closer.execute(select(func.pg_advisory_xact_lock(WINDOW_LOCK_CLASS, key)))
            assert datetime.now(UTC) < cutoff, "the payment must start inside the window"
            waiting = pool.submit(net.services.payments.submit, late)
            wait_until_a_session_waits_for_a_lock(engine)
            time.sleep(max(0.0, (cutoff - datetime.now(UTC)).total_seconds()) + 0.05)
            closer.execute(
                insert(window_close).values(window_date=window_date, closed_at=datetime.now(UTC))
            )
            closer.commit()
            outcome = waiting.result(timeout=30)
    assert outcome.code is None and outcome.payment is not None
    assert outcome.payment.window_date == next_day(window_date)
    assert outcome.payment.created_at >= cutoff
