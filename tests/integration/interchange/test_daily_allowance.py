"""A member's daily allowance given back, on both engines, when an authorization does not
take all it counted: voided, expired, or captured for less.

An authorization counts what it holds against its payer's daily limit on the day it is
made. A void or an expiry gives all of it back; a capture for less gives back what it does
not take. The allowance goes back to the day the authorization counted against, once: a
replayed void or capture, or a second sweep, gives nothing more. Citra is a basic member
(Rp2.000.000 a day) with Rp999.000 in her wallet and nothing sent today. Amounts in sen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from interchange import tables
from interchange.payment_model import (
    Authorize,
    Capture,
    PaymentCommand,
    PaymentStatus,
    QrPurchase,
    Transfer,
    Void,
)
from interchange.payments import Payments
from interchange.window import WindowCalendar
from tests.integration.interchange.test_payments_books import World, build_world, pay, refuse
from tests.integration.interchange.test_payments_limits import daily_spent, sen
from tests.network import idr, network_on, qr_for, services_cutting_off_in
from tests.races import blocked_rival

DAILY_LIMIT = 200_000_000


def fund(w: World, payment_id: str, rupiah: int) -> None:
    """Ani sends Citra `rupiah` (Ani pays the fee; Citra receives it whole)."""
    pay(w.net, Transfer(payment_id, w.ani.id, w.citra.id, idr(rupiah)))


def purchase(w: World, payment_id: str, amount_minor: int) -> QrPurchase:
    return QrPurchase(payment_id, w.citra.id, qr_for(w.toko), sen(amount_minor))


def fill_the_day_around(w: World, authorization: Authorize) -> None:
    """Citra authorizes Rp999.000, then spends the rest of her day (Rp1.001.000)."""
    pay(w.net, authorization)
    fund(w, "fund-1", 1_001_000)
    pay(w.net, purchase(w, "fill", 100_100_000))
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT
    refuse(w.net, purchase(w, "over", 1), "daily_limit_exceeded")


def authorization(w: World, timeout_s: int = 900) -> Authorize:
    return Authorize("auth", w.citra.id, qr_for(w.toko), idr(999_000), timeout_s=timeout_s)


def assert_a_replay_gives_nothing_back(w: World, command: PaymentCommand) -> None:
    """`command` was recorded; sent again it replays, and the day stays full: a payment
    that would fit only if the allowance came back twice is refused (Citra has the funds)."""
    outcome = w.net.services.payments.submit(command)
    assert (outcome.code, outcome.replayed) == (None, True)
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT
    fund(w, "fund-2", 1_000)
    refuse(w.net, purchase(w, "twice", 1), "daily_limit_exceeded")


def test_a_voided_authorization_gives_its_daily_allowance_back(w: World) -> None:
    fill_the_day_around(w, authorization(w))
    pay(w.net, Void("void", "auth"))
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT - 99_900_000
    pay(w.net, purchase(w, "again", 99_900_000))
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT
    assert_a_replay_gives_nothing_back(w, Void("void", "auth"))


def test_a_capture_for_less_gives_the_part_it_does_not_take_back(w: World) -> None:
    fill_the_day_around(w, authorization(w))
    pay(w.net, Capture("cap", "auth", idr(599_000)))
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT - 40_000_000
    pay(w.net, purchase(w, "again", 40_000_000))
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT
    assert_a_replay_gives_nothing_back(w, Capture("cap", "auth", idr(599_000)))


def test_a_capture_in_full_gives_nothing_back(w: World) -> None:
    fill_the_day_around(w, authorization(w))
    pay(w.net, Capture("cap", "auth"))
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT
    fund(w, "fund-2", 1_000)
    refuse(w.net, purchase(w, "more", 1), "daily_limit_exceeded")


def test_an_expired_authorization_gives_its_daily_allowance_back_when_swept(w: World) -> None:
    payments = w.net.services.payments
    fill_the_day_around(w, authorization(w, timeout_s=1))
    time.sleep(1.5)
    # Past its timeout but not yet swept, the authorization still counts.
    refuse(w.net, purchase(w, "early", 1), "daily_limit_exceeded")
    assert payments.expire_authorizations() == 1
    assert payments.payment("auth").status is PaymentStatus.EXPIRED
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT - 99_900_000
    pay(w.net, purchase(w, "again", 99_900_000))
    assert payments.expire_authorizations() == 0
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT
    fund(w, "fund-2", 1_000)
    refuse(w.net, purchase(w, "twice", 1), "daily_limit_exceeded")


def test_a_void_refused_after_a_capture_for_less_gives_nothing_more_back(w: World) -> None:
    fill_the_day_around(w, authorization(w))
    pay(w.net, Capture("cap", "auth", idr(599_000)))
    refuse(w.net, Void("void", "auth"), "authorization_not_open")
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT - 40_000_000


def test_a_purchase_after_a_void_in_one_batch_may_use_the_allowance_the_void_gave_back(
    w: World,
) -> None:
    """The purchase does not fit until the void is in: it gets its second chance once the
    ledger has accepted the void, in the same transaction."""
    fill_the_day_around(w, authorization(w))
    outcomes = w.net.services.payments.submit_batch(
        [Void("void", "auth"), purchase(w, "again", 99_900_000)]
    )
    assert [o.code for o in outcomes] == [None, None]
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT


def test_a_purchase_in_one_batch_with_a_refused_void_gets_no_allowance_back(w: World) -> None:
    fill_the_day_around(w, authorization(w))
    pay(w.net, Capture("cap", "auth"))
    outcomes = w.net.services.payments.submit_batch([Void("void", "auth"), purchase(w, "again", 1)])
    assert [o.code for o in outcomes] == ["authorization_not_open", "daily_limit_exceeded"]
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT


def totals_by_date(w: World, member_id: int) -> dict[date, int]:
    daily = tables.member_daily
    query = select(daily.c.business_date, daily.c.spent_minor).where(daily.c.member_id == member_id)
    with w.net.services.engine.connect() as conn:
        return {row.business_date: row.spent_minor for row in conn.execute(query)}


def test_a_void_after_the_cutoff_gives_back_to_the_day_the_authorization_counted_against(
    w: World, db_url: str
) -> None:
    """Citra authorizes just before the window's cut-off; after it, one batch voids the
    authorization and pays in the new window. The void gives back to the old window's
    total; the purchase counts in the new one's."""
    with services_cutting_off_in(db_url, 2) as services:
        calendar = WindowCalendar(services.settings.time_zone, services.settings.window_cutoff_s)
        services.payments.pay(authorization(w))
        counted_date = services.payments.payment("auth").business_date
        while calendar.window_date(datetime.now(UTC)) == counted_date:
            time.sleep(0.05)
        outcomes = services.payments.submit_batch(
            [Void("void", "auth"), purchase(w, "next", 10_000_000)]
        )
    assert [o.code for o in outcomes] == [None, None]
    next_date = w.net.services.payments.payment("next").business_date
    assert next_date > counted_date
    assert totals_by_date(w, w.citra.id) == {counted_date: 0, next_date: 10_000_000}


