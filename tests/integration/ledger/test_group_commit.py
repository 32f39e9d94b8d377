"""Single posts from different callers that share one group-commit batch stay independent.

`Ledger.post` hands each request to a group committer, which runs every request queued at
that moment in one `post_batch`. To make two callers' requests share a batch on purpose,
these tests stall the only worker on a database lock while both callers queue, then let
it go. Whatever one caller sends must not change the outcome of the other's request.

Each docstring says how the defect it guards against failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from queue import SimpleQueue
from typing import Any

import pytest
from sqlalchemy import select

from ledger.db import make_engine
from ledger.entry import Entry, EntryKind, EntryOutcome, EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.service import Ledger
from ledger.tables import account
from tests.builders import BUSINESS_DATE, idr, open_wallets, transfer
from tests.conftest import TEST_SEAL_KEY

_WAIT_S_MAX = 10.0


@pytest.fixture
def one_worker_ledger(db_url: str) -> Iterator[Ledger]:
    engine = make_engine(db_url)
    service = Ledger(engine, seal_key=TEST_SEAL_KEY, group_commit_workers=1)
    yield service
    service.close()
    engine.dispose()


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _WAIT_S_MAX
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _has_size(queued: SimpleQueue[Any], size: int) -> bool:
    return queued.qsize() == size


@contextmanager
def _locked(ledger: Ledger, account_id: int) -> Iterator[None]:
    """Hold the account's row lock (on SQLite: the database's write lock) until exit."""
    with ledger.engine.connect() as conn, conn.begin() as transaction:
        conn.execute(select(account.c.id).where(account.c.id == account_id).with_for_update())
        yield
        transaction.rollback()


@contextmanager
def _worker_stalled(
    ledger: Ledger, stall: EntryRequest, stalled_account_id: int
) -> Iterator[SimpleQueue[Any]]:
    """Hold the only worker on `stall`, waiting for the lock of `stalled_account_id`, while
    the block queues what it posts; yield the committer's queue. The worker goes on, and
    the stalled post is answered, once the block ends."""
    queued = ledger._committer._queue
    with _locked(ledger, stalled_account_id):
        staller = threading.Thread(target=ledger.post, args=(stall,))
        staller.start()
        _wait_until(lambda: queued.qsize() == 0)
        time.sleep(0.2)  # The worker has drained the queue and now waits on the lock.
        yield queued
    staller.join(_WAIT_S_MAX)


def _post_in_one_batch(
    ledger: Ledger, stall: EntryRequest, stalled_account_id: int, *requests: EntryRequest
) -> list[Entry | LedgerError]:
    """Post `requests` from one thread each so that the committer batches them together."""
    results: list[Entry | LedgerError | None] = [None] * len(requests)

    def call(index: int) -> None:
        try:
            results[index] = ledger.post(requests[index])
        except LedgerError as error:
            results[index] = error

    with _worker_stalled(ledger, stall, stalled_account_id) as queued:
        callers = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
        for count, caller in enumerate(callers, start=1):
            caller.start()
            _wait_until(partial(_has_size, queued, count))
    for thread in callers:
        thread.join(_WAIT_S_MAX)
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def test_a_retry_sent_while_its_original_is_queued_waits_for_the_originals_answer(
    one_worker_ledger: Ledger,
) -> None:
    """Sent again while the first copy is still queued (as after `outcome_unknown`), the
    retry is not queued beside it (the queue keeps one unit): it gets that copy's answer,
    and the entry is recorded once. A second copy queued on its own could be refused
    (funds short at its turn) while the first was recorded later, its caller told
    "refused" for a recorded entry."""
    ledger = one_worker_ledger
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    pay = transfer("pay", a["ani"], a["budi"], idr(10))
    stall = transfer("stall", a["cash"], a["budi"], idr(1))
    results: list[Entry] = []
    with _worker_stalled(ledger, stall, a["cash"].id) as queued:
        callers = [
            threading.Thread(target=lambda: results.append(ledger.post(pay))) for _ in range(2)
        ]
        callers[0].start()
        _wait_until(partial(_has_size, queued, 1))
        callers[1].start()
        time.sleep(0.2)
        assert queued.qsize() == 1
    for thread in callers:
        thread.join(_WAIT_S_MAX)
    assert len(results) == 2 and results[0] == results[1]
    assert ledger.account(a["budi"].id).posted == idr(11)


def test_a_retry_through_post_linked_that_shares_a_batch_with_its_original_is_a_replay(
    one_worker_ledger: Ledger,
) -> None:
    """`post(r)` and `post_linked([r])` are keyed apart, so they can share a batch: the
    second is a replay of the first, not `entry_id_repeated_in_batch` (the planner's
    `seen_ids` once spanned callers)."""
    ledger = one_worker_ledger
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    pay = transfer("pay", a["ani"], a["budi"], idr(10))
    stall = transfer("stall", a["cash"], a["budi"], idr(1))
    posted: list[Entry] = []
    linked: list[list[EntryOutcome]] = []
    with _worker_stalled(ledger, stall, a["cash"].id) as queued:
        first = threading.Thread(target=lambda: posted.append(ledger.post(pay)))
        second = threading.Thread(target=lambda: linked.append(ledger.post_linked([pay])))
        first.start()
        _wait_until(partial(_has_size, queued, 1))
        second.start()
        _wait_until(partial(_has_size, queued, 2))
    for thread in (first, second):
        thread.join(_WAIT_S_MAX)
    (outcome,) = linked[0]
    assert outcome.ok and outcome.replayed and outcome.entry == posted[0], outcome
    assert ledger.account(a["budi"].id).posted == idr(11)


def test_another_callers_failing_linked_entry_does_not_fail_mine(
    one_worker_ledger: Ledger,
) -> None:
    """`Ledger.post` kept `linked=True` on a lone request, which then linked to whichever
    caller's request followed it in the batch; that request was refused with
    `linked_entry_failed` (ledger/service.py `post`; ledger/planner.py `_plan_in_group`)."""
    ledger = one_worker_ledger
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    theirs = transfer("theirs", a["budi"], a["ani"], idr(1), linked=True)
    mine = transfer("mine", a["ani"], a["budi"], idr(10))
    stall = transfer("stall", a["cash"], a["ani"], idr(1))
    _, my_result = _post_in_one_batch(ledger, stall, a["cash"].id, theirs, mine)
    assert isinstance(my_result, Entry), my_result
    assert ledger.account(a["budi"].id).posted == idr(10)


def test_another_callers_refused_capture_does_not_stop_mine(one_worker_ledger: Ledger) -> None:
    """A capture refused for `pending_amount_exceeded` left the hold marked as posted for
    the rest of the batch, so a correct capture from another caller got
    `pending_already_posted` (ledger/planner.py `_check_resolution` marked it before
    `resolution_legs`, now in ledger/leg_effects.py, and `_apply` could still refuse)."""
    ledger = one_worker_ledger
    a = open_wallets(ledger, "ani", "toko")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(
        transfer("hold", a["ani"], a["toko"], idr(50), kind=EntryKind.PENDING, timeout_s=600)
    )

    def capture(entry_id: str, rupiah: int) -> EntryRequest:
        legs = (Leg(a["ani"].id, -idr(rupiah)), Leg(a["toko"].id, idr(rupiah)))
        return EntryRequest(entry_id, BUSINESS_DATE, legs, EntryKind.POST_PENDING, "hold")

    stall = transfer("stall", a["cash"], a["ani"], idr(1))
    theirs, mine = _post_in_one_batch(
        ledger, stall, a["cash"].id, capture("too-much", 51), capture("right", 50)
    )
    assert isinstance(theirs, LedgerError) and theirs.code is Code.PENDING_AMOUNT_EXCEEDED
    assert isinstance(mine, Entry), mine
    assert ledger.account(a["toko"].id).posted == idr(50)


def test_a_post_unanswered_within_its_wait_is_outcome_unknown_and_sent_again_is_recorded_once(
    db_url: str,
) -> None:
    """The caller stops waiting, not the committer: its request stays queued and is
    recorded once the lock goes, and the same request sent again returns that entry."""
    engine = make_engine(db_url)
    ledger = Ledger(engine, seal_key=TEST_SEAL_KEY, answer_wait_s=0.3)
    try:
        a = open_wallets(ledger, "ani")
        late = transfer("late", a["cash"], a["ani"], idr(7))
        linked = [transfer("linked", a["cash"], a["ani"], idr(3))]
        with _locked(ledger, a["cash"].id):
            with pytest.raises(LedgerError) as waited:
                ledger.post(late)
            assert waited.value.code is Code.OUTCOME_UNKNOWN
            with pytest.raises(LedgerError) as waited_linked:
                ledger.post_linked(linked)
            assert waited_linked.value.code is Code.OUTCOME_UNKNOWN
        recorded = ledger.post(late)
        (linked_outcome,) = ledger.post_linked(linked)
        assert (recorded.entry_id, linked_outcome.ok) == ("late", True)
        assert ledger.entry("late") == recorded
        assert ledger.account(a["ani"].id).posted == idr(10)
    finally:
        ledger.close()
        engine.dispose()


def test_a_post_after_close_is_refused_at_once_as_service_closed_and_never_recorded(
    db_url: str,
) -> None:
    """Nothing handles a request queued after `close`: it is refused at once, with a
    definite `service_closed`, not `outcome_unknown` after the whole answer wait."""
    engine = make_engine(db_url)
    ledger = Ledger(engine, seal_key=TEST_SEAL_KEY, answer_wait_s=30)
    try:
        a = open_wallets(ledger, "ani")
        ledger.close()
        started = time.monotonic()
        with pytest.raises(LedgerError) as refused:
            ledger.post(transfer("late", a["cash"], a["ani"], idr(7)))
        with pytest.raises(LedgerError) as refused_linked:
            ledger.post_linked([transfer("linked", a["cash"], a["ani"], idr(3))])
        assert time.monotonic() - started < 5
        assert (refused.value.code, refused_linked.value.code) == (Code.SERVICE_CLOSED,) * 2
        for entry_id in ("late", "linked"):
            with pytest.raises(LedgerError) as missing:
                ledger.entry(entry_id)
            assert missing.value.code is Code.ENTRY_NOT_FOUND
    finally:
        ledger.close()
        engine.dispose()


@pytest.mark.parametrize("entry_id", [["x"], {"x": 1}])
def test_an_entry_id_that_is_not_text_is_refused_by_post_and_post_linked(
    ledger: Ledger, entry_id: object
) -> None:
    """Posts are keyed by their ids in the committer: an id that cannot be a key (a list,
    a dict) raised TypeError there, before the request's checks refuse it."""
    a = open_wallets(ledger, "ani")
    request = replace(transfer("x", a["cash"], a["ani"], idr(1)), entry_id=entry_id)  # type: ignore[arg-type]
    with pytest.raises(LedgerError) as refused:
        ledger.post(request)
    assert refused.value.code is Code.ENTRY_ID_INVALID
    (outcome,) = ledger.post_linked([request])
    assert outcome.code == Code.ENTRY_ID_INVALID
