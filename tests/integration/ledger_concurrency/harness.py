"""Helpers for the concurrency tests: release callers together (on one ledger service, or on
several sharing an engine), tally what they saw, and check the ledger afterwards against a
model computed from the accepted requests only.

The model never reads the ledger's own arithmetic: expected balances are the opening
balances plus the legs of every request a caller saw accepted (each id counted once).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import func, select

from ledger.account import Account, AccountKind, AccountSpec
from ledger.db import make_engine
from ledger.entry import EntryRequest, Leg
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.money import Money
from ledger.service import Ledger
from ledger.tables import account, entry
from tests.builders import BUSINESS_DATE
from tests.conftest import TEST_SEAL_KEY

__all__ = [
    "Book",
    "Effect",
    "Tally",
    "assert_ledger_matches",
    "effect_of",
    "expected_balances",
    "ledgers_sharing",
    "open_book",
    "post_batches",
    "post_each",
    "run_each_together",
    "run_together",
    "transfer_minor",
]

T = TypeVar("T")

# What an accepted entry did to posted balances: (account_id, amount_minor) per leg.
Effect = tuple[tuple[int, int], ...]

_START_TIMEOUT_S = 60.0


def run_together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(0..count-1)` on `count` threads released at once; re-raise any exception."""
    assert count >= 1
    barrier = threading.Barrier(count)

    def start(index: int) -> T:
        barrier.wait(timeout=_START_TIMEOUT_S)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def run_each_together(works: Sequence[Callable[[], T]]) -> list[T]:
    """Run each of `works` on its own thread, released at once; re-raise any exception."""
    return run_together(len(works), lambda index: works[index]())


@contextmanager
def ledgers_sharing(pg_url: str, count: int) -> Iterator[list[Ledger]]:
    """`count` ledger services (each with its own committer) over one engine."""
    engine = make_engine(pg_url, pool_size=4 * count)
    services = [Ledger(engine, seal_key=TEST_SEAL_KEY) for _ in range(count)]
    try:
        yield services
    finally:
        for service in services:
            service.close()
        engine.dispose()


@dataclass(slots=True)
class Tally:
    """What callers saw: accepted ids with their seqs and effects, refusals by code, and
    anything they must never see (an unexpected code)."""

    seqs: dict[str, set[int]] = field(default_factory=dict)
    effects: dict[str, Effect] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def accept(self, entry_id: str, seq: int, effect: Effect) -> None:
        """Record that `entry_id` was accepted with `seq` and posted `effect`."""
        self.seqs.setdefault(entry_id, set()).add(seq)
        self.effects[entry_id] = effect

    def refuse(self, error: LedgerError, allowed: frozenset[LedgerErrorCode]) -> None:
        """Count an allowed refusal; keep any other as unexpected."""
        if error.code in allowed:
            self.refused[error.code.value] += 1
        else:
            self.unexpected.append(f"{error.code.value}: {error.message}")

    def merge(self, others: Iterable[Tally]) -> Tally:
        """Fold other tallies into this one and return it."""
        for other in others:
            for entry_id, seqs in other.seqs.items():
                self.seqs.setdefault(entry_id, set()).update(seqs)
            self.effects.update(other.effects)
            self.refused.update(other.refused)
            self.unexpected.extend(other.unexpected)
        return self


def effect_of(request: EntryRequest) -> Effect:
    """The posted effect of a request whose legs are posted as given."""
    return tuple((leg.account_id, leg.amount.amount_minor) for leg in request.legs)


def post_each(
    ledger: Ledger,
    requests: Sequence[EntryRequest],
    allowed: frozenset[LedgerErrorCode],
    effect: Callable[[EntryRequest], Effect] = effect_of,
) -> Tally:
    """Post `requests` one by one through `Ledger.post`, tallying every outcome."""
    tally = Tally()
    for request in requests:
        try:
            recorded = ledger.post(request)
        except LedgerError as error:
            tally.refuse(error, allowed)
            continue
        tally.accept(request.entry_id, recorded.seq, effect(request))
    return tally


