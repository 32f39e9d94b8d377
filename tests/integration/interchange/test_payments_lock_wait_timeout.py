"""A payment waiting on a row another session holds gets `lock_wait_timeout`, bounded.

On PostgreSQL a merchant's wallet held `FOR UPDATE` by a session outside kopnet (an
operator's psql session, a stalled process; `held_by_another_session`) used to stall a
purchase paying into it, and the payment committer's batch with it, without bound. Now the
purchase is refused with the ledger's `lock_wait_timeout`, raised to its caller as the
other failures of a whole transaction are, after the engine's lock timeout, with nothing
recorded: no payment, no posting, no obligation, no daily total. Sent again once the lock
goes, it is recorded once. A purchase at another merchant sharing its group-commit batch
is recorded. The registry's writes meet the same bound: a member joining a cooperative
whose row another session holds is refused with it too.

Calls that could wait have a bounded answer (`answered_within`, futures with a timeout),
and the outside lock is released however a test ends, so an unbounded wait fails, never
hangs, the suite.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.bootstrap import Services, build
from interchange import tables
from interchange.payment_model import QrPurchase
from interchange.registry_model import KycTier, MemberSpec
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.tables import account
from tests.integration.interchange.test_payment_rounds import gated_committer
from tests.integration.interchange.test_payments_books import World, build_world, snapshot
from tests.network import idr, network_on, qr_for
from tests.races import answered_within, held_by_another_session

LOCK_TIMEOUT_MS = 200
# Far above what a bounded wait takes here (a lock timeout or two), far below forever.
_ANSWER_S_MAX = 10.0


@pytest.fixture
def pg_world(pg_url: str) -> Iterator[World]:
    """The payment tests' small network, on PostgreSQL."""
    with network_on(pg_url) as net:
        yield build_world(net)


@pytest.fixture
def quick(pg_world: World) -> Iterator[Services]:
    """Services over `pg_world`'s database whose sessions wait `LOCK_TIMEOUT_MS` for a lock."""
    settings = pg_world.net.services.settings
    services = build(settings.model_copy(update={"lock_timeout_ms": LOCK_TIMEOUT_MS}))
    yield services
    services.close()


def _to_queue(size: int, services: Services) -> None:
    deadline = time.monotonic() + _ANSWER_S_MAX
    while services.payments._committer._queue.qsize() < size:
        assert time.monotonic() < deadline, "the command was never queued"
        time.sleep(0.002)


def test_a_purchase_whose_merchant_wallet_is_locked_gets_lock_wait_timeout_and_records_nothing(
    pg_world: World, quick: Services, pg_url: str
) -> None:
    w = pg_world
    before = snapshot(quick.engine)
    buy = QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(1_000))
    with held_by_another_session(pg_url, account.name, w.toko.wallet_account_id):
        started = time.monotonic()
        answer = answered_within(_ANSWER_S_MAX, lambda: quick.payments.submit(buy))
        elapsed_s = time.monotonic() - started
        assert isinstance(answer, LedgerError), answer
        assert answer.code is LedgerErrorCode.LOCK_WAIT_TIMEOUT
        assert elapsed_s < 5.0
        assert snapshot(quick.engine) == before
    recorded = quick.payments.pay(buy)
    replayed = quick.payments.submit(buy)
    assert (replayed.payment, replayed.replayed) == (recorded, True)
    after = snapshot(quick.engine)
    assert [p[0] for p in after.payments] == sorted([*(p[0] for p in before.payments), "buy"])
    assert after.entries == before.entries + 1
    assert after.obligations != before.obligations


def test_a_purchase_sharing_a_batch_with_one_at_a_locked_merchant_is_recorded(
    pg_world: World, quick: Services, pg_url: str
) -> None:
    """Both purchases go in one group-commit batch, which fails on the lock; run alone,
    the purchase at the other merchant is recorded, the one at the locked merchant is
    refused, each within its batch's wait and its own."""
    w = pg_world
    payments = quick.payments
    _, gate, entered = gated_committer(payments)
    occupier = QrPurchase("occupy", w.ani.id, qr_for(w.warung), idr(1_000))
    at_toko = QrPurchase("at-toko", w.ani.id, qr_for(w.toko), idr(2_000))
    at_warung = QrPurchase("at-warung", w.budi.id, qr_for(w.warung), idr(3_000))
    # The pool is left after the lock is released: a caller still waiting then finishes.
    with ThreadPoolExecutor(max_workers=3) as pool:
        with held_by_another_session(pg_url, account.name, w.toko.wallet_account_id):
            busy = pool.submit(payments.submit, occupier)
            assert entered.wait(_ANSWER_S_MAX), "the worker never took the occupier"
            locked_answer = pool.submit(payments.submit, at_toko)
            _to_queue(1, quick)
            free_answer = pool.submit(payments.submit, at_warung)
            _to_queue(2, quick)
            started = time.monotonic()
            gate.set()
            free = free_answer.result(timeout=_ANSWER_S_MAX)
            refused = locked_answer.exception(timeout=_ANSWER_S_MAX)
            elapsed_s = time.monotonic() - started
        assert busy.result(timeout=_ANSWER_S_MAX).ok
    assert free.ok, free
    assert isinstance(refused, LedgerError), refused
    assert refused.code is LedgerErrorCode.LOCK_WAIT_TIMEOUT
    assert elapsed_s < 5.0
    recorded = [p[0] for p in snapshot(quick.engine).payments]
    assert ("at-warung" in recorded, "at-toko" in recorded) == (True, False)


def test_a_member_joining_a_locked_cooperative_gets_lock_wait_timeout_and_is_not_registered(
    pg_world: World, quick: Services, pg_url: str
) -> None:
    w = pg_world
    before = snapshot(quick.engine)
    spec = MemberSpec(
        w.ksa.id, "M09999", "dewi", "081200009999", "3273014500009999", KycTier.VERIFIED
    )
    with held_by_another_session(pg_url, tables.coop.name, w.ksa.id):
        answer = answered_within(_ANSWER_S_MAX, lambda: quick.registry.register_member(spec))
        assert isinstance(answer, LedgerError), answer
        assert answer.code is LedgerErrorCode.LOCK_WAIT_TIMEOUT
    assert snapshot(quick.engine) == before
    assert quick.registry.register_member(spec).coop_id == w.ksa.id
