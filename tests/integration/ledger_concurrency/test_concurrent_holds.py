"""Holds racing for scarce funds, then captures and voids racing for each hold, then hold
expiry sweepers racing late captures, and a capture, a void and the sweep racing from three
ledger services as the holds fall due.

A hold is placed only while the wallet's available balance covers it; each hold is
resolved exactly once (by whichever contender commits first); an expired hold is expired
once however many sweepers run; nothing stays reserved once every hold is resolved.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ledger.entry import EntryKind, EntryRequest, Leg
from ledger.errors import LedgerErrorCode as Code
from ledger.money import Money
from ledger.service import Ledger
from ledger.tables import account
from tests.builders import code_of, idr, open_wallets, resolution, transfer
from tests.integration.ledger_concurrency.harness import (
    Book,
    Effect,
    Tally,
    assert_ledger_matches,
    expected_balances,
    ledgers_sharing,
    open_book,
    post_batches,
    post_each,
    run_each_together,
    run_together,
    transfer_minor,
)

pytestmark = pytest.mark.postgres

WALLETS = 12
FUNDING_MINOR = 1000
HOLD_MINOR = 300
PARTIAL_MINOR = 100
HOLDERS = 8


def _hold(
    entry_id: str, debit_id: int, credit_id: int, amount_minor: int, timeout_s: int
) -> EntryRequest:
    request = transfer_minor(entry_id, debit_id, credit_id, amount_minor)
    return replace(request, kind=EntryKind.PENDING, timeout_s=timeout_s)


def _place_holds(ledger: Ledger, book: Book) -> Tally:
    """Every holder tries one hold on every wallet, in its own order."""
    plans = []
    for holder in range(HOLDERS):
        wallets = random.Random(holder).sample(book.wallet_ids, len(book.wallet_ids))
        plans.append(
            [_hold(f"hold-{holder}-{w}", w, book.merchant.id, HOLD_MINOR, 3600) for w in wallets]
        )
    tallies = run_together(
        HOLDERS, lambda h: post_each(ledger, plans[h], frozenset({Code.INSUFFICIENT_FUNDS}))
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
        full = resolution(f"full-{hold_id}", EntryKind.POST_PENDING, hold_id)
        part = replace(
            resolution(f"part-{hold_id}", EntryKind.POST_PENDING, hold_id), legs=partial_legs
        )
        void = resolution(f"void-{hold_id}", EntryKind.VOID_PENDING, hold_id)
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
    allowed = frozenset({Code.PENDING_ALREADY_POSTED, Code.PENDING_ALREADY_VOIDED})
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
    captures = [resolution(f"late-{h.entry_id}", EntryKind.POST_PENDING, h.entry_id) for h in holds]
    late = frozenset({Code.PENDING_EXPIRED})

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


def test_a_capture_a_void_and_the_expiry_sweep_racing_resolve_each_hold_once(
    pg_url: str,
) -> None:
    with ledgers_sharing(pg_url, 3) as services:
        main = services[0]
        a = open_wallets(main, "ani", "toko")
        holds = 8
        main.post(transfer("fund", a["cash"], a["ani"], idr(100 * holds)))
        placed = main.post_batch(
            [
                transfer(
                    f"h{i}", a["ani"], a["toko"], idr(100), kind=EntryKind.PENDING, timeout_s=1
                )
                for i in range(holds)
            ]
        )
        assert all(o.ok for o in placed)
        expires_at = placed[0].entry.expires_at if placed[0].entry else None
        assert expires_at is not None
        time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds() - 0.004))

        def capture_all() -> list[Code | None]:
            return [
                code_of(services[0], resolution(f"c{i}", EntryKind.POST_PENDING, f"h{i}"))
                for i in range(holds)
            ]

        def void_all() -> list[Code | None]:
            return [
                code_of(services[1], resolution(f"v{i}", EntryKind.VOID_PENDING, f"h{i}"))
                for i in reversed(range(holds))
            ][::-1]

        def sweep() -> list[Code | None]:
            expired = 0
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:
                expired += services[2].expire_holds()
            return [None] * expired

        captures, voids, expiries = run_each_together([capture_all, void_all, sweep])
        won = captures.count(None) + voids.count(None) + len(expiries)
        assert won == holds
        assert set(captures) <= {None, Code.PENDING_EXPIRED, Code.PENDING_ALREADY_VOIDED}
        allowed_void = {None, Code.PENDING_EXPIRED, Code.PENDING_ALREADY_POSTED}
        assert set(voids) <= allowed_void
        for capture, void in zip(captures, voids, strict=True):
            assert capture is not None or void is not None
        captured = captures.count(None)
        ani, toko = main.account(a["ani"].id), main.account(a["toko"].id)
        assert (ani.posted, ani.pending_debit_minor) == (idr(100 * (holds - captured)), 0)
        assert (toko.posted, toko.pending_credit_minor) == (idr(100 * captured), 0)
        assert main.expire_holds() == 0
        assert main.verify().intact


def _assert_nothing_reserved(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        reserved = conn.execute(
            select(account.c.ref).where(
                (account.c.pending_debit_minor != 0) | (account.c.pending_credit_minor != 0)
            )
        ).all()
    assert reserved == []