def post_batches(
    ledger: Ledger,
    batches: Sequence[Sequence[EntryRequest]],
    allowed: frozenset[LedgerErrorCode],
    effect: Callable[[EntryRequest], Effect] = effect_of,
) -> Tally:
    """Post each batch through `Ledger.post_batch`, tallying every request's outcome."""
    tally = Tally()
    for batch in batches:
        for request, outcome in zip(batch, ledger.post_batch(batch), strict=True):
            if outcome.entry is not None:
                tally.accept(request.entry_id, outcome.entry.seq, effect(request))
            else:
                assert outcome.code is not None
                code = LedgerErrorCode(outcome.code)
                tally.refuse(LedgerError(code, outcome.message or code.value), allowed)
    return tally


def transfer_minor(entry_id: str, debit_id: int, credit_id: int, amount_minor: int) -> EntryRequest:
    """A posted IDR transfer of `amount_minor` from `debit_id` to `credit_id`."""
    amount = Money(amount_minor, "IDR")
    return EntryRequest(entry_id, BUSINESS_DATE, (Leg(debit_id, -amount), Leg(credit_id, amount)))


@dataclass(frozen=True, slots=True)
class Book:
    """A funding cash account, a merchant wallet, member wallets and their opening balances."""

    cash: Account
    merchant: Account
    wallets: tuple[Account, ...]
    opening: Mapping[int, int]
    funding_ids: frozenset[str]

    @property
    def wallet_ids(self) -> list[int]:
        """The member wallets' ids, in opening order."""
        return [w.id for w in self.wallets]


def open_book(ledger: Ledger, funding_minor: Sequence[int], *, coop_id: int = 1) -> Book:
    """Open a cash account, a merchant and one wallet per funding amount; fund them."""
    cash = ledger.open_account(
        AccountSpec(f"c{coop_id}:cash", coop_id, "IDR", AccountKind.COOP_CASH, None)
    )
    merchant = ledger.open_account(
        AccountSpec(f"c{coop_id}:merchant", coop_id, "IDR", AccountKind.MERCHANT_WALLET)
    )
    wallets = tuple(
        ledger.open_account(
            AccountSpec(f"c{coop_id}:w{n}", coop_id, "IDR", AccountKind.MEMBER_WALLET)
        )
        for n in range(len(funding_minor))
    )
    funding = [
        transfer_minor(f"fund-{coop_id}-{w.id}", cash.id, w.id, minor)
        for w, minor in zip(wallets, funding_minor, strict=True)
        if minor > 0
    ]
    if funding:
        assert all(o.ok for o in ledger.post_batch(funding))
    opening = {w.id: minor for w, minor in zip(wallets, funding_minor, strict=True)}
    opening[cash.id] = -sum(funding_minor)
    return Book(cash, merchant, wallets, opening, frozenset(r.entry_id for r in funding))


def expected_balances(opening: Mapping[int, int], effects: Iterable[Effect]) -> dict[int, int]:
    """Opening balances plus every accepted effect."""
    balances = dict(opening)
    for effect in effects:
        for account_id, amount_minor in effect:
            balances[account_id] = balances.get(account_id, 0) + amount_minor
    return balances


def assert_ledger_matches(
    ledger: Ledger,
    *,
    expected_posted: Mapping[int, int],
    recorded_ids: Iterable[str],
    extra_entries: int = 0,
) -> None:
    """Seal and audit; then compare balances, limits and recorded entries with the model.

    `recorded_ids` are the ids callers saw accepted (funding included); `extra_entries`
    counts entries recorded under ids the test did not choose (hold expiries).
    """
    ids = set(recorded_ids)
    ledger.seal()
    report = ledger.verify()
    assert report.intact, report.findings[:5]
    assert report.unsealed_entries == 0
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(account)).all()
        recorded = conn.execute(select(func.count()).select_from(entry)).scalar_one()
        chosen = set(
            conn.execute(select(entry.c.entry_id).where(entry.c.entry_id.in_(ids))).scalars()
        )
    assert recorded == len(ids) + extra_entries, "an entry was recorded twice, or not at all"
    assert chosen == ids
    totals: Counter[str] = Counter()
    for row in rows:
        totals[row.currency] += row.posted_minor
        assert row.posted_minor == expected_posted.get(row.id, 0), f"account {row.ref}"
        if row.min_balance_minor is not None:
            assert row.posted_minor - row.pending_debit_minor >= row.min_balance_minor
    assert all(total == 0 for total in totals.values()), totals
