"""Payments racing each other on PostgreSQL, staged deterministically.

Each test lets two requests overlap at a chosen point: a blocker connection holds a row
lock (`FOR UPDATE` on a ledger account or a payment row) so that both requests have loaded
what they read before either writes, and `wait_until_a_session_waits_for_a_lock` returns
once they wait.
Two independent callers whose commands the group committer merges into one batch
are staged with a single committer worker held busy by a payment that waits on the
blocker, so that both callers' commands are queued when it is released.

The invariants checked: a refused command changes nothing (not even its neighbours'
outcomes), an authorization moves on exactly once and a capture for less releases the
rest, refunds never exceed the original, the net debit cap holds, and the same payment id
gives a replay for the same request and `payment_exists_with_different_request` for
another, whatever the timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from interchange import tables
from interchange.payment_model import (
    Authorize,
    Capture,
    PaymentCommand,
    PaymentOutcome,
    PaymentStatus,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.payments import Payments
from ledger import tables as ledger_tables
from ledger.account import AccountStatus
from ledger.money import Money
from tests.integration.interchange.test_payments_books import World, build_world, snapshot
from tests.network import idr, network_on, qr_for, services_cutting_off_in
from tests.races import wait_until_a_session_waits_for_a_lock

pytestmark = pytest.mark.postgres

WAIT_S_MAX = 30.0


def sen(amount_minor: int) -> Money:
    return Money(amount_minor, "IDR")


@pytest.fixture
def w(pg_url: str) -> Iterator[World]:
    with network_on(pg_url) as net:
        yield build_world(net)


@pytest.fixture
def w1(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A world whose services run one group-commit worker, so queued callers share a batch."""
    monkeypatch.setenv("KOPNET_GROUP_COMMIT_WORKERS", "1")
    with network_on(pg_url) as net:
        assert net.services.settings.group_commit_workers == 1
        yield build_world(net)


@contextmanager
def blocking(engine: Engine, account_id: int) -> Iterator[None]:
    """Hold a ledger account `FOR UPDATE` until the block ends."""
    account = ledger_tables.account
    with engine.connect() as blocker:
        blocker.execute(select(account.c.id).where(account.c.id == account_id).with_for_update())
        try:
            yield
        finally:
            blocker.rollback()


def in_turn(
    engine: Engine,
    blocked_account_id: int,
    calls: Sequence[Callable[[], list[PaymentOutcome]]],
    between: Callable[[], None] | None = None,
) -> list[list[PaymentOutcome]]:
    """Start each call in its own thread once the previous one waits for a lock, with
    `blocked_account_id` held; release it once all wait, and return their results."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures: list[Future[list[PaymentOutcome]]] = []
        with blocking(engine, blocked_account_id):
            for n, call in enumerate(calls, start=1):
                if n > 1 and between is not None:
                    between()
                futures.append(pool.submit(call))
                wait_until_a_session_waits_for_a_lock(engine, n)
        return [f.result(timeout=WAIT_S_MAX) for f in futures]


def batch(payments: Payments, command: PaymentCommand) -> Callable[[], list[PaymentOutcome]]:
    return lambda: payments.submit_batch([command])


def batches_in_turn(
    w: World, first: PaymentCommand, second: PaymentCommand
) -> tuple[PaymentOutcome, PaymentOutcome]:
    """`first` then `second`, each in its own transaction, both held at Toko's wallet."""
    payments = w.net.services.payments
    (one,), (two,) = in_turn(
        w.net.services.engine,
        w.toko.wallet_account_id,
        [batch(payments, first), batch(payments, second)],
    )
    return one, two


def submitted_together(
    w: World, occupier: PaymentCommand, commands: Sequence[PaymentCommand]
) -> list[PaymentOutcome]:
    """Submit `commands` from one thread each while the only committer worker is busy
    with `occupier` (which waits on a lock on Warung's wallet); they then share a batch."""
    payments, engine = w.net.services.payments, w.net.services.engine
    queue = payments._committer._queue  # the committer's queue: how many callers wait
    with ThreadPoolExecutor(max_workers=1 + len(commands)) as pool:
        with blocking(engine, w.warung.wallet_account_id):
            busy = pool.submit(payments.submit, occupier)
            wait_until_a_session_waits_for_a_lock(engine)
            futures = []
            for n, command in enumerate(commands, start=1):
                futures.append(pool.submit(payments.submit, command))
                deadline = time.monotonic() + WAIT_S_MAX
                while queue.qsize() < n:
                    assert time.monotonic() < deadline, "the command was never queued"
                    time.sleep(0.005)
        assert busy.result(timeout=WAIT_S_MAX).ok
        return [f.result(timeout=WAIT_S_MAX) for f in futures]


def status(w: World, payment_id: str) -> PaymentStatus:
    return w.net.services.payments.payment(payment_id).status


# A refused command must not decide its neighbours' outcomes


