"""The pure planner: limits, account states, holds, linked groups and idempotency.

Every test drives `plan_batch` through `Book`, which hand-builds the `BatchContext` the store
would load and applies the plan; no database is involved.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ledger.account import AccountKind, AccountStatus
from ledger.entry import Ceiling, EntryKind, EntryRequest, Leg
from ledger.errors import LedgerErrorCode as Code
from ledger.money import Money
from ledger.planner import plan_batch
from tests.unit.ledger.book import (
    NOW,
    Book,
    codes,
    later,
    make_account,
    move,
    request,
)

CASH, ANI, BUDI, TOKO, YEN = 1, 2, 3, 4, 5
TOKO_MAX = 10_000


def _book(*, ani: int = 10_000) -> Book:
    """Cash (unlimited), Ani funded with `ani`, Budi empty, Toko capped, a JPY wallet."""
    book = Book.of(
        make_account(CASH, min_balance_minor=None, kind=AccountKind.COOP_CASH),
        make_account(ANI),
        make_account(BUDI),
        make_account(TOKO, max_balance_minor=TOKO_MAX, kind=AccountKind.MERCHANT_WALLET),
        make_account(YEN, currency="JPY"),
    )
    if ani:
        assert codes(book.outcomes(move("fund", CASH, ANI, ani))) == [None]
    return book


def _hold(book: Book, entry_id: str, amount_minor: int, timeout_s: int = 60) -> None:
    hold = move(entry_id, ANI, TOKO, amount_minor, kind=EntryKind.PENDING, timeout_s=timeout_s)
    assert codes(book.outcomes(hold)) == [None]


def _legs(ani_minor: int, toko_minor: int) -> tuple[Leg, ...]:
    return (Leg(ANI, Money(ani_minor, "IDR")), Leg(TOKO, Money(toko_minor, "IDR")))


# Posted transfers and their running numbers.


def test_a_transfer_moves_both_balances_and_numbers_each_posting() -> None:
    book = _book()
    (outcome,) = book.outcomes(move("pay", ANI, BUDI, 4_000))
    assert outcome.ok and not outcome.replayed and outcome.entry is not None
    assert (book.posted(ANI), book.posted(BUDI), book.posted(CASH)) == (6_000, 4_000, -10_000)
    running = [(p.account_posting_no, p.balance_after_minor) for p in outcome.entry.postings]
    assert running == [(2, 6_000), (1, 4_000)]
    assert book.accounts[ANI].posting_count == 2


def test_every_planned_entry_sums_to_zero_and_carries_its_sequence_number() -> None:
    book = _book()
    plan = book.plan([move("a", ANI, BUDI, 1), move("b", BUDI, TOKO, 1)])
    assert [e.seq for e in plan.new_entries] == [2, 3]
    for entry in plan.new_entries:
        assert sum(p.amount.amount_minor for p in entry.postings) == 0


def test_a_refused_request_changes_no_account() -> None:
    book = _book()
    before = dict(book.accounts)
    plan = book.plan([move("pay", ANI, BUDI, 10_001)])
    assert codes(plan.outcomes) == [Code.INSUFFICIENT_FUNDS]
    assert plan.new_entries == ()
    assert book.accounts == before


# Limits.


def test_a_wallet_may_be_emptied_exactly_but_not_overdrawn() -> None:
    book = _book()
    assert codes(book.outcomes(move("over", ANI, BUDI, 10_001))) == [Code.INSUFFICIENT_FUNDS]
    assert codes(book.outcomes(move("all", ANI, BUDI, 10_000))) == [None]
    assert book.posted(ANI) == 0


def test_an_overdraft_limit_lets_a_wallet_go_negative_down_to_it() -> None:
    book = Book.of(make_account(ANI, min_balance_minor=-500), make_account(BUDI))
    assert codes(book.outcomes(move("in", ANI, BUDI, 500))) == [None]
    assert codes(book.outcomes(move("more", ANI, BUDI, 1))) == [Code.INSUFFICIENT_FUNDS]
    assert book.posted(ANI) == -500


def test_an_account_without_a_lower_limit_goes_as_negative_as_needed() -> None:
    book = _book(ani=0)
    assert codes(book.outcomes(move("big", CASH, ANI, 10**15))) == [None]
    assert book.posted(CASH) == -(10**15)


def test_an_upper_limit_refuses_a_credit_above_it_and_allows_one_up_to_it() -> None:
    book = _book(ani=TOKO_MAX + 1)
    assert codes(book.outcomes(move("too", ANI, TOKO, TOKO_MAX + 1))) == [
        Code.BALANCE_LIMIT_EXCEEDED
    ]
    assert codes(book.outcomes(move("fits", ANI, TOKO, TOKO_MAX))) == [None]


def test_held_funds_are_not_available_to_a_later_transfer() -> None:
    book = _book()
    _hold(book, "hold", 7_000)
    assert codes(book.outcomes(move("x", ANI, BUDI, 3_001))) == [Code.INSUFFICIENT_FUNDS]
    assert codes(book.outcomes(move("y", ANI, BUDI, 3_000))) == [None]


def test_held_credits_count_against_the_upper_limit() -> None:
    book = _book(ani=TOKO_MAX + 1)
    _hold(book, "hold", TOKO_MAX)
    assert codes(book.outcomes(move("x", ANI, TOKO, 1))) == [Code.BALANCE_LIMIT_EXCEEDED]


def test_limits_are_checked_only_in_the_direction_the_account_moves() -> None:
    # An account already below its lower limit (say its limit was raised) may still
    # receive money, but may not give any.
    book = Book.of(make_account(CASH, min_balance_minor=None), make_account(ANI, posted_minor=-50))
    assert codes(book.outcomes(move("out", ANI, CASH, 1))) == [Code.INSUFFICIENT_FUNDS]
    assert codes(book.outcomes(move("in", CASH, ANI, 10))) == [None]
    assert book.posted(ANI) == -40


def test_limit_failures_are_reported_leg_by_leg_in_the_order_given() -> None:
    book = _book(ani=TOKO_MAX + 1)
    both = EntryRequest(
        "both",
        NOW.date(),
        legs=(
            Leg(TOKO, Money(TOKO_MAX + 1, "IDR")),
            Leg(BUDI, Money(-1, "IDR")),
            Leg(ANI, Money(-TOKO_MAX, "IDR")),
        ),
    )
    assert codes(book.outcomes(both)) == [Code.BALANCE_LIMIT_EXCEEDED]
    swapped = replace(both, entry_id="swapped", legs=(both.legs[1], both.legs[0], both.legs[2]))
    assert codes(book.outcomes(swapped)) == [Code.INSUFFICIENT_FUNDS]


# An entry's own ceilings.


def test_a_ceiling_refuses_a_credit_above_it_and_allows_one_up_to_it() -> None:
    book = _book()
    over = replace(move("over", ANI, BUDI, 3_001), ceilings=(Ceiling(BUDI, 3_000),))
    assert codes(book.outcomes(over)) == [Code.BALANCE_LIMIT_EXCEEDED]
    fits = replace(move("fits", ANI, BUDI, 3_000), ceilings=(Ceiling(BUDI, 3_000),))
    assert codes(book.outcomes(fits)) == [None]
    assert book.posted(BUDI) == 3_000


def test_a_ceiling_bounds_only_the_entry_that_names_it() -> None:
    book = _book()
    assert codes(book.outcomes(move("plain", ANI, BUDI, 5_000))) == [None]
    capped = replace(move("capped", ANI, BUDI, 1), ceilings=(Ceiling(BUDI, 3_000),))
    assert codes(book.outcomes(capped)) == [Code.BALANCE_LIMIT_EXCEEDED]
    assert book.posted(BUDI) == 5_000


def test_a_ceiling_counts_held_credits_and_a_hold_within_it() -> None:
    book = _book()
    hold = replace(
        move("hold", ANI, BUDI, 2_000, kind=EntryKind.PENDING, timeout_s=60),
        ceilings=(Ceiling(BUDI, 2_500),),
    )
    assert codes(book.outcomes(hold)) == [None]
    more = replace(move("more", ANI, BUDI, 501), ceilings=(Ceiling(BUDI, 2_500),))
    assert codes(book.outcomes(more)) == [Code.BALANCE_LIMIT_EXCEEDED]


def test_a_ceiling_on_an_account_the_entry_takes_from_never_refuses_it() -> None:
    # Like a limit, a ceiling looks only in the direction the entry moves the account.
    book = _book()
    assert codes(book.outcomes(move("fund-budi", CASH, BUDI, 9_000))) == [None]
    out = replace(move("out", BUDI, ANI, 1_000), ceilings=(Ceiling(BUDI, 10),))
    assert codes(book.outcomes(out)) == [None]
    assert book.posted(BUDI) == 8_000


def test_a_ceiling_is_checked_after_the_account_limits() -> None:
    book = _book(ani=TOKO_MAX + 1)
    both = replace(move("both", ANI, TOKO, TOKO_MAX + 1), ceilings=(Ceiling(ANI, 0),))
    (outcome,) = book.outcomes(both)
    assert (outcome.code, outcome.account_id) == (Code.BALANCE_LIMIT_EXCEEDED, TOKO)


# Account states.


def test_an_unknown_account_is_refused() -> None:
    assert codes(_book().outcomes(move("x", ANI, 99, 1))) == [Code.ACCOUNT_NOT_FOUND]


def test_a_leg_in_another_currency_than_its_account_is_refused() -> None:
    book = _book()
    pay_yen = move("x", ANI, YEN, 1)
    assert codes(book.outcomes(pay_yen)) == [Code.CURRENCY_MISMATCH]


@pytest.mark.parametrize(
    ("status", "code"),
    [(AccountStatus.FROZEN, Code.ACCOUNT_FROZEN), (AccountStatus.CLOSED, Code.ACCOUNT_CLOSED)],
)
def test_a_frozen_or_closed_account_neither_pays_nor_receives(
    status: AccountStatus, code: Code
) -> None:
    book = _book()
    book.with_status(BUDI, status)
    assert codes(book.outcomes(move("to", ANI, BUDI, 1))) == [code]
    book.with_status(ANI, status)
    assert codes(book.outcomes(move("from", ANI, CASH, 1))) == [code]
    hold = move("hold", ANI, CASH, 1, kind=EntryKind.PENDING)
    assert codes(book.outcomes(hold)) == [code]


def test_account_checks_run_leg_by_leg_before_any_limit() -> None:
    book = _book(ani=0)
    book.with_status(BUDI, AccountStatus.FROZEN)
    # Ani cannot pay (a limit) and Budi is frozen (an account check): the account wins.
    assert codes(book.outcomes(move("a", ANI, BUDI, 1))) == [Code.ACCOUNT_FROZEN]
    # Budi (first leg) is frozen and account 99 (second leg) does not exist.
    assert codes(book.outcomes(move("b", BUDI, 99, 1))) == [Code.ACCOUNT_FROZEN]
    assert codes(book.outcomes(move("c", 99, BUDI, 1))) == [Code.ACCOUNT_NOT_FOUND]
    book.with_status(ANI, AccountStatus.CLOSED)
    assert codes(book.outcomes(move("d", YEN, ANI, 1))) == [Code.CURRENCY_MISMATCH]


def test_a_hold_on_a_frozen_account_can_be_voided_but_not_posted() -> None:
    book = _book()
    _hold(book, "hold", 2_000)
    book.with_status(ANI, AccountStatus.FROZEN)
    capture = request("capture", EntryKind.POST_PENDING, "hold")
    assert codes(book.outcomes(capture)) == [Code.ACCOUNT_FROZEN]
    assert codes(book.outcomes(request("void", EntryKind.VOID_PENDING, "hold"))) == [None]
    assert book.held(ANI) == (0, 0)
    assert book.held(TOKO) == (0, 0)


# Holds.


def test_a_hold_reserves_both_sides_without_moving_posted_balances() -> None:
    book = _book()
    _hold(book, "hold", 3_000)
    assert (book.posted(ANI), book.held(ANI)) == (10_000, (3_000, 0))
    assert (book.posted(TOKO), book.held(TOKO)) == (0, (0, 3_000))
    hold = book.entries["hold"]
    assert hold.expires_at == later(60)
    assert all(p.is_pending and p.account_posting_no is None for p in hold.postings)


def test_a_hold_posted_in_full_without_legs_moves_what_was_held() -> None:
    book = _book()
    _hold(book, "hold", 3_000)
    assert codes(book.outcomes(request("capture", EntryKind.POST_PENDING, "hold"))) == [None]
    assert (book.posted(ANI), book.held(ANI)) == (7_000, (0, 0))
    assert (book.posted(TOKO), book.held(TOKO)) == (3_000, (0, 0))


def test_a_hold_posted_for_less_moves_that_and_releases_the_rest() -> None:
    book = _book()
    _hold(book, "hold", 3_000)
    partial = request("capture", EntryKind.POST_PENDING, "hold", _legs(-1_000, 1_000))
    assert codes(book.outcomes(partial)) == [None]
    assert (book.posted(ANI), book.held(ANI)) == (9_000, (0, 0))
    assert (book.posted(TOKO), book.held(TOKO)) == (1_000, (0, 0))


def test_a_hold_cannot_be_posted_for_more_than_was_held() -> None:
    book = _book()
    _hold(book, "hold", 3_000)
    more = request("capture", EntryKind.POST_PENDING, "hold", _legs(-3_001, 3_001))
    assert codes(book.outcomes(more)) == [Code.PENDING_AMOUNT_EXCEEDED]
    assert book.held(ANI) == (3_000, 0)


@pytest.mark.parametrize(
    "legs",
    [
        pytest.param((Leg(ANI, Money(-10, "IDR")), Leg(BUDI, Money(10, "IDR"))), id="other"),
        pytest.param(_legs(10, -10), id="opposite-sign"),
    ],
)
def test_a_hold_must_be_posted_on_its_own_accounts_in_its_own_direction(
    legs: tuple[Leg, ...],
) -> None:
    book = _book()
    _hold(book, "hold", 3_000)
    wrong = request("capture", EntryKind.POST_PENDING, "hold", legs)
    assert codes(book.outcomes(wrong)) == [Code.PENDING_LEGS_MISMATCH]


def test_a_hold_is_resolved_once() -> None:
    book = _book()
    _hold(book, "posted", 1_000)
    _hold(book, "voided", 1_000)
    book.outcomes(
        request("p1", EntryKind.POST_PENDING, "posted"),
        request("v1", EntryKind.VOID_PENDING, "voided"),
    )
    again = book.outcomes(
        request("p2", EntryKind.POST_PENDING, "posted"),
        request("v2", EntryKind.VOID_PENDING, "posted"),
        request("p3", EntryKind.POST_PENDING, "voided"),
        request("v3", EntryKind.VOID_PENDING, "voided"),
    )
    assert codes(again) == [
        Code.PENDING_ALREADY_POSTED,
        Code.PENDING_ALREADY_POSTED,
        Code.PENDING_ALREADY_VOIDED,
        Code.PENDING_ALREADY_VOIDED,
    ]


def test_a_hold_cannot_be_posted_once_its_timeout_has_passed() -> None:
    book = _book()
    _hold(book, "hold", 1_000, timeout_s=60)
    capture = request("capture", EntryKind.POST_PENDING, "hold")
    assert codes(book.outcomes(capture, now=later(60))) == [Code.PENDING_EXPIRED]
    just_in_time = later(60) - timedelta(microseconds=1)
    assert codes(book.outcomes(replace(capture, entry_id="c2"), now=just_in_time)) == [None]


def test_a_hold_cannot_be_expired_before_its_timeout() -> None:
    book = _book()
    _hold(book, "hold", 1_000, timeout_s=60)
    expire = request("expire", EntryKind.EXPIRE_PENDING, "hold")
    early = later(60) - timedelta(microseconds=1)
    assert codes(book.outcomes(expire, now=early)) == [Code.PENDING_NOT_EXPIRED]
    assert book.held(ANI) == (1_000, 0)


def test_an_expired_hold_releases_its_funds_and_refuses_every_later_resolution() -> None:
    book = _book()
    _hold(book, "hold", 1_000, timeout_s=60)
    expire = request("expire", EntryKind.EXPIRE_PENDING, "hold")
    assert codes(book.outcomes(expire, now=later(61))) == [None]
    assert (book.held(ANI), book.held(TOKO), book.posted(ANI)) == ((0, 0), (0, 0), 10_000)
    late = book.outcomes(
        request("capture", EntryKind.POST_PENDING, "hold"),
        request("void", EntryKind.VOID_PENDING, "hold"),
        request("expire2", EntryKind.EXPIRE_PENDING, "hold"),
        now=later(62),
    )
    assert codes(late) == [Code.PENDING_EXPIRED] * 3


def test_a_resolution_must_name_a_recorded_hold() -> None:
    book = _book()
    got = book.outcomes(
        request("a", EntryKind.POST_PENDING, "nowhere"),
        request("b", EntryKind.VOID_PENDING, "fund"),
    )
    assert codes(got) == [Code.PENDING_NOT_FOUND, Code.PENDING_NOT_FOUND]


def test_a_hold_and_its_capture_can_share_a_batch() -> None:
    book = _book()
    hold = move("hold", ANI, TOKO, 2_000, kind=EntryKind.PENDING)
    capture = request("capture", EntryKind.POST_PENDING, "hold", _legs(-1_500, 1_500))
    void_other = request("void", EntryKind.VOID_PENDING, "hold")
    got = book.outcomes(hold, capture, void_other)
    assert codes(got) == [None, None, Code.PENDING_ALREADY_POSTED]
    assert (book.posted(ANI), book.held(ANI)) == (8_500, (0, 0))
    assert (book.posted(TOKO), book.held(TOKO)) == (1_500, (0, 0))


def test_a_plan_names_the_sequence_number_of_every_target_it_resolves() -> None:
    """What the entry rows store as their target: an earlier hold's number from the book,
    a hold of the same batch by the number it was given."""
    book = _book()
    _hold(book, "earlier", 1_000)
    earlier_seq = book.entries["earlier"].seq
    plan = book.plan(
        [
            request("capture-earlier", EntryKind.POST_PENDING, "earlier"),
            move("later", ANI, TOKO, 2_000, kind=EntryKind.PENDING),
            request("void-later", EntryKind.VOID_PENDING, "later"),
            move("plain", ANI, BUDI, 1),
        ]
    )
    later_seq = next(e.seq for e in plan.new_entries if e.entry_id == "later")
    assert dict(plan.target_seqs) == {"earlier": earlier_seq, "later": later_seq}


# Reversals.


def test_a_reversal_negates_the_entry_once() -> None:
    book = _book()
    book.outcomes(move("pay", ANI, BUDI, 4_000))
    got = book.outcomes(
        request("undo", EntryKind.REVERSAL, "pay"),
        request("undo2", EntryKind.REVERSAL, "pay"),
    )
    assert codes(got) == [None, Code.ENTRY_ALREADY_REVERSED]
    assert (book.posted(ANI), book.posted(BUDI)) == (10_000, 0)


def test_only_posted_entries_can_be_reversed() -> None:
    book = _book()
    _hold(book, "hold", 1_000)
    book.outcomes(request("capture", EntryKind.POST_PENDING, "hold"))
    got = book.outcomes(
        request("r1", EntryKind.REVERSAL, "hold"),
        request("r2", EntryKind.REVERSAL, "capture"),
        request("r3", EntryKind.REVERSAL, "r2"),
        request("r4", EntryKind.REVERSAL, "nowhere"),
    )
    assert codes(got) == [
        Code.ENTRY_NOT_REVERSIBLE,
        None,
        Code.ENTRY_NOT_REVERSIBLE,
        Code.ENTRY_NOT_FOUND,
    ]


def test_a_reversal_respects_the_limits_of_the_accounts_it_takes_from() -> None:
    book = _book()
    book.outcomes(move("pay", ANI, BUDI, 4_000), move("spend", BUDI, CASH, 1))
    assert codes(book.outcomes(request("undo", EntryKind.REVERSAL, "pay"))) == [
        Code.INSUFFICIENT_FUNDS
    ]


# Linked groups.


def test_a_linked_group_whose_last_member_fails_records_nothing() -> None:
    book = _book()
    before = dict(book.accounts)
    plan = book.plan(
        [
            move("a", ANI, BUDI, 1_000, linked=True),
            move("b", BUDI, TOKO, 1_000, linked=True),
            move("c", ANI, TOKO, 9_001),
        ]
    )
    assert codes(plan.outcomes) == [
        Code.LINKED_ENTRY_FAILED,
        Code.LINKED_ENTRY_FAILED,
        Code.INSUFFICIENT_FUNDS,
    ]
    assert plan.new_entries == ()
    assert book.accounts == before


def test_a_linked_group_whose_first_member_fails_refuses_the_rest_unplanned() -> None:
    book = _book()
    plan = book.plan(
        [
            move("a", ANI, BUDI, 10_001, linked=True),
            move("b", ANI, BUDI, 1, linked=True),
            move("c", ANI, BUDI, 1),
            move("d", ANI, BUDI, 1),
        ]
    )
    assert codes(plan.outcomes) == [
        Code.INSUFFICIENT_FUNDS,
        Code.LINKED_ENTRY_FAILED,
        Code.LINKED_ENTRY_FAILED,
        None,
    ]
    assert [e.entry_id for e in plan.new_entries] == ["d"]
    assert book.posted(BUDI) == 1


def test_a_linked_group_succeeds_as_a_whole_and_its_members_see_each_other() -> None:
    book = _book()
    got = book.outcomes(
        move("a", ANI, BUDI, 10_000, linked=True),
        move("b", BUDI, TOKO, 10_000),
    )
    assert codes(got) == [None, None]
    assert (book.posted(ANI), book.posted(BUDI), book.posted(TOKO)) == (0, 0, 10_000)


def test_entries_outside_a_failed_group_stand_on_their_own() -> None:
    book = _book()
    got = book.outcomes(
        move("before", ANI, BUDI, 100),
        move("a", ANI, BUDI, 100, linked=True),
        move("b", BUDI, ANI, 10**6),
        move("after", ANI, BUDI, 100),
    )
    assert codes(got) == [None, Code.LINKED_ENTRY_FAILED, Code.INSUFFICIENT_FUNDS, None]
    assert book.posted(BUDI) == 200


def test_a_batch_that_ends_inside_a_linked_group_records_none_of_it() -> None:
    book = _book()
    plan = book.plan(
        [
            move("alone", ANI, BUDI, 100),
            move("a", ANI, BUDI, 100, linked=True),
            move("b", ANI, BUDI, 100, linked=True),
        ]
    )
    assert codes(plan.outcomes) == [None, Code.LINKED_GROUP_OPEN, Code.LINKED_GROUP_OPEN]
    assert [e.entry_id for e in plan.new_entries] == ["alone"]
    assert book.posted(BUDI) == 100


def test_a_failed_group_leaves_the_hold_it_tried_to_resolve_open() -> None:
    book = _book()
    _hold(book, "hold", 1_000)
    got = book.outcomes(
        request("capture", EntryKind.POST_PENDING, "hold", linked=True),
        move("boom", ANI, BUDI, 10**6),
        request("capture2", EntryKind.POST_PENDING, "hold"),
    )
    assert codes(got) == [Code.LINKED_ENTRY_FAILED, Code.INSUFFICIENT_FUNDS, None]
    assert (book.posted(TOKO), book.held(ANI)) == (1_000, (0, 0))


# Ids within a batch, replays and conflicts.


def test_an_id_repeated_in_one_batch_replays_its_first_use_or_conflicts_with_it() -> None:
    book = _book()
    plan = book.plan(
        [
            move("pay", ANI, BUDI, 1),
            move("pay", ANI, BUDI, 1),
            move("pay", ANI, BUDI, 2),
        ]
    )
    first, again, _ = plan.outcomes
    assert codes(plan.outcomes) == [None, None, Code.EXISTS_WITH_DIFFERENT_AMOUNT]
    assert again.replayed and again.entry == first.entry
    assert [e.entry_id for e in plan.new_entries] == ["pay"]
    assert book.posted(BUDI) == 1


def test_an_id_refused_earlier_in_a_batch_can_be_recorded_later_in_it() -> None:
    book = _book()
    got = book.outcomes(move("pay", ANI, BUDI, 10_001), move("pay", ANI, BUDI, 10_000))
    assert codes(got) == [Code.INSUFFICIENT_FUNDS, None]
    assert not got[1].replayed
    assert book.posted(BUDI) == 10_000


def test_an_id_undone_with_its_failed_group_can_be_recorded_later_in_the_batch() -> None:
    book = _book()
    got = book.outcomes(
        move("pay", ANI, BUDI, 100, linked=True),
        move("boom", ANI, BUDI, 10**6),
        move("pay", ANI, BUDI, 100),
    )
    assert codes(got) == [Code.LINKED_ENTRY_FAILED, Code.INSUFFICIENT_FUNDS, None]
    assert not got[2].replayed
    assert book.posted(BUDI) == 100


def test_a_replay_returns_the_recorded_entry_and_plans_nothing() -> None:
    book = _book()
    (first,) = book.outcomes(move("pay", ANI, BUDI, 1_000))
    replay = move("pay", ANI, BUDI, 1_000)
    plan = plan_batch([replay], book.context([replay], later(5)))
    (again,) = plan.outcomes
    assert again.ok and again.replayed and again.entry == first.entry
    assert (plan.new_entries, plan.changed_accounts) == ((), ())


def test_a_replay_succeeds_even_when_the_request_could_no_longer_be_recorded() -> None:
    book = _book()
    book.outcomes(move("pay", ANI, BUDI, 10_000))
    book.with_status(BUDI, AccountStatus.FROZEN)
    (again,) = book.outcomes(move("pay", ANI, BUDI, 10_000))
    assert again.ok and again.replayed


def test_a_replayed_resolution_and_reversal_return_the_recorded_entries() -> None:
    book = _book()
    _hold(book, "hold", 1_000)
    book.outcomes(move("pay", ANI, BUDI, 10))
    resolutions = (
        request("capture", EntryKind.POST_PENDING, "hold"),
        request("undo", EntryKind.REVERSAL, "pay"),
    )
    assert codes(book.outcomes(*resolutions)) == [None, None]
    again = book.outcomes(*resolutions)
    assert [(o.ok, o.replayed) for o in again] == [(True, True), (True, True)]


_RECORDED_HOLD = move("h", ANI, TOKO, 500, kind=EntryKind.PENDING, timeout_s=60)


@pytest.mark.parametrize(
    ("changed", "code"),
    [
        pytest.param(
            replace(_RECORDED_HOLD, kind=EntryKind.POSTED, timeout_s=None),
            Code.EXISTS_WITH_DIFFERENT_KIND,
            id="kind",
        ),
        pytest.param(
            replace(
                _RECORDED_HOLD, legs=(Leg(ANI, Money(-500, "IDR")), Leg(BUDI, Money(500, "IDR")))
            ),
            Code.EXISTS_WITH_DIFFERENT_LEGS,
            id="accounts",
        ),
        pytest.param(
            replace(_RECORDED_HOLD, legs=tuple(reversed(_RECORDED_HOLD.legs))),
            Code.EXISTS_WITH_DIFFERENT_LEGS,
            id="leg-order",
        ),
        pytest.param(
            replace(_RECORDED_HOLD, legs=_legs(-501, 501)),
            Code.EXISTS_WITH_DIFFERENT_AMOUNT,
            id="amount",
        ),
        pytest.param(
            replace(_RECORDED_HOLD, business_date=NOW.date() + timedelta(days=1)),
            Code.EXISTS_WITH_DIFFERENT_BUSINESS_DATE,
            id="business-date",
        ),
        pytest.param(
            replace(_RECORDED_HOLD, timeout_s=61),
            Code.EXISTS_WITH_DIFFERENT_TIMEOUT,
            id="timeout",
        ),
        pytest.param(
            replace(_RECORDED_HOLD, metadata={"note": "x"}),
            Code.EXISTS_WITH_DIFFERENT_METADATA,
            id="metadata",
        ),
        pytest.param(
            replace(
                _RECORDED_HOLD,
                legs=_legs(-501, 501),
                business_date=NOW.date() + timedelta(days=1),
                metadata={"note": "x"},
            ),
            Code.EXISTS_WITH_DIFFERENT_AMOUNT,
            id="amount-before-date-before-metadata",
        ),
    ],
)
def test_the_same_id_with_a_different_request_names_the_first_difference(
    changed: EntryRequest, code: Code
) -> None:
    book = _book()
    assert codes(book.outcomes(_RECORDED_HOLD)) == [None]
    before = dict(book.accounts)
    plan = book.plan([changed])
    assert codes(plan.outcomes) == [code]
    assert plan.new_entries == ()
    assert book.accounts == before


def test_a_resolution_replayed_against_another_hold_is_a_conflict() -> None:
    book = _book()
    _hold(book, "h1", 100)
    _hold(book, "h2", 100)
    book.outcomes(request("void", EntryKind.VOID_PENDING, "h1"))
    (conflict,) = book.outcomes(request("void", EntryKind.VOID_PENDING, "h2"))
    assert conflict.code == Code.EXISTS_WITH_DIFFERENT_PENDING_ID
    assert book.held(ANI) == (100, 0)


def test_metadata_is_compared_canonically_so_key_order_does_not_matter() -> None:
    book = _book()
    first = replace(move("pay", ANI, BUDI, 1), metadata={"a": 1, "b": "x"})
    book.outcomes(first)
    (again,) = book.outcomes(replace(first, metadata={"b": "x", "a": 1}))
    assert again.ok and again.replayed


# Regression (ledger/planner.py, fixed in c50232a): a refused, unlinked resolution leaked its
# "resolved" mark into the rest of the batch (the target was marked in `_check_resolution`
# and `_reversal_legs`, before later checks could still refuse, and only linked groups undid
# the mark). Single posts share batches through the group committer, so one caller's bad
# capture made another caller's good capture fail.


def test_a_refused_capture_does_not_resolve_the_hold_for_the_rest_of_the_batch() -> None:
    book = _book()
    _hold(book, "hold", 3_000)
    got = book.outcomes(
        request("too-much", EntryKind.POST_PENDING, "hold", _legs(-3_001, 3_001)),
        request("right", EntryKind.POST_PENDING, "hold", _legs(-3_000, 3_000)),
    )
    assert codes(got) == [Code.PENDING_AMOUNT_EXCEEDED, None]


def test_a_refused_reversal_does_not_mark_its_target_reversed_for_the_rest_of_the_batch() -> None:
    book = _book()
    book.outcomes(move("pay", ANI, BUDI, 4_000), move("spend", BUDI, CASH, 1))
    got = book.outcomes(
        request("undo", EntryKind.REVERSAL, "pay"),
        move("refill", CASH, BUDI, 1),
        request("undo-again", EntryKind.REVERSAL, "pay"),
    )
    assert codes(got) == [Code.INSUFFICIENT_FUNDS, None, None]
