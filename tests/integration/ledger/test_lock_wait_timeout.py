"""A wait for a row lock is bounded on PostgreSQL: past `lock_timeout`, `lock_wait_timeout`.

A row held by a session outside kopnet (`held_by_another_session`: an operator's psql
session, a stalled process) used to stall a write on it without bound, and with it the
group committer's batch it shared; now the write fails after the engine's lock timeout,
once, not retried, with nothing recorded, and the same request sent after the lock goes
is recorded once. In a shared batch, only the caller whose request touches the locked row
gets the code. Every session of an engine carries both timeouts, and one idle inside a
transaction past its timeout is ended by the server, its locks released.

Each call that could wait runs under `answered_within`, which fails the test when no
answer comes within a bound, and the outside lock is released whatever happens, so a wait
without bound fails these tests rather than hangs them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import DBAPIError

from api.bootstrap import build
from api.settings import Settings
from ledger.db import SessionBounds, make_engine, run_transaction
from ledger.entry import Entry, EntryKind, EntryOutcome, EntryRequest
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.group_commit import GroupCommitter
from ledger.service import EXPIRY_ALONE_LOCK_WAIT_MS, Ledger
from ledger.tables import account, entry
from ledger.validation import BATCH_SIZE_MAX
from tests.builders import idr, open_wallets, transfer
from tests.conftest import TEST_SEAL_KEY
from tests.races import answered_within, held_by_another_session

LOCK_TIMEOUT_MS = 200
SHORT_LOCK_WAITS = SessionBounds(lock_timeout_ms=LOCK_TIMEOUT_MS)
# Far above what a bounded wait takes here (a lock timeout or two), far below forever.
_ANSWER_S_MAX = 10.0
_WAIT_S_MAX = 10.0


@pytest.fixture
def quick_ledger(pg_url: str) -> Iterator[Ledger]:
    """A ledger on PostgreSQL whose sessions wait `LOCK_TIMEOUT_MS` for a lock."""
    engine = make_engine(pg_url, bounds=SHORT_LOCK_WAITS)
    service = Ledger(engine, seal_key=TEST_SEAL_KEY)
    yield service
    service.close()
    engine.dispose()


def _books(ledger: Ledger) -> tuple[dict[int, tuple[int, int, int]], int]:
    """Every account's (posted, pending out, pending in), and how many entries exist."""
    with ledger.engine.connect() as conn:
        balances = {
            row.id: (row.posted_minor, row.pending_debit_minor, row.pending_credit_minor)
            for row in conn.execute(select(account))
        }
        entries = conn.execute(select(func.count()).select_from(entry)).scalar_one()
    return balances, entries


def _post(ledger: Ledger, request: EntryRequest) -> Entry:
    return ledger.post(request)


def _post_batch(ledger: Ledger, request: EntryRequest) -> Entry:
    (outcome,) = ledger.post_batch([request])
    assert outcome.entry is not None, outcome
    return outcome.entry


@pytest.mark.parametrize("post", [_post, _post_batch], ids=["post", "post_batch"])
def test_a_transfer_to_a_locked_wallet_fails_with_lock_wait_timeout_and_records_nothing(
    quick_ledger: Ledger, pg_url: str, post: Callable[[Ledger, EntryRequest], Entry]
) -> None:
    ledger = quick_ledger
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    before = _books(ledger)
    pay = transfer("pay", a["ani"], a["budi"], idr(10))
    with held_by_another_session(pg_url, account.name, a["budi"].id):
        started = time.monotonic()
        answer = answered_within(_ANSWER_S_MAX, lambda: post(ledger, pay))
        elapsed_s = time.monotonic() - started
        assert isinstance(answer, LedgerError), answer
        assert answer.code is Code.LOCK_WAIT_TIMEOUT
        assert elapsed_s < 5.0
        assert _books(ledger) == before
    recorded = post(ledger, pay)
    assert post(ledger, pay) == recorded
    balances, entries = _books(ledger)
    assert entries == before[1] + 1
    assert ledger.account(a["ani"].id).posted == idr(90)
    assert ledger.account(a["budi"].id).posted == idr(10)
    assert balances[a["budi"].id] == (idr(10).amount_minor, 0, 0)


