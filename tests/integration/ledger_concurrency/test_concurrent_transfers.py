"""Many threads posting transfers at once, on random wallets and on one hot merchant.

Each transfer is posted once; balances equal the opening balances plus the accepted
transfers; a sealer running alongside the writers leaves an intact chain; no deadlock or
serialization failure reaches a caller.
"""

from __future__ import annotations

import random
import threading

import pytest

from ledger.entry import EntryRequest
from ledger.errors import LedgerErrorCode
from ledger.service import Ledger
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

pytestmark = pytest.mark.postgres

CALLERS = 16
WALLETS = 40
FUNDING_MINOR = 40_000
AMOUNT_MINOR_MAX = 400
ALLOWED = frozenset({LedgerErrorCode.INSUFFICIENT_FUNDS})


def _plans(book: Book, transfers: int, hot_share: float, seed: int) -> list[list[EntryRequest]]:
    rng = random.Random(seed)
    wallets = book.wallet_ids

    def one(caller: int, n: int) -> EntryRequest:
        debit, credit = rng.sample(wallets, 2)
        if rng.random() < hot_share:
            credit = book.merchant.id
        amount = rng.randint(1, AMOUNT_MINOR_MAX)
        return transfer_minor(f"t-{caller}-{n}", debit, credit, amount)

    return [[one(c, n) for n in range(transfers)] for c in range(CALLERS)]


class _Sealer:
    """Seals in a loop while the writers run, so sealing races commits."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self.rounds = 0
        self._thread = threading.Thread(target=self._run, name="sealer")

    def __enter__(self) -> _Sealer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self._ledger.seal()
            except Exception as error:
                self.errors.append(error)
                return
            self.rounds += 1


@pytest.mark.parametrize(
    ("hot_share", "transfers"),
    [pytest.param(0.0, 120, id="random-wallets"), pytest.param(1.0, 100, id="hot-merchant")],
)
def test_sixteen_writers_post_every_transfer_once_and_balances_add_up(
    pg_ledger: Ledger, hot_share: float, transfers: int
) -> None:
    book = open_book(pg_ledger, [FUNDING_MINOR] * WALLETS)
    plans = _plans(book, transfers, hot_share, seed=CALLERS + transfers)
    with _Sealer(pg_ledger) as sealer:
        tallies = run_together(CALLERS, lambda c: post_each(pg_ledger, plans[c], ALLOWED))
    tally = Tally().merge(tallies)
    assert not tally.unexpected
    assert not sealer.errors
    assert sealer.rounds > 0
    assert len(tally.seqs) + sum(tally.refused.values()) == CALLERS * transfers
    assert all(len(seqs) == 1 for seqs in tally.seqs.values())
    assert len({seq for seqs in tally.seqs.values() for seq in seqs}) == len(tally.seqs)
    assert_ledger_matches(
        pg_ledger,
        expected_posted=expected_balances(book.opening, tally.effects.values()),
        recorded_ids=[*book.funding_ids, *tally.seqs],
    )
