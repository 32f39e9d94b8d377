"""Statements and balances as of a moment, on both engines.

Ani's account gets eleven posted movements (ten deposits of Rp1..Rp10 and one withdrawal
of Rp5) and one hold, which statements never show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ledger.entry import Entry, EntryKind
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import Money
from ledger.service import Ledger
from ledger.statements import PAGE_SIZE_MAX, StatementLine
from tests.builders import idr, open_wallets, transfer

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


def _all_lines(history: History, page_size: int, **period: datetime) -> list[StatementLine]:
    window = {"from_at": _EARLY, "to_at": _LATE, **period}
    lines: list[StatementLine] = []
    cursor: str | None = None
    for _ in range(100):
        page = history.ledger.statement(
            history.ani_id, page_size=page_size, cursor=cursor, **window
        )
        assert len(page.lines) <= page_size
        lines.extend(page.lines)
        cursor = page.next_cursor
        if cursor is None:
            return lines
        assert len(page.lines) == page_size
    raise AssertionError("pagination did not end")


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
    cursors = ["", "p", "1", "x1", "p-1", "p1.5", "p 1", "p" + "1" * 20]
    refused = {cursor: _refusal(history, cursor=cursor) for cursor in cursors}
    assert refused == dict.fromkeys(cursors, Code.CURSOR_INVALID)


def test_a_cursor_with_a_non_ascii_digit_is_refused_with_a_code(history: History) -> None:
    # Pinned defect (ledger/statements.py `_parse_cursor`): "²".isdigit() is True but
    # int("²") raises ValueError, which escapes as a crash instead of `cursor_invalid`.
    assert _refusal(history, cursor="p²") is Code.CURSOR_INVALID


def test_a_period_that_is_empty_reversed_or_naive_is_refused(history: History) -> None:
    periods = {
        "reversed": (_LATE, _EARLY),
        "empty": (_EARLY, _EARLY),
        "naive-start": (_EARLY.replace(tzinfo=None), _LATE),
        "naive-end": (_EARLY, _LATE.replace(tzinfo=None)),
    }
    refused = {name: _refusal(history, from_at=f, to_at=t) for name, (f, t) in periods.items()}
    assert refused == dict.fromkeys(periods, Code.PERIOD_INVALID)


def test_statements_and_balances_of_an_unknown_account_are_refused(history: History) -> None:
    with pytest.raises(LedgerError) as statement:
        history.ledger.statement(10**9, from_at=_EARLY, to_at=_LATE)
    with pytest.raises(LedgerError) as balance:
        history.ledger.balance_as_of(10**9, _LATE)
    assert statement.value.code is balance.value.code is Code.ACCOUNT_NOT_FOUND
