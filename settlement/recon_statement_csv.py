"""The simple CSV bank statement format, and its import into a `BankStatement`.

The format, one table, UTF-8, an optional BOM, RFC 4180 quoting:

    booking_date,direction,amount,currency,reference,bank_reference,counterparty
    2025-01-31,opening,10000.00,IDR,ACC-0001,,
    2025-01-31,credit,500.00,IDR,KOP-20250131-0001,LEDGER-000123,Koperasi Maju
    2025-01-31,debit,6.50,IDR,KOP-20250131-0002,LEDGER-000124,
    2025-01-31,closing,10493.50,IDR,ACC-0001,,

- the header is exactly these seven names (case and surrounding spaces aside); blank lines
  are skipped; every other line has exactly seven cells;
- `direction` is `credit` or `debit` for an entry, `opening` or `closing` for a balance row;
  exactly one `opening` row comes first and exactly one `closing` row comes last: a
  statement without balances cannot be checked for completeness, so both are required;
- on a balance row `amount` is signed, `reference` holds the account identifier (the same on
  both rows), `bank_reference` and `counterparty` are empty, and `booking_date` (the
  balance's date) may be empty;
- on an entry `booking_date` is `YYYY-MM-DD` and `amount` is a positive decimal in major
  units with at most the currency's decimal places (`500.00`, `500`; no sign, no
  thousands separators, no exponent);
- `currency` is the same ISO 4217 code on every row.

Checks run top to bottom, row by row: size (`statement_too_large`), CSV syntax and shape
(`statement_malformed`), header (`statement_format_unsupported`); then per row the
direction, the currency (`statement_currency_unknown`, `statement_currency_mismatch`), the
row's place (`statement_malformed`: a second opening, anything after the closing;
`statement_balance_missing`: an entry before the opening), the date, the amount and the
text; at the end missing balances, then the sum (`statement_does_not_reconcile`). Each
error carries the 1-based `line` of the row at fault when there is one.

Pure: text in, values out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Final

from ledger.money import Money
from settlement.bank_statement import (
    ACCOUNT_CHARS_MAX,
    STATEMENT_ENTRIES_MAX,
    BankStatement,
    Direction,
    StatementEntry,
    StatementError,
    StatementErrorCode,
    parse_statement_amount,
    parse_statement_date,
    require_statement_text,
)

__all__ = ["CSV_HEADER", "STATEMENT_CSV_CHARS_MAX", "parse_statement_csv"]

# About 300 characters a row for STATEMENT_ENTRIES_MAX rows.
STATEMENT_CSV_CHARS_MAX = 32 * 2**20
CSV_HEADER: Final = (
    "booking_date",
    "direction",
    "amount",
    "currency",
    "reference",
    "bank_reference",
    "counterparty",
)


@dataclass(frozen=True, slots=True)
class _Row:
    """One non-blank CSV data row: its 1-based line and its seven stripped cells."""

    line: int
    cells: tuple[str, ...]

    def cell(self, name: str) -> str:
        """Return the cell of column `name`."""
        return self.cells[CSV_HEADER.index(name)]


def _rows(text: str) -> Iterator[_Row]:
    """Yield the header and data rows, skipping blank lines; refuse bad CSV and shapes.

    The first row is the header, whatever its length; `_require_header` judges it.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    is_header = True
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(CSV_HEADER) and not is_header:
                raise StatementError(
                    StatementErrorCode.STATEMENT_MALFORMED,
                    f"expected {len(CSV_HEADER)} cells, found {len(cells)}",
                    line=reader.line_num,
                )
            is_header = False
            yield _Row(reader.line_num, tuple(cell.strip() for cell in cells))
    except csv.Error as exc:
        code = StatementErrorCode.STATEMENT_MALFORMED
        raise StatementError(code, f"not valid CSV: {exc}", line=reader.line_num) from exc


def _require_header(row: _Row | None) -> None:
    """Refuse a missing header or one other than `CSV_HEADER`."""
    if row is None or tuple(cell.lower() for cell in row.cells) != CSV_HEADER:
        code = StatementErrorCode.STATEMENT_FORMAT_UNSUPPORTED
        line = row.line if row is not None else 1
        raise StatementError(code, "header must be " + ",".join(CSV_HEADER), line=line)


def _kind(row: _Row) -> str:
    """Return the row's direction cell, lower-cased, refusing unknown kinds."""
    kind = row.cell("direction").lower()
    if kind not in {"credit", "debit", "opening", "closing"}:
        code = StatementErrorCode.STATEMENT_DIRECTION_INVALID
        message = "direction is credit, debit, opening or closing"
        raise StatementError(code, message, field="direction", line=row.line)
    return kind


@dataclass(frozen=True, slots=True)
class _Balance:
    """A parsed balance row."""

    line: int
    account: str
    amount: Money
    on_date: date | None