# PostgreSQL: sweepers and payments at once


@contextmanager
def sweeping(payments: Payments, *, pause_s: float) -> Iterator[None]:
    """Expire authorizations in a loop on another thread, `pause_s` apart, until the block
    ends."""
    stop = threading.Event()

    def sweep() -> None:
        while not stop.is_set():
            payments.expire_authorizations()
            time.sleep(pause_s)

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    try:
        yield
    finally:
        stop.set()
        sweeper.join(timeout=30)


@pytest.fixture
def pg_world(pg_url: str) -> Iterator[World]:
    with network_on(pg_url) as net:
        yield build_world(net)


@pytest.mark.postgres
def test_two_sweepers_at_once_give_an_expired_authorizations_allowance_back_once(
    pg_world: World,
) -> None:
    """The second sweeper starts once the first has locked the authorization, waits for it,
    and then finds nothing left to mark."""
    w = pg_world
    payments, engine = w.net.services.payments, w.net.services.engine
    fill_the_day_around(w, authorization(w, timeout_s=1))
    time.sleep(1.5)
    locks_the_authorizations = "FOR UPDATE OF interchange_payment"
    with blocked_rival(
        engine, lambda sql: locks_the_authorizations in sql, payments.expire_authorizations
    ) as rival:
        assert payments.expire_authorizations() == 1
    assert rival[0].result(timeout=30) == 0
    assert daily_spent(w, w.citra.id) == DAILY_LIMIT - 99_900_000


