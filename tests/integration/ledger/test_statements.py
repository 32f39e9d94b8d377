"""Statements and balances as of a moment, on both engines.

Ani's account gets eleven posted movements (ten deposits of Rp1..Rp10 and one withdrawal
of Rp5) and one hold, which statements never show. Other tests build their own: postings
that share one commit moment are paged like any others, and what a reader saw as of a
moment does not change once that moment has passed (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger import planner
from ledger.entry import Entry, EntryKind, EntryRequest
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import Money
from ledger.service import Ledger
from ledger.statements import PAGE_SIZE_MAX, StatementLine
from tests.builders import idr, open_wallets, resolution, transfer
from tests.races import wait_until_a_session_waits_for_a_lock

_US = timedelta(microseconds=1)
_EARLY = datetime(2000, 1, 1, tzinfo=UTC)
_LATE = datetime(2999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class History:
    ledger: Ledger
    ani_id: int
    posted: list[Entry]  # Ani's posted movements, in order
    balances_minor: list[int]  # Ani's balance after each of them


@pytest.fixture
def history(ledger: Ledger) -> History:
    a = open_wallets(ledger, "ani", "budi")
    posted, balances, balance = [], [], 0
    for rupiah in range(1, 11):
        posted.append(ledger.post(transfer(f"in-{rupiah}", a["cash"], a["ani"], idr(rupiah))))
        balance += rupiah * 100
        balances.append(balance)
        if rupiah == 5:
            ledger.post(
                transfer("hold", a["ani"], a["budi"], idr(7), kind=EntryKind.PENDING, timeout_s=600)
            )
    posted.append(ledger.post(transfer("out", a["ani"], a["budi"], idr(5))))
    balances.append(balance - 500)
    return History(ledger, a["ani"].id, posted, balances)


def _lines_of(
    ledger: Ledger, account_id: int, page_size: int, from_at: datetime, to_at: datetime
) -> list[StatementLine]:
    """Every line of the account's statement for the period, read page by page."""
    lines: list[StatementLine] = []
    cursor: str | None = None
    for _ in range(100):
        page = ledger.statement(
            account_id, from_at=from_at, to_at=to_at, page_size=page_size, cursor=cursor
        )
        assert len(page.lines) <= page_size
        lines.extend(page.lines)
        cursor = page.next_cursor
        if cursor is None:
            return lines
        assert len(page.lines) == page_size
    raise AssertionError("pagination did not end")


def _all_lines(history: History, page_size: int, **period: datetime) -> list[StatementLine]:
    window = {"from_at": _EARLY, "to_at": _LATE, **period}
    return _lines_of(history.ledger, history.ani_id, page_size, window["from_at"], window["to_at"])


def test_paging_through_a_statement_returns_every_posting_once_in_order(
    history: History,
) -> None:
    for page_size in (1, 3, 4, 11, 12, PAGE_SIZE_MAX):
        lines = _all_lines(history, page_size)
        assert [line.posting_no for line in lines] == list(range(1, 12)), page_size
        assert [line.entry_id for line in lines] == [e.entry_id for e in history.posted]
        assert [line.balance_after.amount_minor for line in lines] == history.balances_minor
    running = 0
    for line in lines:
        running += line.amount.amount_minor
        assert line.balance_after == Money(running, "IDR")


