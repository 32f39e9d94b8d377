"""The same entry ids retried at the same time from several callers.

Each id is recorded exactly once; every caller that sees it accepted sees the same seq;
retries are never refused (a replay of the same request returns the original entry).
"""

from __future__ import annotations

import random

import pytest

from ledger.entry import EntryRequest
from ledger.errors import LedgerErrorCode
from ledger.service import Ledger
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger_concurrency.harness import (
    Book,
    Tally,
    assert_ledger_matches,
    expected_balances,
    open_book,
    post_batches,
    post_each,
    run_together,
    transfer_minor,
)

pytestmark = pytest.mark.postgres

WALLETS = 20
IDS = 150
FUNDING_MINOR = 10_000
# At most IDS * AMOUNT_MINOR_MAX leaves a wallet: never more than it holds.
AMOUNT_MINOR_MAX = 50
NOTHING: frozenset[LedgerErrorCode] = frozenset()


def _requests(book: Book) -> list[EntryRequest]:
    rng = random.Random(IDS)
    requests = []
    for n in range(IDS):
        debit, credit = rng.sample(book.wallet_ids, 2)
        requests.append(transfer_minor(f"r-{n}", debit, credit, rng.randint(1, AMOUNT_MINOR_MAX)))
    return requests


def _shuffled(requests: list[EntryRequest], seed: int) -> list[EntryRequest]:
    return random.Random(seed).sample(requests, len(requests))


def _assert_recorded_once(
    ledger: Ledger, book: Book, requests: list[EntryRequest], tally: Tally
) -> None:
    assert not tally.unexpected, tally.unexpected[:5]
    assert set(tally.seqs) == {r.entry_id for r in requests}
    assert all(len(seqs) == 1 for seqs in tally.seqs.values()), "a replay got another seq"
    assert_ledger_matches(
        ledger,
        expected_posted=expected_balances(book.opening, tally.effects.values()),
        recorded_ids=[*book.funding_ids, *tally.seqs],
    )


def test_same_ids_posted_from_threads_of_one_ledger_are_recorded_once(pg_ledger: Ledger) -> None:
    """Retries from threads of one service share group commits: a request whose id came
    earlier in the same batch replays it (it was refused as a repeat before c50232a)."""
    book = open_book(pg_ledger, [FUNDING_MINOR] * WALLETS)
    requests = _requests(book)
    tallies = run_together(8, lambda t: post_each(pg_ledger, _shuffled(requests, t), NOTHING))
    _assert_recorded_once(pg_ledger, book, requests, Tally().merge(tallies))


def test_same_ids_in_concurrent_batches_are_recorded_once(pg_ledger: Ledger) -> None:
    book = open_book(pg_ledger, [FUNDING_MINOR] * WALLETS)
    requests = _requests(book)

    def retry_in_batches(thread: int) -> Tally:
        order = _shuffled(requests, thread)
        return post_batches(pg_ledger, [order[i : i + 25] for i in range(0, IDS, 25)], NOTHING)

    _assert_recorded_once(
        pg_ledger, book, requests, Tally().merge(run_together(6, retry_in_batches))
    )


def test_same_ids_posted_through_separate_ledgers_are_recorded_once(pg_ledger: Ledger) -> None:
    """Four service instances (as in four processes), two caller threads each, every
    instance posting every id: its two threads split the ids between them."""
    book = open_book(pg_ledger, [FUNDING_MINOR] * WALLETS)
    requests = _requests(book)
    ledgers = [Ledger(pg_ledger.engine, seal_key=TEST_SEAL_KEY) for _ in range(4)]
    try:

        def retry(thread: int) -> Tally:
            instance, half = divmod(thread, 2)
            mine = _shuffled(requests, instance)[half::2]
            return post_each(ledgers[instance], mine, NOTHING)

        tallies = run_together(8, retry)
    finally:
        for ledger in ledgers:
            ledger.close()
    _assert_recorded_once(pg_ledger, book, requests, Tally().merge(tallies))


def test_same_ids_with_different_legs_racing_record_one_winner_each(pg_ledger: Ledger) -> None:
    """Each caller uses the shared ids for its own pair of wallets: the requests conflict,
    lock different rows, and race on the unique entry id; the loser must see a conflict,
    never a database error or exhausted retries."""
    book = open_book(pg_ledger, [FUNDING_MINOR] * WALLETS)
    wallets = book.wallet_ids
    callers = WALLETS // 2
    plans = [
        [
            transfer_minor(f"c-{n}", wallets[2 * c], wallets[2 * c + 1], 1 + n % AMOUNT_MINOR_MAX)
            for n in random.Random(c).sample(range(IDS), IDS)
        ]
        for c in range(callers)
    ]
    conflict = frozenset({LedgerErrorCode.EXISTS_WITH_DIFFERENT_LEGS})
    tally = Tally().merge(run_together(callers, lambda c: post_each(pg_ledger, plans[c], conflict)))
    assert not tally.unexpected, tally.unexpected[:5]
    assert len(tally.seqs) == IDS and all(len(seqs) == 1 for seqs in tally.seqs.values())
    assert tally.refused == {"exists_with_different_legs": (callers - 1) * IDS}
    assert_ledger_matches(
        pg_ledger,
        expected_posted=expected_balances(book.opening, tally.effects.values()),
        recorded_ids=[*book.funding_ids, *tally.seqs],
    )