def test_a_refund_the_ledger_refuses_does_not_use_up_the_original_for_a_concurrent_refund(
    w1: World,
) -> None:
    """Two tellers refund the same purchase at once and the group committer takes both
    refunds in one batch. The first (Rp10.000) is refused by the ledger: Mikro's wallet
    holds only Rp9.970. The second (Rp1.000) must still go through, as it does alone.
    Planned in the same transaction, it was refused as `refund_exceeds_original`, the
    first refund counted as done before the ledger refused it; now it waits for the next
    transaction (`batch_dependents.split_dependents`)."""
    payments = w1.net.services.payments
    payments.pay(QrPurchase("buy", w1.ani.id, qr_for(w1.mikro), idr(10_000)))
    assert w1.net.balance(w1.mikro.wallet_account_id) == idr(9_970)
    occupier = QrPurchase("occupy", w1.budi.id, qr_for(w1.warung), idr(1_000))
    too_much, fits = submitted_together(
        w1,
        occupier,
        [Refund("r-1", "buy", idr(10_000)), Refund("r-2", "buy", idr(1_000))],
    )
    assert too_much.code == "insufficient_funds"
    assert (fits.code, fits.ok) == (None, True), fits
    assert payments.payment("buy").refunded == idr(1_000)


def test_a_capture_the_ledger_refuses_does_not_block_a_concurrent_void(w1: World) -> None:
    """The payer's wallet is frozen while an authorization is open: a capture is refused
    by the ledger (`account_frozen`), a void still releases the hold. A cashier's capture
    and the payer's void taken in one batch: the void must release the hold. Planned in
    the same transaction, it was refused as `authorization_not_open` (the authorization
    counted as captured before the ledger refused the capture); now it waits for the
    next transaction (`batch_dependents.split_dependents`)."""
    payments, ledger = w1.net.services.payments, w1.net.services.ledger
    payments.pay(Authorize("auth", w1.ani.id, qr_for(w1.toko), idr(40_000)))
    ledger.set_account_status(w1.ani.wallet_account_id, AccountStatus.FROZEN)
    occupier = QrPurchase("occupy", w1.budi.id, qr_for(w1.warung), idr(1_000))
    capture, void = submitted_together(
        w1, occupier, [Capture("cap", "auth", idr(30_000)), Void("void", "auth")]
    )
    assert capture.code == "account_frozen"
    assert (void.code, void.ok) == (None, True), void
    assert status(w1, "auth") is PaymentStatus.VOIDED
    assert ledger.account(w1.ani.wallet_account_id).pending_debit_minor == 0


# The same payment id from two callers at once


def test_the_same_id_for_two_different_purchases_at_once_is_a_payment_conflict(w: World) -> None:
    """Two tills send the same payment id for different purchases (Ani's Rp1.000 and
    Budi's Rp2.000 at Toko) at once. Both load their payments and find none; they share
    Toko's accounts, so one waits for the other to commit, and the ledger then finds the
    entry `pay:x` recorded with other legs. The caller must get the payment's own
    `payment_exists_with_different_request`, as when the two arrive one after the other,
    not the ledger's `exists_with_different_legs`: the batch starts again in a new
    transaction, which finds the payment."""
    payments, engine = w.net.services.payments, w.net.services.engine
    ani = QrPurchase("x", w.ani.id, qr_for(w.toko), idr(1_000))
    budi = QrPurchase("x", w.budi.id, qr_for(w.toko), idr(2_000))
    before = snapshot(engine)
    results = in_turn(
        engine, w.toko.wallet_account_id, [batch(payments, ani), batch(payments, budi)]
    )
    codes = sorted(str(o.code) for (o,) in results)
    assert codes == ["None", "payment_exists_with_different_request"], codes
    assert len(snapshot(engine).payments) == len(before.payments) + 1


def test_a_retry_racing_its_original_across_the_window_cutoff_is_a_replay(
    w: World, pg_url: str
) -> None:
    """A payment is sent just before the settlement window's cut-off and waits for Toko's
    wallet; the till times out and retries it, identically, just after the cut-off. The
    retry belongs to the next window, so it locks another daily-total row and does not
    wait for the original at the load; it finds no payment `x`, then waits for the
    accounts. Once the original commits, the ledger finds `pay:x` with the earlier
    business date. The retry must replay the recorded payment (same id and request, same
    result), not fail with `exists_with_different_business_date`: the batch starts again
    in a new transaction, which finds the payment."""
    with services_cutting_off_in(pg_url, 2) as services:
        payments, engine = services.payments, services.engine
        zone = ZoneInfo(services.settings.time_zone)
        now = datetime.now(zone)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        cutoff_at = midnight + timedelta(seconds=services.settings.window_cutoff_s)
        command = QrPurchase("x", w.ani.id, qr_for(w.toko), idr(1_000))

        def after_the_cutoff() -> None:
            left_s = (cutoff_at - datetime.now(zone)).total_seconds()
            assert left_s > 0, "the original must start before the cut-off"
            time.sleep(left_s + 0.05)  # waits for the wall clock, not for another thread

        results = in_turn(
            engine,
            w.toko.wallet_account_id,
            [batch(payments, command), batch(payments, command)],
            between=after_the_cutoff,
        )
    (original,), (retry,) = results
    assert (original.ok, original.replayed) == (True, False), original
    assert (retry.code, retry.replayed) == (None, True), retry
    assert retry.payment == original.payment