def test_statement_pages_split_postings_that_share_one_commit_moment(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani")
    before = ledger.post(transfer("before", a["cash"], a["ani"], idr(1)))
    batch = [transfer(f"same-{i}", a["cash"], a["ani"], idr(10 + i)) for i in range(7)]
    outcomes = ledger.post_batch(batch)
    shared = {o.entry.committed_at for o in outcomes if o.entry is not None}
    assert len(shared) == 1
    (moment,) = shared
    after = ledger.post(transfer("after", a["cash"], a["ani"], idr(100)))
    assert before.committed_at < moment < after.committed_at
    same_ids = [f"same-{i}" for i in range(7)]
    balances = [100 + sum(1000 + 100 * j for j in range(i + 1)) for i in range(7)]
    ani = a["ani"].id
    for page_size in range(1, 9):
        lines = _lines_of(ledger, ani, page_size, moment, moment + _US)
        assert [line.entry_id for line in lines] == same_ids, page_size
        assert [line.posting_no for line in lines] == list(range(2, 9))
        assert [line.balance_after.amount_minor for line in lines] == balances
        whole = _lines_of(ledger, ani, page_size, _EARLY, _LATE)
        assert [line.entry_id for line in whole] == ["before", *same_ids, "after"]
    page = ledger.statement(ani, from_at=moment, to_at=moment + _US, page_size=3)
    assert page.opening_balance == idr(1)
    assert page.closing_balance.amount_minor == balances[-1]
    empty = ledger.statement(ani, from_at=moment - _US, to_at=moment)
    assert empty.lines == () and empty.closing_balance == idr(1)
    assert ledger.balance_as_of(ani, moment - _US) == idr(1)
    assert ledger.balance_as_of(ani, moment).amount_minor == balances[-1]


def test_a_whole_history_statement_opens_at_zero_and_closes_at_the_balance(
    history: History,
) -> None:
    page = history.ledger.statement(history.ani_id, from_at=_EARLY, to_at=_LATE, page_size=2)
    assert page.opening_balance == idr(0)
    assert page.closing_balance == history.ledger.account(history.ani_id).posted == idr(50)
    assert "hold" not in {line.entry_id for line in _all_lines(history, 100)}


def test_a_period_statement_is_half_open_with_balances_at_its_edges(history: History) -> None:
    start, end = history.posted[3].committed_at, history.posted[7].committed_at
    page = history.ledger.statement(history.ani_id, from_at=start, to_at=end, page_size=100)
    assert [line.entry_id for line in page.lines] == ["in-4", "in-5", "in-6", "in-7"]
    assert page.opening_balance.amount_minor == history.balances_minor[2]
    assert page.closing_balance.amount_minor == history.balances_minor[6]
    assert page.next_cursor is None
    paged = _all_lines(history, 3, from_at=start, to_at=end)
    assert [line.entry_id for line in paged] == ["in-4", "in-5", "in-6", "in-7"]


def test_a_period_with_no_postings_has_equal_opening_and_closing_balances(
    history: History,
) -> None:
    moment = history.posted[2].committed_at + _US
    page = history.ledger.statement(history.ani_id, from_at=moment, to_at=moment + _US)
    assert page.lines == ()
    assert page.opening_balance == page.closing_balance
    assert page.opening_balance.amount_minor == history.balances_minor[2]


def test_a_statement_of_the_past_ignores_postings_made_after_it(history: History) -> None:
    end = history.posted[4].committed_at
    first = history.ledger.statement(history.ani_id, from_at=_EARLY, to_at=end, page_size=2)
    a = open_wallets(history.ledger, "ani")
    history.ledger.post(transfer("later", a["cash"], a["ani"], idr(1)))
    rest = history.ledger.statement(
        history.ani_id, from_at=_EARLY, to_at=end, page_size=2, cursor=first.next_cursor
    )
    seen = [line.entry_id for line in first.lines + rest.lines]
    assert seen == ["in-1", "in-2", "in-3", "in-4"]
    assert rest.closing_balance.amount_minor == history.balances_minor[3]


@pytest.mark.postgres
def test_a_balance_read_as_of_a_past_moment_does_not_change_afterwards(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry's `committed_at` is the clock its transaction reads once it holds its
    accounts, before its writes and COMMIT. A reader asking, in that gap, for the balance
    or the statement as of a moment after that clock reading waits for the transaction
    that holds the account, so its answer already has the entry: the same question about
    the same past moment gets the same answer afterwards."""
    ledger = pg_ledger
    a = open_wallets(ledger, "ani", "budi")
    ani = a["ani"].id
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(transfer("pay", a["ani"], a["budi"], idr(30)))

    def read_now() -> tuple[datetime, Money, list[str]]:
        moment = datetime.now(UTC)
        lines = _lines_of(ledger, ani, 100, _EARLY, moment + _US)
        return moment, ledger.balance_as_of(ani, moment), [line.entry_id for line in lines]

    # The gap: the planner runs after the read phase (locks, clock) and before the writes.
    rival: list[Future[tuple[datetime, Money, list[str]]]] = []
    plan = planner.plan_batch

    def plan_once_the_rival_waits(
        requests: Sequence[EntryRequest], context: planner.BatchContext
    ) -> planner.BatchPlan:
        if not rival:
            rival.append(pool.submit(read_now))
            wait_until_a_session_waits_for_a_lock(ledger.engine)
        return plan(requests, context)

    monkeypatch.setattr("ledger.posting.plan_batch", plan_once_the_rival_waits)
    undo = resolution("undo", EntryKind.REVERSAL, "pay")
    with ThreadPoolExecutor(max_workers=1) as pool:
        (outcome,) = ledger.post_batch([undo])
        moment, seen_balance, seen_lines = rival[0].result(timeout=30)
    assert outcome.entry is not None and outcome.entry.committed_at <= moment
    assert (seen_balance, seen_lines) == (idr(100), ["fund", "pay", "undo"])
    lines_now = [line.entry_id for line in _lines_of(ledger, ani, 100, _EARLY, moment + _US)]
    assert (ledger.balance_as_of(ani, moment), lines_now) == (seen_balance, seen_lines)


def test_balance_as_of_a_moment_includes_what_committed_at_that_moment(history: History) -> None:
    ledger, ani = history.ledger, history.ani_id
    assert ledger.balance_as_of(ani, _EARLY) == idr(0)
    assert ledger.balance_as_of(ani, history.posted[0].committed_at - _US) == idr(0)
    for entry, balance in zip(history.posted, history.balances_minor, strict=True):
        assert ledger.balance_as_of(ani, entry.committed_at) == Money(balance, "IDR")
    for previous, entry in zip(history.balances_minor, history.posted[1:], strict=False):
        assert ledger.balance_as_of(ani, entry.committed_at - _US) == Money(previous, "IDR")
    assert ledger.balance_as_of(ani, _LATE) == ledger.account(ani).posted


def _refusal(history: History, **kwargs: object) -> Code:
    arguments: dict[str, object] = {"from_at": _EARLY, "to_at": _LATE, **kwargs}
    with pytest.raises(LedgerError) as refused:
        history.ledger.statement(history.ani_id, **arguments)  # type: ignore[arg-type]
    return refused.value.code


def test_a_page_size_outside_its_limits_is_refused(history: History) -> None:
    sizes: list[object] = [0, -1, PAGE_SIZE_MAX + 1, True, 2.0]
    refused = {repr(size): _refusal(history, page_size=size) for size in sizes}
    assert refused == {repr(size): Code.PAGE_SIZE_INVALID for size in sizes}


def test_a_malformed_cursor_is_refused(history: History) -> None:
    ani = history.ani_id
    cursors = ["", "p", "1", "x1", "p1", f"a{ani}p", f"a{ani}p-1", f"a{ani}p1.5", f"a{ani}p 1"]
    cursors += [f"a{ani}p" + "1" * 20]
    refused = {cursor: _refusal(history, cursor=cursor) for cursor in cursors}
    assert refused == dict.fromkeys(cursors, Code.CURSOR_INVALID)


def test_a_cursor_with_a_non_ascii_digit_is_refused_with_a_code(history: History) -> None:
    # Pinned defect (ledger/statements.py `_parse_cursor`): "²".isdigit() is True but
    # int("²") raises ValueError, which escapes as a crash instead of `cursor_invalid`.
    assert _refusal(history, cursor=f"a{history.ani_id}p²") is Code.CURSOR_INVALID


def test_a_cursor_of_another_accounts_statement_is_refused(history: History) -> None:
    """A cursor names the account it pages: given for another account's statement it is
    `cursor_invalid`, where it silently skipped that account's lines up to its number."""
    first = history.ledger.statement(history.ani_id, from_at=_EARLY, to_at=_LATE, page_size=2)
    assert first.next_cursor is not None
    a = open_wallets(history.ledger, "ani")
    with pytest.raises(LedgerError) as refused:
        history.ledger.statement(
            a["cash"].id, from_at=_EARLY, to_at=_LATE, cursor=first.next_cursor
        )
    assert (refused.value.code, refused.value.field) == (Code.CURSOR_INVALID, "cursor")


def test_a_period_that_is_empty_reversed_or_naive_is_refused(history: History) -> None:
    periods = {
        "reversed": (_LATE, _EARLY),
        "empty": (_EARLY, _EARLY),
        "naive-start": (_EARLY.replace(tzinfo=None), _LATE),
        "naive-end": (_EARLY, _LATE.replace(tzinfo=None)),
    }
    refused = {name: _refusal(history, from_at=f, to_at=t) for name, (f, t) in periods.items()}
    assert refused == dict.fromkeys(periods, Code.PERIOD_INVALID)


_WEST = timezone(timedelta(hours=-5))
_EAST = timezone(timedelta(hours=5))
_MOMENTS: dict[str, Callable[[Ledger, int], object]] = {
    "balance-naive": lambda ledger, i: ledger.balance_as_of(i, datetime(2026, 1, 1)),
    "balance-after-year-9999-in-utc": lambda ledger, i: ledger.balance_as_of(
        i, datetime(9999, 12, 31, 23, 0, tzinfo=_WEST)
    ),
    "statement-before-year-1-in-utc": lambda ledger, i: ledger.statement(
        i, from_at=datetime(1, 1, 1, 1, 0, tzinfo=_EAST), to_at=_LATE
    ),
}


@pytest.mark.parametrize("name", list(_MOMENTS))
def test_a_moment_that_is_naive_or_beyond_the_utc_calendar_is_refused_with_a_code(
    ledger: Ledger, name: str
) -> None:
    """A naive moment, or one whose UTC instant falls outside years 1..9999, is
    `period_invalid` for `balance_as_of` and `statement` alike, not an AssertionError or
    an OverflowError."""
    a = open_wallets(ledger, "ani")
    with pytest.raises(LedgerError) as refused:
        _MOMENTS[name](ledger, a["ani"].id)
    assert refused.value.code is Code.PERIOD_INVALID


def test_statements_and_balances_of_an_unknown_account_are_refused(history: History) -> None:
    with pytest.raises(LedgerError) as statement:
        history.ledger.statement(10**9, from_at=_EARLY, to_at=_LATE)
    with pytest.raises(LedgerError) as balance:
        history.ledger.balance_as_of(10**9, _LATE)
    assert statement.value.code is balance.value.code is Code.ACCOUNT_NOT_FOUND
