"""Writers in separate processes, each with its own engine and `Ledger`, on one database.

Nothing is shared between the processes but PostgreSQL: row locks alone must keep every
transfer recorded once, the scarce wallet within its funds, and the books balanced.
"""

from __future__ import annotations

import random

import pytest

from ledger.db import make_engine
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
    post_each,
    run_together,
    transfer_minor,
)
from tests.processes import run_in_processes, wait_for_the_others

pytestmark = pytest.mark.postgres

PROCESSES = 3
THREADS = 4
TRANSFERS = 50
SCARCE_TRIES = 3
SCARCE_DEBIT_MINOR = 100
SCARCE_FUNDING_MINOR = 1000
WALLETS = 30
FUNDING_MINOR = 20_000
ALLOWED = frozenset({LedgerErrorCode.INSUFFICIENT_FUNDS})
_RESULT_WAIT_S = 120.0


def _write(url: str, plans: list[list[EntryRequest]]) -> Tally:
    """In a worker process: build an engine and a ledger, wait for the others, post."""
    engine = make_engine(url, pool_size=THREADS + 2)
    ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
    try:
        wait_for_the_others(_RESULT_WAIT_S)
        return Tally().merge(run_together(THREADS, lambda t: post_each(ledger, plans[t], ALLOWED)))
    finally:
        ledger.close()
        engine.dispose()


def _plans(book: Book, scarce_id: int) -> list[list[list[EntryRequest]]]:
    """Per process, per thread: random and hot transfers, and a few debits of the scarce
    wallet, which can pay for only some of them."""
    rng = random.Random(PROCESSES)
    wallets = [w for w in book.wallet_ids if w != scarce_id]
    plans = []
    for p in range(PROCESSES):
        per_thread = []
        for t in range(THREADS):
            requests = []
            for n in range(TRANSFERS):
                debit, credit = rng.sample(wallets, 2)
                credit = book.merchant.id if n % 2 else credit
                requests.append(
                    transfer_minor(f"mp-{p}-{t}-{n}", debit, credit, rng.randint(1, 500))
                )
            requests += [
                transfer_minor(
                    f"scarce-{p}-{t}-{n}", scarce_id, book.merchant.id, SCARCE_DEBIT_MINOR
                )
                for n in range(SCARCE_TRIES)
            ]
            per_thread.append(rng.sample(requests, len(requests)))
        plans.append(per_thread)
    return plans


def test_writers_in_separate_processes_record_each_transfer_once(
    pg_ledger: Ledger, pg_url: str
) -> None:
    book = open_book(pg_ledger, [FUNDING_MINOR] * WALLETS + [SCARCE_FUNDING_MINOR])
    scarce_id = book.wallets[-1].id
    plans = _plans(book, scarce_id)
    results = run_in_processes(_write, [(pg_url, plan) for plan in plans], _RESULT_WAIT_S)
    tally = Tally().merge(results)
    assert not tally.unexpected
    attempts = PROCESSES * THREADS * (TRANSFERS + SCARCE_TRIES)
    assert len(tally.seqs) + sum(tally.refused.values()) == attempts
    scarce = [entry_id for entry_id in tally.seqs if entry_id.startswith("scarce-")]
    assert len(scarce) == SCARCE_FUNDING_MINOR // SCARCE_DEBIT_MINOR
    assert all(len(seqs) == 1 for seqs in tally.seqs.values())
    assert_ledger_matches(
        pg_ledger,
        expected_posted=expected_balances(book.opening, tally.effects.values()),
        recorded_ids=[*book.funding_ids, *tally.seqs],
    )
