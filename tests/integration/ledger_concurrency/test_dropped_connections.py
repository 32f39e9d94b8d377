"""A connection dropped in the middle of a write, or just after its COMMIT landed, and a
writer killed while it holds its accounts' locks (PostgreSQL): nothing is half-written,
the caller still gets what was recorded (the ledger starts the transaction again on a
fresh connection, and finds a landed COMMIT's entries as replays), and a retry of the same
ids posts nothing twice."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import Connection

from ledger import service as ledger_service
from ledger.db import commit_with, driver, make_engine
from ledger.entry import EntryOutcome, EntryRequest
from ledger.service import Ledger
from tests.conftest import TEST_SEAL_KEY
from tests.faults import stall_next_entry_insert
from tests.integration.ledger_concurrency.harness import (
    Book,
    assert_ledger_matches,
    expected_balances,
    open_book,
    transfer_minor,
)
from tests.races import terminate_a_session_waiting, wait_until_a_session_waits_on

pytestmark = pytest.mark.postgres

_STALL_S = 30.0  # ended early: the tests terminate the stalled session
# A dead client's session finishes its stall on its own (then runs the COMMIT queued
# behind it): long enough for the test to kill the writer while it stalls.
_KILLED_WRITER_STALL_S = 3.0
_JOIN_TIMEOUT_S = 60.0
_FUNDING_MINOR = 10_000


def _transfers(book: Book, prefix: str) -> list[EntryRequest]:
    wallets = book.wallets
    return [
        transfer_minor(f"{prefix}-{n}", wallets[n].id, wallets[n + 1].id, 100 + n)
        for n in range(len(wallets) - 1)
    ]


def _post_one_by_one(ledger: Ledger) -> Callable[[list[EntryRequest]], list[EntryOutcome]]:
    """Each request through `Ledger.post` (the group committer), on threads of its own."""

    def post(requests: list[EntryRequest]) -> list[EntryOutcome]:
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            entries = list(pool.map(ledger.post, requests))
        return [EntryOutcome(e.entry_id, e) for e in entries]

    return post


def _calls(ledger: Ledger) -> dict[str, Callable[[list[EntryRequest]], list[EntryOutcome]]]:
    return {"post_batch": ledger.post_batch, "post": _post_one_by_one(ledger)}


def _assert_recorded_once(ledger: Ledger, book: Book, requests: list[EntryRequest]) -> None:
    effects = [tuple((leg.account_id, leg.amount.amount_minor) for leg in r.legs) for r in requests]
    assert_ledger_matches(
        ledger,
        expected_posted=expected_balances(book.opening, effects),
        recorded_ids=book.funding_ids | {r.entry_id for r in requests},
    )


@pytest.mark.parametrize("call", ["post_batch", "post"])
def test_a_write_whose_connection_drops_while_it_holds_the_locks_is_recorded_once(
    pg_ledger: Ledger, call: str
) -> None:
    book = open_book(pg_ledger, [_FUNDING_MINOR] * 5)
    requests = _transfers(book, call)
    stall_next_entry_insert(pg_ledger.engine, _STALL_S)
    with ThreadPoolExecutor(max_workers=1) as caller:
        posting = caller.submit(_calls(pg_ledger)[call], requests)
        terminate_a_session_waiting(pg_ledger.engine, "PgSleep")
        outcomes = posting.result(timeout=_JOIN_TIMEOUT_S)

    assert [(o.entry_id, o.ok) for o in outcomes] == [(r.entry_id, True) for r in requests]
    again = pg_ledger.post_batch(requests)
    assert all(o.replayed for o in again)
    assert [o.entry for o in again] == [o.entry for o in outcomes]
    _assert_recorded_once(pg_ledger, book, requests)


def test_a_write_whose_connection_drops_while_it_waits_for_a_lock_is_recorded_once(
    pg_ledger: Ledger,
) -> None:
    book = open_book(pg_ledger, [_FUNDING_MINOR] * 5)
    first, second = _transfers(book, "first"), _transfers(book, "second")
    stall_next_entry_insert(pg_ledger.engine, _STALL_S)
    with ThreadPoolExecutor(max_workers=2) as callers:
        holding = callers.submit(pg_ledger.post_batch, first)
        wait_until_a_session_waits_on(pg_ledger.engine, "PgSleep")
        waiting = callers.submit(pg_ledger.post_batch, second)
        # The second batch waits for the first's row locks (on its transaction id); then
        # the first's connection goes too, ending its stall. Both start again.
        terminate_a_session_waiting(pg_ledger.engine, "transactionid")
        terminate_a_session_waiting(pg_ledger.engine, "PgSleep")
        assert all(o.ok and not o.replayed for o in holding.result(timeout=_JOIN_TIMEOUT_S))
        assert all(o.ok and not o.replayed for o in waiting.result(timeout=_JOIN_TIMEOUT_S))
    _assert_recorded_once(pg_ledger, book, first + second)


def test_a_write_whose_answer_is_lost_after_its_commit_is_replayed_not_posted_twice(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The COMMIT lands, then the connection goes before the ledger hears of it: the
    ledger starts again, finds the entries recorded and returns them as replays."""
    book = open_book(pg_ledger, [_FUNDING_MINOR] * 5)
    requests = _transfers(book, "lost")
    lost: list[int] = []

    def commit_then_lose_the_answer(conn: Connection, writes: Callable[[], None]) -> None:
        commit_with(conn, writes)
        if not lost:
            lost.append(driver(conn).info.backend_pid)
            driver(conn).close()
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(ledger_service, "commit_with", commit_then_lose_the_answer)
    outcomes = pg_ledger.post_batch(requests)

    assert lost, "the answer was lost once"
    assert [(o.entry_id, o.ok, o.replayed) for o in outcomes] == [
        (r.entry_id, True, True) for r in requests
    ]
    _assert_recorded_once(pg_ledger, book, requests)


def _post_and_die(url: str, requests: list[EntryRequest]) -> None:
    """In a spawned process: post `requests` in one batch (which stalls in the server)."""
    engine = make_engine(url, pool_size=2)
    Ledger(engine, seal_key=TEST_SEAL_KEY).post_batch(requests)


def test_a_writer_killed_while_it_holds_the_locks_leaves_no_half_entry_and_a_retry_posts_once(
    pg_ledger: Ledger, pg_url: str
) -> None:
    book = open_book(pg_ledger, [_FUNDING_MINOR] * 5)
    requests = _transfers(book, "killed")
    stall_next_entry_insert(pg_ledger.engine, _KILLED_WRITER_STALL_S)
    writer = multiprocessing.get_context("spawn").Process(
        target=_post_and_die, args=(pg_url, requests)
    )
    writer.start()
    try:
        wait_until_a_session_waits_on(pg_ledger.engine, "PgSleep")
        writer.kill()
    finally:
        writer.join(_JOIN_TIMEOUT_S)
    assert writer.exitcode is not None and writer.exitcode < 0, "the writer was killed"

    # The dead writer's session may still have committed what it had sent (its COMMIT was
    # queued behind the stalled insert): the retry then replays it. Either way, once.
    outcomes = pg_ledger.post_batch(requests)
    assert [(o.entry_id, o.ok) for o in outcomes] == [(r.entry_id, True) for r in requests]
    assert len({o.replayed for o in outcomes}) == 1, "the batch landed whole or not at all"
    _assert_recorded_once(pg_ledger, book, requests)