# Races the existing tests do not stage: these hold


def test_two_partial_refunds_in_different_batches_cannot_together_exceed_the_original(
    w: World,
) -> None:
    """Two refunds of Rp6.000 of one Rp10.000 purchase, each in its own transaction, at
    once: the second waits for the first on the original's row and then sees it refunded."""
    payments = w.net.services.payments
    payments.pay(QrPurchase("stock", w.budi.id, qr_for(w.toko), idr(50_000)))
    payments.pay(QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(10_000)))
    toko_before = w.net.balance(w.toko.wallet_account_id)
    first, second = batches_in_turn(
        w, Refund("r-1", "buy", idr(6_000)), Refund("r-2", "buy", idr(6_000))
    )
    assert (first.code, second.code) == (None, "refund_exceeds_original")
    assert payments.payment("buy").refunded == idr(6_000)
    assert w.net.balance(w.toko.wallet_account_id) == toko_before - idr(6_000)


def test_a_capture_for_less_and_a_void_in_different_batches_cannot_both_win(w: World) -> None:
    payments = w.net.services.payments
    payments.pay(Authorize("auth", w.ani.id, qr_for(w.toko), idr(40_000)))
    wallet_before = w.net.balance(w.ani.wallet_account_id)
    capture, void = batches_in_turn(w, Capture("cap", "auth", idr(30_000)), Void("void", "auth"))
    assert (capture.code, void.code) == (None, "authorization_not_open")
    assert status(w, "auth") is PaymentStatus.CAPTURED
    wallet = w.net.services.ledger.account(w.ani.wallet_account_id)
    assert wallet.pending_debit_minor == 0
    assert wallet.posted == wallet_before - idr(30_000)
    assert w.net.services.ledger.account(w.toko.wallet_account_id).pending_credit_minor == 0


def test_a_capture_for_less_racing_the_expiry_sweeper_moves_the_authorization_on_once(
    w: World,
) -> None:
    """The capture starts before the hold's timeout and waits for Toko's wallet; the sweeper
    runs after the timeout and waits behind it. The capture wins; the sweeper expires
    nothing and leaves the captured authorization alone."""
    payments, engine = w.net.services.payments, w.net.services.engine
    payments.pay(Authorize("auth", w.ani.id, qr_for(w.toko), idr(40_000), timeout_s=1))
    expires_at = w.net.services.ledger.entry("pay:auth").expires_at
    assert expires_at is not None
    wallet_before = w.net.balance(w.ani.wallet_account_id)
    swept: list[int] = []

    def sweep() -> list[PaymentOutcome]:
        swept.append(payments.expire_authorizations())
        return []

    def after_the_timeout() -> None:
        left_s = (expires_at - datetime.now(expires_at.tzinfo)).total_seconds()
        assert left_s > 0, "the capture must start before the timeout"
        time.sleep(left_s + 0.05)  # waits for the wall clock, not for another thread

    (capture,), _ = in_turn(
        engine,
        w.toko.wallet_account_id,
        [batch(payments, Capture("cap", "auth", idr(30_000))), sweep],
        between=after_the_timeout,
    )
    assert capture.ok, capture
    assert swept == [0]
    assert status(w, "auth") is PaymentStatus.CAPTURED
    wallet = w.net.services.ledger.account(w.ani.wallet_account_id)
    assert (wallet.posted, wallet.pending_debit_minor) == (wallet_before - idr(30_000), 0)
    assert payments.expire_authorizations() == 0
    assert status(w, "auth") is PaymentStatus.CAPTURED


def test_two_members_of_one_cooperative_paying_at_once_stay_within_its_net_debit_cap(
    w: World,
) -> None:
    """Each transfer alone fits under KCL's cap; together they do not. The second waits
    for the first on KCL's due account and is refused."""
    net = w.net
    payments, engine = net.services.payments, net.services.engine
    kcl = net.add_coop("KCL", cap_rupiah=50_000)
    dina = net.add_member("dina", kcl, cash_in=1_000_000)
    eka = net.add_member("eka", kcl, cash_in=1_000_000)
    cap_minor = 5_000_000
    # A transfer out raises the due balance by amount + Rp2.500 - Rp1.250 (see the limits tests).
    headroom = cap_minor - net.balance(kcl.due_account_id).amount_minor - 125_000
    amount = sen(headroom // 2 + 100_000)
    (first,), (second,) = in_turn(
        engine,
        kcl.due_account_id,
        [
            batch(payments, Transfer("t-dina", dina.id, w.budi.id, amount)),
            batch(payments, Transfer("t-eka", eka.id, w.budi.id, amount)),
        ],
    )
    assert (first.code, second.code) == (None, "net_debit_cap_exceeded")
    assert net.balance(kcl.due_account_id).amount_minor <= cap_minor
    with engine.connect() as conn:
        recorded = set(conn.execute(select(tables.payment.c.payment_id)).scalars())
    assert "t-dina" in recorded and "t-eka" not in recorded
