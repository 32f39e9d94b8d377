"""Balances as of a moment, and account statements with keyset pagination.

A statement covers the half-open period [from_at, to_at): the opening balance is the
balance after the last posted leg before `from_at`, the closing balance the one after the
last leg before `to_at`, and the lines in between are read in the account's own posting
order. Pages are keyed on the account's posting number, so reading page n costs the same
for an account with ten postings or ten million. Every line carries the balance after it,
so nothing is re-summed.

An answer about a past moment is final: both reads first wait for any transaction that
holds the account to post (`FOR KEY SHARE` against the writers' `FOR UPDATE`). A writer
reads its commit time after it locks the account, but commits later, so without the wait
a reader could miss postings that then appear, stamped before the moment it asked about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, select

from ledger.errors import LedgerError, LedgerErrorCode
from ledger.money import Money
from ledger.store import is_row_id
from ledger.tables import account, entry, posting

__all__ = [
    "PAGE_SIZE_MAX",
    "StatementLine",
    "StatementPage",
    "account_statement",
    "balance_as_of",
]

PAGE_SIZE_MAX = 1000
# A cursor names the account it pages ("a12") and the last posting number shown ("p40").
_CURSOR_PATTERN = re.compile(r"a([0-9]{1,19})p([0-9]{1,18})")


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One posted leg on the account, with the balance right after it."""

    posting_no: int
    entry_id: str
    kind: str
    business_date: date
    committed_at: datetime
    amount: Money
    balance_after: Money
    metadata_json: str | None


@dataclass(frozen=True, slots=True)
class StatementPage:
    """A page of a statement; `next_cursor` is None on the last page."""

    account_id: int
    from_at: datetime
    to_at: datetime
    opening_balance: Money
    closing_balance: Money
    lines: tuple[StatementLine, ...]
    next_cursor: str | None


def _settled_currency(conn: Connection, account_id: int) -> str:
    """The account's currency, once no transaction holds the account to post to it."""
    query = (
        select(account.c.currency).where(account.c.id == account_id).with_for_update(key_share=True)
    )
    currency = conn.execute(query).scalar_one_or_none() if is_row_id(account_id) else None
    if currency is None:
        raise LedgerError(LedgerErrorCode.ACCOUNT_NOT_FOUND, f"no account {account_id}")
    return str(currency)


def _instant(moment: object) -> datetime:
    """`moment` in UTC; a moment that is naive, or outside the calendar in UTC, is refused."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise LedgerError(LedgerErrorCode.PERIOD_INVALID, "moments are UTC-aware datetimes")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise LedgerError(LedgerErrorCode.PERIOD_INVALID, "moment out of range") from None


def _last_before(
    conn: Connection, account_id: int, moment: datetime, *, inclusive: bool
) -> tuple[int, int]:
    """(posting number, balance after) of the last posted leg before `moment`; (0, 0) if none.

    Uses the (account, time) index; an account's legs are numbered in time order because
    each is written under the account's row lock, after the previous one committed."""
    time_filter = posting.c.committed_at <= moment if inclusive else posting.c.committed_at < moment
    query = (
        select(posting.c.account_posting_no, posting.c.balance_after_minor)
        .where(posting.c.account_id == account_id, time_filter, posting.c.is_pending.is_(False))
        .order_by(posting.c.committed_at.desc(), posting.c.account_posting_no.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return (row[0], row[1]) if row else (0, 0)


def balance_as_of(conn: Connection, account_id: int, moment: datetime) -> Money:
    """Return the account's posted balance as it stood at `moment` (inclusive)."""
    moment = _instant(moment)
    currency = _settled_currency(conn, account_id)
    return Money(_last_before(conn, account_id, moment, inclusive=True)[1], currency)


def _parse_cursor(cursor: str | None, account_id: int) -> int:
    """The posting number after which the page starts; `cursor_invalid` for a cursor that
    is malformed or was given for another account's statement (its rows would be skipped)."""
    if cursor is None:
        return 0
    match = _CURSOR_PATTERN.fullmatch(cursor) if isinstance(cursor, str) else None
    if match is None:
        raise LedgerError(LedgerErrorCode.CURSOR_INVALID, "malformed cursor", field="cursor")
    if int(match.group(1)) != account_id:
        message = "the cursor pages another account's statement"
        raise LedgerError(LedgerErrorCode.CURSOR_INVALID, message, field="cursor")
    return int(match.group(2))


def account_statement(
    conn: Connection,
    account_id: int,
    *,
    from_at: datetime,
    to_at: datetime,
    page_size: int = 100,
    cursor: str | None = None,
) -> StatementPage:
    """Return one page of the account's statement for [from_at, to_at)."""
    if _instant(from_at) >= _instant(to_at):
        raise LedgerError(LedgerErrorCode.PERIOD_INVALID, "need from_at < to_at, UTC-aware")
    if type(page_size) is not int or not 1 <= page_size <= PAGE_SIZE_MAX:
        raise LedgerError(LedgerErrorCode.PAGE_SIZE_INVALID, f"page size 1..{PAGE_SIZE_MAX}")
    currency = _settled_currency(conn, account_id)
    first_no, opening = _last_before(conn, account_id, from_at, inclusive=False)
    last_no, closing = _last_before(conn, account_id, to_at, inclusive=False)
    after_no = max(_parse_cursor(cursor, account_id), first_no)
    query = (
        select(
            posting, entry.c.entry_id, entry.c.kind, entry.c.business_date, entry.c.metadata_json
        )
        .join(entry, entry.c.seq == posting.c.entry_seq)
        .where(
            posting.c.account_id == account_id,
            posting.c.account_posting_no > after_no,
            posting.c.account_posting_no <= last_no,
        )
        .order_by(posting.c.account_posting_no)
        .limit(page_size + 1)
    )
    rows = conn.execute(query).all()
    lines = tuple(
        StatementLine(
            r.account_posting_no,
            r.entry_id,
            r.kind,
            r.business_date,
            r.committed_at,
            Money(r.amount_minor, currency),
            Money(r.balance_after_minor, currency),
            r.metadata_json,
        )
        for r in rows[:page_size]
    )
    next_cursor = f"a{account_id}p{lines[-1].posting_no}" if len(rows) > page_size else None
    return StatementPage(
        account_id,
        from_at,
        to_at,
        Money(opening, currency),
        Money(closing, currency),
        lines,
        next_cursor,
    )