def _balance(row: _Row) -> _Balance:
    """Parse an opening or closing row: signed amount, account in `reference`."""
    booking = row.cell("booking_date")
    on_date = parse_statement_date(booking, "booking_date") if booking else None
    amount = parse_statement_amount(row.cell("amount"), row.cell("currency"), "amount", signed=True)
    if row.cell("bank_reference") or row.cell("counterparty"):
        code = StatementErrorCode.STATEMENT_MALFORMED
        message = "balance rows leave bank_reference and counterparty empty"
        raise StatementError(code, message, field="bank_reference")
    account = row.cell("reference")
    require_statement_text(account, "reference", ACCOUNT_CHARS_MAX, empty_ok=False)
    return _Balance(row.line, account, amount, on_date)


def _entry(row: _Row, kind: str) -> StatementEntry:
    """Parse a credit or debit row."""
    booking_date = parse_statement_date(row.cell("booking_date"), "booking_date")
    amount = parse_statement_amount(row.cell("amount"), row.cell("currency"), "amount")
    counterparty = row.cell("counterparty") or None
    return StatementEntry(
        booking_date,
        amount,
        Direction(kind),
        row.cell("reference"),
        row.cell("bank_reference"),
        counterparty,
    )


def _missing(what: str, line: int) -> StatementError:
    """The error for a missing balance row."""
    code = StatementErrorCode.STATEMENT_BALANCE_MISSING
    return StatementError(code, f"the {what} row is missing", line=line)


@dataclass
class _Collector:
    """Mutable state while reading rows; discarded once the statement is built."""

    opening: _Balance | None = None
    closing: _Balance | None = None
    entries: list[StatementEntry] | None = None
    currency: str | None = None

    def add(self, row: _Row) -> None:
        """Take one data row, in file order."""
        kind = _kind(row)
        self.currency = self.currency or row.cell("currency")
        _require_currency_cell(row, self.currency)
        if self.closing is not None or (kind == "opening" and self.opening is not None):
            code = StatementErrorCode.STATEMENT_MALFORMED
            message = "one opening row first, one closing row last"
            raise StatementError(code, message, field="direction", line=row.line)
        if kind == "opening":
            self.opening = _balance(row)
            self.entries = []
        elif self.opening is None or self.entries is None:
            raise _missing("opening", row.line)
        elif kind == "closing":
            self.closing = _balance(row)
        else:
            self._add_entry(row, kind)

    def _add_entry(self, row: _Row, kind: str) -> None:
        """Append an entry, refusing more than `STATEMENT_ENTRIES_MAX`."""
        assert self.entries is not None
        if len(self.entries) >= STATEMENT_ENTRIES_MAX:
            code = StatementErrorCode.STATEMENT_TOO_LARGE
            message = f"at most {STATEMENT_ENTRIES_MAX} entries"
            raise StatementError(code, message, line=row.line)
        self.entries.append(_entry(row, kind))


def _require_currency_cell(row: _Row, currency: str) -> None:
    """Refuse a row whose currency cell differs from the first row's."""
    if row.cell("currency") != currency:
        code = StatementErrorCode.STATEMENT_CURRENCY_MISMATCH
        message = f"currency {row.cell('currency')[:8]!r} differs from {currency}"
        raise StatementError(code, message, field="currency", line=row.line)


def _build(collected: _Collector, last_line: int) -> BankStatement:
    """Build the statement from the collected rows, checking balances and the sum."""
    opening, closing = collected.opening, collected.closing
    if opening is None or collected.entries is None:
        raise _missing("opening", last_line)
    if closing is None:
        raise _missing("closing", last_line)
    if closing.account != opening.account:
        code = StatementErrorCode.STATEMENT_MALFORMED
        message = "opening and closing rows name different accounts"
        raise StatementError(code, message, field="reference", line=closing.line)
    try:
        return BankStatement(
            opening.account,
            opening.amount.currency,
            opening.amount,
            closing.amount,
            tuple(collected.entries),
            opening_date=opening.on_date,
            closing_date=closing.on_date,
        )
    except StatementError as exc:
        raise exc.at_line(closing.line) from None


def parse_statement_csv(text: str) -> BankStatement:
    """Parse the CSV statement format described in the module docstring.

    Raises `StatementError` with the first failure, in the documented order, located by
    line where a row is at fault.
    """
    assert isinstance(text, str), "text must be a str"
    if len(text) > STATEMENT_CSV_CHARS_MAX:
        code = StatementErrorCode.STATEMENT_TOO_LARGE
        raise StatementError(code, f"at most {STATEMENT_CSV_CHARS_MAX} characters")
    rows = _rows(text.removeprefix("\ufeff"))
    _require_header(next(rows, None))
    collected, last_line = _Collector(), 1
    for row in rows:
        last_line = row.line
        try:
            collected.add(row)
        except StatementError as exc:
            raise exc.at_line(row.line) from None
    return _build(collected, last_line)
