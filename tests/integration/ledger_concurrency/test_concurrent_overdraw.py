"""Debits that together would overdraw a wallet, racing each other.

Per wallet exactly as many debits succeed as its funds allow (the rest are refused with
`insufficient_funds`), and no wallet is ever seen below its lower limit, by a reader
watching while the race runs or by the audit afterwards.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from ledger.account import AccountKind
from ledger.entry import EntryRequest
from ledger.errors import LedgerErrorCode
from ledger.service import Ledger
from ledger.tables import account
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

CALLERS = 16
FUNDING_MINOR = 1000
# One debit amount per wallet; 16 debits of the smallest fit, one of the largest.
DEBIT_MINOR = (40, 70, 130, 250, 333, 501, 999, 1000)
ALLOWED = frozenset({LedgerErrorCode.INSUFFICIENT_FUNDS})


def _plans(book: Book) -> list[list[EntryRequest]]:
    """Each caller debits every wallet once, towards the merchant, in its own order."""
    plans = []
    for caller in range(CALLERS):
        requests = [
            transfer_minor(f"od-{caller}-{wallet.id}", wallet.id, book.merchant.id, amount)
            for wallet, amount in zip(book.wallets, DEBIT_MINOR, strict=True)
        ]
        plans.append(random.Random(caller).sample(requests, len(requests)))
    return plans


class _Watcher:
    """Reads the lowest available wallet balance over and over while the race runs."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._stop = threading.Event()
        self.lowest: list[int] = []
        self._thread = threading.Thread(target=self._run, name="watcher")

    def __enter__(self) -> _Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        query = select(func.min(account.c.posted_minor - account.c.pending_debit_minor)).where(
            account.c.kind == AccountKind.MEMBER_WALLET.value
        )
        while not self._stop.is_set():
            with self._ledger.engine.connect() as conn:
                self.lowest.append(conn.execute(query).scalar_one())


@pytest.mark.parametrize("path", ["post", "post_batch"])
def test_racing_debits_succeed_exactly_as_often_as_funds_allow(
    pg_ledger: Ledger, path: str
) -> None:
    book = open_book(pg_ledger, [FUNDING_MINOR] * len(DEBIT_MINOR))
    plans = _plans(book)

    def debit(caller: int) -> Tally:
        if path == "post":
            return post_each(pg_ledger, plans[caller], ALLOWED)
        half = len(plans[caller]) // 2
        return post_batches(pg_ledger, [plans[caller][:half], plans[caller][half:]], ALLOWED)

    with _Watcher(pg_ledger) as watcher:
        tally = Tally().merge(run_together(CALLERS, debit))
    assert not tally.unexpected
    successes = Counter(int(entry_id.rsplit("-", 1)[1]) for entry_id in tally.seqs)
    allowed = {
        w.id: min(CALLERS, FUNDING_MINOR // a)
        for w, a in zip(book.wallets, DEBIT_MINOR, strict=True)
    }
    assert successes == allowed
    assert tally.refused == {"insufficient_funds": CALLERS * len(DEBIT_MINOR) - len(tally.seqs)}
    assert watcher.lowest and min(watcher.lowest) >= 0
    assert_ledger_matches(
        pg_ledger,
        expected_posted=expected_balances(book.opening, tally.effects.values()),
        recorded_ids=[*book.funding_ids, *tally.seqs],
    )