def test_a_lock_wait_past_the_timeout_is_not_retried(quick_ledger: Ledger, pg_url: str) -> None:
    """`run_transaction` retries lost races up to `attempts_max` times; a lock wait it
    gives up at the first attempt (55P03 used to be retried with the races)."""
    a = open_wallets(quick_ledger, "ani")
    attempts: list[int] = []

    def lock_ani(conn: Connection) -> None:
        attempts.append(1)
        conn.execute(select(account.c.id).where(account.c.id == a["ani"].id).with_for_update())

    with held_by_another_session(pg_url, account.name, a["ani"].id):
        answer = answered_within(
            _ANSWER_S_MAX, lambda: run_transaction(quick_ledger.engine, lock_ani, attempts_max=8)
        )
    assert isinstance(answer, LedgerError), answer
    assert (answer.code, len(attempts)) == (Code.LOCK_WAIT_TIMEOUT, 1)


def _gated(ledger: Ledger) -> tuple[threading.Event, threading.Event, list[int]]:
    """Give `ledger` a committer with one worker whose first batch waits for the gate
    (`entered` is set once it does); return the gate, `entered`, and the sizes of the
    batches it hands the ledger, in order."""
    gate, entered = threading.Event(), threading.Event()
    sizes: list[int] = []

    def handle(requests: Sequence[EntryRequest]) -> list[EntryOutcome]:
        sizes.append(len(requests))
        if len(sizes) == 1:
            entered.set()
            assert gate.wait(_WAIT_S_MAX), "the gate was never opened"
        return ledger.post_batch(requests)

    ledger._committer.close()
    ledger._committer = GroupCommitter(
        handle, batch_size_max=BATCH_SIZE_MAX, workers=1, name="test-commit"
    )
    return gate, entered, sizes


def _queued(queued: SimpleQueue[Any], size: int) -> None:
    deadline = time.monotonic() + _WAIT_S_MAX
    while queued.qsize() < size:
        assert time.monotonic() < deadline, "the request was never queued"
        time.sleep(0.002)


def test_in_a_shared_batch_only_the_caller_touching_the_locked_row_gets_lock_wait_timeout(
    quick_ledger: Ledger, pg_url: str
) -> None:
    """Two callers' requests share one batch; one credits a wallet another session holds.
    The batch fails on the lock; the committer runs each request alone: the other is
    recorded, and each caller is answered within its batch's wait and its own."""
    ledger = quick_ledger
    a = open_wallets(ledger, "ani", "budi", "citra")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    gate, entered, sizes = _gated(ledger)
    queued = ledger._committer._queue
    occupy = transfer("occupy", a["cash"], a["citra"], idr(1))
    blocked = transfer("to-budi", a["ani"], a["budi"], idr(10))
    free = transfer("to-citra", a["ani"], a["citra"], idr(5))
    # The pool is left after the lock is released: a caller still waiting then finishes.
    with ThreadPoolExecutor(max_workers=3) as pool:
        with held_by_another_session(pg_url, account.name, a["budi"].id):
            occupier = pool.submit(ledger.post, occupy)
            assert entered.wait(_WAIT_S_MAX), "the worker never took the occupier"
            blocked_answer = pool.submit(ledger.post, blocked)
            _queued(queued, 1)
            free_answer = pool.submit(ledger.post, free)
            _queued(queued, 2)
            started = time.monotonic()
            gate.set()
            recorded = free_answer.result(timeout=_ANSWER_S_MAX)
            refused = blocked_answer.exception(timeout=_ANSWER_S_MAX)
            elapsed_s = time.monotonic() - started
        occupier.result(timeout=_ANSWER_S_MAX)
    assert recorded.entry_id == "to-citra"
    assert isinstance(refused, LedgerError), refused
    assert refused.code is Code.LOCK_WAIT_TIMEOUT
    # The occupier, the shared batch, then each of its requests alone.
    assert sizes == [1, 2, 1, 1]
    assert elapsed_s < 5.0
    assert ledger.account(a["citra"].id).posted == idr(6)
    assert ledger.account(a["budi"].id).posted == idr(0)
    with pytest.raises(LedgerError) as missing:
        ledger.entry("to-budi")
    assert missing.value.code is Code.ENTRY_NOT_FOUND


def _shown(conn: Connection) -> tuple[str, str]:
    return (
        conn.execute(text("SHOW lock_timeout")).scalar_one(),
        conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar_one(),
    )


def test_every_session_of_an_engine_carries_both_timeouts_even_after_a_rollback(
    pg_url: str,
) -> None:
    bounds = SessionBounds(lock_timeout_ms=1234, idle_in_transaction_timeout_ms=61234)
    engine = make_engine(pg_url, pool_size=2, bounds=bounds)
    try:
        with engine.connect() as first, engine.connect() as second:
            assert _shown(first) == _shown(second) == ("1234ms", "61234ms")
            first.execute(text("SET LOCAL lock_timeout = 0"))
            first.rollback()
            assert _shown(first) == ("1234ms", "61234ms")
    finally:
        engine.dispose()


