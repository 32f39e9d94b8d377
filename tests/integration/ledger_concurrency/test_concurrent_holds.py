"""Holds racing for scarce funds, then captures and voids racing for each hold, then hold
expiry sweepers racing late captures.

A hold is placed only while the wallet's available balance covers it; each hold is
resolved exactly once (by whichever contender commits first); an expired hold is expired
once however many sweepers run; nothing stays reserved once every hold is resolved.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import select

from ledger.entry import EntryKind, EntryRequest, Leg
from ledger.errors import LedgerErrorCode
from ledger.money import Money
from ledger.service import Ledger
from ledger.tables import account
from tests.builders import BUSINESS_DATE
from tests.integration.ledger_concurrency.harness import (
    Book,
    Effect,
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

WALLETS = 12
FUNDING_MINOR = 1000
HOLD_MINOR = 300
PARTIAL_MINOR = 100
HOLDERS = 8
_CODE = LedgerErrorCode


def _hold(
    entry_id: str, debit_id: int, credit_id: int, amount_minor: int, timeout_s: int
) -> EntryRequest:
    request = transfer_minor(entry_id, debit_id, credit_id, amount_minor)
    return replace(request, kind=EntryKind.PENDING, timeout_s=timeout_s)


def _resolution(entry_id: str, kind: EntryKind, hold_id: str) -> EntryRequest:
    return EntryRequest(entry_id, BUSINESS_DATE, kind=kind, target_id=hold_id)


def _place_holds(ledger: Ledger, book: Book) -> Tally:
    """Every holder tries one hold on every wallet, in its own order."""
    plans = []
    for holder in range(HOLDERS):
        wallets = random.Random(holder).sample(book.wallet_ids, len(book.wallet_ids))
        plans.append(
            [_hold(f"hold-{holder}-{w}", w, book.merchant.id, HOLD_MINOR, 3600) for w in wallets]
        )
    tallies = run_together(
        HOLDERS, lambda h: post_each(ledger, plans[h], frozenset({_CODE.INSUFFICIENT_FUNDS}))
    )
    return Tally().merge(tallies)


def _contenders(
    book: Book, hold_ids: list[str]
) -> tuple[list[list[EntryRequest]], dict[str, Effect]]:
    """For each hold a full capture, a partial capture and a void, on three threads."""
    plans: list[list[EntryRequest]] = [[] for _ in range(6)]
    effects: dict[str, Effect] = {}
    merchant = book.merchant.id
    for index, hold_id in enumerate(hold_ids):
        wallet = int(hold_id.rsplit("-", 1)[1])
        partial_legs = (
            Leg(wallet, Money(-PARTIAL_MINOR, "IDR")),
            Leg(merchant, Money(PARTIAL_MINOR, "IDR")),
        )
        full = _resolution(f"full-{hold_id}", EntryKind.POST_PENDING, hold_id)
        part = replace(
            _resolution(f"part-{hold_id}", EntryKind.POST_PENDING, hold_id), legs=partial_legs
        )
        void = _resolution(f"void-{hold_id}", EntryKind.VOID_PENDING, hold_id)
        effects[full.entry_id] = ((wallet, -HOLD_MINOR), (merchant, HOLD_MINOR))
        effects[part.entry_id] = ((wallet, -PARTIAL_MINOR), (merchant, PARTIAL_MINOR))
        effects[void.entry_id] = ()
        for kind_index, request in enumerate((full, part, void)):
            plans[kind_index * 2 + index % 2].append(request)
    for n, plan in enumerate(plans):
        random.Random(n).shuffle(plan)
    return plans, effects


def test_holds_never_reserve_more_than_funds_and_each_is_resolved_once(pg_ledger: Ledger) -> None:
    book = open_book(pg_ledger, [FUNDING_MINOR] * WALLETS)
    holds = _place_holds(pg_ledger, book)
    assert not holds.unexpected
    per_wallet = Counter(int(hold_id.rsplit("-", 1)[1]) for hold_id in holds.seqs)
    assert per_wallet == dict.fromkeys(book.wallet_ids, FUNDING_MINOR // HOLD_MINOR)
    plans, effects = _contenders(book, sorted(holds.seqs))
    allowed = frozenset({_CODE.PENDING_ALREADY_POSTED, _CODE.PENDING_ALREADY_VOIDED})
    tallies = run_together(
        len(plans), lambda t: post_each(pg_ledger, plans[t], allowed, lambda r: effects[r.entry_id])
    )
    resolutions = Tally().merge(tallies)
    assert not resolutions.unexpected
    winners = Counter(entry_id.split("-", 1)[1] for entry_id in resolutions.seqs)
    assert winners == dict.fromkeys(holds.seqs, 1), "each hold is resolved exactly once"
    assert sum(resolutions.refused.values()) == 2 * len(holds.seqs)
    _assert_nothing_reserved(pg_ledger)
    assert_ledger_matches(
        pg_ledger,
        expected_posted=expected_balances(book.opening, resolutions.effects.values()),
        recorded_ids=[*book.funding_ids, *holds.seqs, *resolutions.seqs],
    )


def test_expiry_sweepers_race_late_captures_and_expire_each_hold_once(pg_ledger: Ledger) -> None:
    book = open_book(pg_ledger, [FUNDING_MINOR] * WALLETS)
    holds = [_hold(f"short-{w}", w, book.merchant.id, HOLD_MINOR, 1) for w in book.wallet_ids]
    placed = post_batches(pg_ledger, [holds], frozenset())
    assert len(placed.seqs) == WALLETS and not placed.unexpected
    time.sleep(1.5)
    captures = [
        _resolution(f"late-{h.entry_id}", EntryKind.POST_PENDING, h.entry_id) for h in holds
    ]
    late = frozenset({_CODE.PENDING_EXPIRED})

    def contend(index: int) -> tuple[int, Tally]:
        if index < 2:
            return pg_ledger.expire_holds(), Tally()
        return 0, post_each(pg_ledger, captures[index - 2 :: 2], late)

    results = run_together(4, contend)
    tally = Tally().merge(t for _, t in results)
    assert not tally.unexpected and not tally.seqs, "no capture of an expired hold"
    assert sum(expired for expired, _ in results) == WALLETS, "each hold expired once"
    assert pg_ledger.expire_holds() == 0
    _assert_nothing_reserved(pg_ledger)
    assert_ledger_matches(
        pg_ledger,
        expected_posted=dict(book.opening),
        recorded_ids=[*book.funding_ids, *placed.seqs],
        extra_entries=WALLETS,
    )


def _assert_nothing_reserved(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        reserved = conn.execute(
            select(account.c.ref).where(
                (account.c.pending_debit_minor != 0) | (account.c.pending_credit_minor != 0)
            )
        ).all()
    assert reserved == []