@pytest.mark.postgres
def test_authorizations_resolved_from_many_threads_leave_only_what_was_captured(
    pg_world: World,
) -> None:
    """Eight threads each authorize Rp100.000 for Ani five times, and in turn void it,
    capture Rp60.000 of it, or leave it to expire in a second, while a sweeper runs; then
    the last holds expire. Ani's day ends at what the captures took."""
    w = pg_world
    payments = w.net.services.payments
    threads, rounds = 8, 5

    def resolve(thread: int) -> list[str | None]:
        codes: list[str | None] = []
        for n in range(rounds):
            auth = f"a-{thread}-{n}"
            step = (thread + n) % 3
            timeout_s = 1 if step == 2 else 600
            held = Authorize(auth, w.ani.id, qr_for(w.toko), idr(100_000), timeout_s=timeout_s)
            codes.append(payments.submit(held).code)
            if step == 0:
                codes.append(payments.submit(Void(f"v-{thread}-{n}", auth)).code)
            elif step == 1:
                capture = Capture(f"c-{thread}-{n}", auth, idr(60_000))
                codes.append(payments.submit(capture).code)
        return codes

    with sweeping(payments, pause_s=0.05), ThreadPoolExecutor(max_workers=threads) as pool:
        codes = [c for batch in pool.map(resolve, range(threads)) for c in batch]
    assert set(codes) == {None}, codes
    captured = sum(1 for t in range(threads) for n in range(rounds) if (t + n) % 3 == 1)
    time.sleep(1.5)
    payments.expire_authorizations()
    assert daily_spent(w, w.ani.id) == captured * 6_000_000


@pytest.mark.postgres
def test_a_capture_or_void_racing_its_authorizations_expiry_gives_the_allowance_back_once(
    pg_world: World,
) -> None:
    """Each authorization holds for a second and is captured for Rp60.000 or voided just
    around that second while a sweeper expires holds in a loop: the ledger decides which
    comes first. Either the capture or void is recorded, or it is refused as expired and
    the sweep gives the allowance back; Ani's day ends at what the recorded captures took."""
    w = pg_world
    payments = w.net.services.payments
    threads, rounds = 4, 4

    def resolve(thread: int) -> list[tuple[int, str | None]]:
        codes: list[tuple[int, str | None]] = []
        for n in range(rounds):
            auth = f"a-{thread}-{n}"
            held = Authorize(auth, w.ani.id, qr_for(w.toko), idr(100_000), timeout_s=1)
            assert payments.submit(held).code is None
            time.sleep(0.9 + thread * 0.04)
            if n % 2:
                codes.append((n, payments.submit(Capture(f"c-{auth}", auth, idr(60_000))).code))
            else:
                codes.append((n, payments.submit(Void(f"v-{auth}", auth)).code))
        return codes

    with sweeping(payments, pause_s=0.0), ThreadPoolExecutor(max_workers=threads) as pool:
        codes = [c for batch in pool.map(resolve, range(threads)) for c in batch]
    assert {code for _, code in codes} <= {None, "authorization_expired"}, codes
    time.sleep(1.2)
    payments.expire_authorizations()
    captured = sum(1 for n, code in codes if n % 2 and code is None)
    assert daily_spent(w, w.ani.id) == captured * 6_000_000