def test_the_defaults_are_five_seconds_and_one_minute(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1)
    try:
        with engine.connect() as conn:
            assert _shown(conn) == ("5s", "1min")
    finally:
        engine.dispose()


def test_the_services_built_from_settings_carry_the_settings_timeouts(pg_url: str) -> None:
    settings = Settings(
        database_url=pg_url,
        seal_key=TEST_SEAL_KEY.decode(),
        lock_timeout_ms=4321,
        idle_in_transaction_timeout_ms=54321,
    )
    services = build(settings)
    try:
        with services.engine.connect() as conn:
            assert _shown(conn) == ("4321ms", "54321ms")
    finally:
        services.close()


def test_a_session_idle_in_its_transaction_past_the_timeout_is_ended_and_its_locks_go(
    pg_url: str,
) -> None:
    """A process that stalls inside a transaction holding a row lock (here: sleeps) loses
    its session after the idle timeout; the row is then free for others."""
    short_idle = SessionBounds(idle_in_transaction_timeout_ms=1000)
    engine = make_engine(pg_url, pool_size=1, bounds=short_idle)
    ledger = Ledger(make_engine(pg_url, bounds=SHORT_LOCK_WAITS), seal_key=TEST_SEAL_KEY)
    try:
        a = open_wallets(ledger, "ani")
        with engine.connect() as stalled:
            stalled.execute(
                select(account.c.id).where(account.c.id == a["ani"].id).with_for_update()
            )
            time.sleep(1.5)
            ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
            with pytest.raises(DBAPIError):
                stalled.execute(text("SELECT 1"))
        assert ledger.account(a["ani"].id).posted == idr(100)
    finally:
        ledger.close()
        ledger.engine.dispose()
        engine.dispose()


def test_an_expiry_sweep_releases_the_holds_whose_accounts_no_other_session_holds(
    quick_ledger: Ledger, pg_url: str
) -> None:
    """A sweep whose batch waits past the lock timeout on one hold's account (held by
    another session) releases the other holds one at a time and leaves that one due,
    rather than failing whole and keeping every hold in the network reserved, and goes on
    past it when it fills a whole transaction's `limit`; once the lock goes, the next
    sweep releases it."""
    ledger = quick_ledger
    a = open_wallets(ledger, "ani", "budi", "toko", "warung")
    for wallet in ("ani", "budi"):
        ledger.post(transfer(f"fund-{wallet}", a["cash"], a[wallet], idr(100)))
    for hold, payer, payee in (("h-ani", "ani", "toko"), ("h-budi", "budi", "warung")):
        held = transfer(hold, a[payer], a[payee], idr(10), kind=EntryKind.PENDING, timeout_s=1)
        ledger.post(held)
    time.sleep(1.1)
    with held_by_another_session(pg_url, account.name, a["toko"].id):
        # One hold to a transaction: the locked one, the oldest, comes first every time,
        # and the sweep goes on past it.
        swept = answered_within(_ANSWER_S_MAX, lambda: ledger.expire_holds(limit=1))
        assert swept == 1
        assert ledger.account(a["budi"].id).available == idr(100)
        assert ledger.account(a["ani"].id).available == idr(90)
    assert ledger.expire_holds() == 1
    assert ledger.account(a["ani"].id).available == idr(100)
    assert ledger.verify().intact


def test_an_expiry_released_alone_waits_briefly_for_a_lock(pg_url: str) -> None:
    """After its batch waited out the session's lock timeout (here 3 s), a sweep waits at
    most `EXPIRY_ALONE_LOCK_WAIT_MS` for each hold on a locked account, not the timeout
    again: two such holds cost it well under two more timeouts."""
    ledger = Ledger(make_engine(pg_url, bounds=SessionBounds(3000)), seal_key=TEST_SEAL_KEY)
    try:
        a = open_wallets(ledger, "ani", "toko")
        ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
        for hold in ("h1", "h2"):
            held = transfer(hold, a["ani"], a["toko"], idr(10), kind=EntryKind.PENDING, timeout_s=1)
            ledger.post(held)
        time.sleep(1.1)
        with held_by_another_session(pg_url, account.name, a["toko"].id):
            started = time.monotonic()
            assert answered_within(_ANSWER_S_MAX, ledger.expire_holds) == 0
            elapsed_s = time.monotonic() - started
        assert 3.0 <= elapsed_s < 3.0 + 2 * EXPIRY_ALONE_LOCK_WAIT_MS / 1000 + 1.5
        assert ledger.expire_holds() == 2
    finally:
        ledger.close()
        ledger.engine.dispose()
