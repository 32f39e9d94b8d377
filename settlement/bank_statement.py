"""A bank statement of the network's settlement account: entries, balances, and their rules.

`BankStatement` is what the bank says happened on one account: an opening balance, booked
entries, and a closing balance. Every statement parser in `settlement`
(`settlement.recon_statement_csv`, `settlement.camt053`) returns one; reconciliation
compares it with what we instructed.

Invariants, checked when a value is built, whoever builds it:
- an entry's amount is positive and its sign is its `direction`; balances are signed
  (negative: overdrawn);
- every amount is in the statement's currency;
- the statement reconciles: opening + credits - debits = closing, exactly;
- text is bounded (ISO 20022 lengths), has no control characters and no surrounding
  whitespace; an absent counterparty is `None`, never "".

Pure: values only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ledger.errors import LedgerError
from ledger.money import Money
from settlement.errors import SettlementError

__all__ = [
    "ACCOUNT_CHARS_MAX",
    "BANK_REFERENCE_CHARS_MAX",
    "COUNTERPARTY_CHARS_MAX",
    "REFERENCE_CHARS_MAX",
    "STATEMENT_ENTRIES_MAX",
    "BankStatement",
    "Direction",
    "StatementEntry",
    "StatementError",
    "StatementErrorCode",
    "parse_statement_amount",
    "parse_statement_date",
    "require_statement_text",
]

# ISO 20022 lengths: IBAN or Max34Text, Max140Text (RmtInf/Ustrd), Max35Text (AcctSvcrRef).
ACCOUNT_CHARS_MAX = 34
REFERENCE_CHARS_MAX = 140
BANK_REFERENCE_CHARS_MAX = 35
COUNTERPARTY_CHARS_MAX = 140
# A day of a national network's settlement account is far below this.
STATEMENT_ENTRIES_MAX = 100_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNSIGNED_DECIMAL = re.compile(r"\d{1,18}(\.\d{1,18})?")
_SIGNED_DECIMAL = re.compile(r"-?\d{1,18}(\.\d{1,18})?")


class StatementErrorCode(StrEnum):
    """Stable codes of statement failures; each parser documents the order of its checks.

    Codes are published and never renamed.
    """

    STATEMENT_TOO_LARGE = "statement_too_large"
    STATEMENT_XML_FORBIDDEN = "statement_xml_forbidden"
    STATEMENT_MALFORMED = "statement_malformed"
    STATEMENT_FORMAT_UNSUPPORTED = "statement_format_unsupported"
    STATEMENT_NOT_SINGLE = "statement_not_single"
    STATEMENT_DATE_INVALID = "statement_date_invalid"
    STATEMENT_DIRECTION_INVALID = "statement_direction_invalid"
    STATEMENT_AMOUNT_INVALID = "statement_amount_invalid"
    STATEMENT_CURRENCY_UNKNOWN = "statement_currency_unknown"
    STATEMENT_CURRENCY_MISMATCH = "statement_currency_mismatch"
    STATEMENT_TEXT_INVALID = "statement_text_invalid"
    STATEMENT_FIELD_TOO_LONG = "statement_field_too_long"
    STATEMENT_BALANCE_MISSING = "statement_balance_missing"
    STATEMENT_DOES_NOT_RECONCILE = "statement_does_not_reconcile"


class StatementError(SettlementError):
    """A statement the caller supplied is refused; `line` is 1-based where known."""

    def __init__(
        self,
        code: StatementErrorCode,
        message: str,
        *,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(code, message, field=field)
        self.line = line

    def at_line(self, line: int) -> StatementError:
        """Return a copy of this error located at `line` (kept if already located)."""
        assert isinstance(self.code, StatementErrorCode)
        located = self.line if self.line is not None else line
        return StatementError(self.code, self.message, field=self.field, line=located)

    def within(self, prefix: str) -> StatementError:
        """Return a copy of this error whose field is nested under `prefix`."""
        assert isinstance(self.code, StatementErrorCode)
        field = f"{prefix}/{self.field}" if self.field else prefix
        return StatementError(self.code, self.message, field=field, line=self.line)


class Direction(StrEnum):
    """Which way money moved on the account: in (`credit`) or out (`debit`)."""

    CREDIT = "credit"
    DEBIT = "debit"


def _fail(code: StatementErrorCode, message: str, field: str) -> StatementError:
    """Build a statement error for `field`."""
    return StatementError(code, message, field=field)


def require_statement_text(value: str, field: str, chars_max: int, *, empty_ok: bool) -> None:
    """Refuse text that is too long, empty (unless allowed), padded, or has control chars.

    Raises `statement_field_too_long`, then `statement_text_invalid`.
    """
    assert isinstance(value, str), f"{field} must be a str"
    if len(value) > chars_max:
        code = StatementErrorCode.STATEMENT_FIELD_TOO_LONG
        raise _fail(code, f"{field} is longer than {chars_max} characters", field)
    if (not value and not empty_ok) or value != value.strip() or _CONTROL.search(value):
        code = StatementErrorCode.STATEMENT_TEXT_INVALID
        message = f"{field} must be non-empty, unpadded text without control characters"
        raise _fail(code, message, field)


def _require_known_currency(currency: str) -> None:
    """Refuse a currency the ledger does not know."""
    try:
        Money.zero(currency)
    except LedgerError as exc:
        code = StatementErrorCode.STATEMENT_CURRENCY_UNKNOWN
        raise _fail(code, f"unknown currency {currency[:8]!r}", "currency") from exc


def _require_currency(amount: Money, currency: str, field: str) -> None:
    """Refuse an amount that is not in the statement's currency."""
    if amount.currency != currency:
        code = StatementErrorCode.STATEMENT_CURRENCY_MISMATCH
        raise _fail(code, f"{field} is in {amount.currency}, not {currency}", field)


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One booked movement: a positive `amount` in `direction` on `booking_date`.

    `reference` is the remittance or end-to-end reference that should carry our
    instruction's reference ("" when the bank gives none); `bank_reference` is the bank's
    own reference for the booking ("" when absent).
    """

    booking_date: date
    amount: Money
    direction: Direction
    reference: str
    bank_reference: str
    counterparty: str | None = None

    def __post_init__(self) -> None:
        assert isinstance(self.booking_date, date), "booking_date must be a date"
        assert isinstance(self.amount, Money), "amount must be Money"
        assert isinstance(self.direction, Direction), "direction must be a Direction"
        if not self.amount.is_positive():
            code = StatementErrorCode.STATEMENT_AMOUNT_INVALID
            raise _fail(code, "entry amounts are positive", "amount")
        require_statement_text(self.reference, "reference", REFERENCE_CHARS_MAX, empty_ok=True)
        limit = BANK_REFERENCE_CHARS_MAX
        require_statement_text(self.bank_reference, "bank_reference", limit, empty_ok=True)
        if self.counterparty is not None:
            limit = COUNTERPARTY_CHARS_MAX
            require_statement_text(self.counterparty, "counterparty", limit, empty_ok=False)

    @property
    def signed_minor(self) -> int:
        """The entry's effect on the balance in minor units: credits add, debits subtract."""
        sign = 1 if self.direction is Direction.CREDIT else -1
        return sign * self.amount.amount_minor


@dataclass(frozen=True, slots=True)
class BankStatement:
    """One account's statement in one currency; it reconciles (see the module docstring).

    `statement_id` is the bank's identifier of the statement, and the dates are those of
    the opening and closing balances, each when the source gives one.
    """

    account: str
    currency: str
    opening: Money
    closing: Money
    entries: tuple[StatementEntry, ...]
    statement_id: str | None = None
    opening_date: date | None = None
    closing_date: date | None = None

    def __post_init__(self) -> None:
        assert isinstance(self.entries, tuple), "entries must be a tuple"
        assert all(isinstance(e, StatementEntry) for e in self.entries), "entries"
        require_statement_text(self.account, "account", ACCOUNT_CHARS_MAX, empty_ok=False)
        if self.statement_id is not None:
            require_statement_text(self.statement_id, "statement_id", 35, empty_ok=False)
        if len(self.entries) > STATEMENT_ENTRIES_MAX:
            code = StatementErrorCode.STATEMENT_TOO_LARGE
            raise _fail(code, f"at most {STATEMENT_ENTRIES_MAX} entries", "entries")
        _require_known_currency(self.currency)
        _require_currency(self.opening, self.currency, "opening")
        _require_currency(self.closing, self.currency, "closing")
        for index, entry in enumerate(self.entries):
            _require_currency(entry.amount, self.currency, f"entries[{index}].amount")
        self._require_reconciles()

    def _require_reconciles(self) -> None:
        """Refuse a statement whose entries do not carry the opening to the closing."""
        moved = sum(entry.signed_minor for entry in self.entries)
        if self.opening.amount_minor + moved != self.closing.amount_minor:
            expected = Money(self.opening.amount_minor + moved, self.currency)
            raise _fail(
                StatementErrorCode.STATEMENT_DOES_NOT_RECONCILE,
                f"opening + entries = {expected.format()}, closing = {self.closing.format()}",
                "closing",
            )

    @property
    def credits(self) -> Money:
        """The sum of the credit entries."""
        total = sum(e.amount.amount_minor for e in self.entries if e.direction is Direction.CREDIT)
        return Money(total, self.currency)

    @property
    def debits(self) -> Money:
        """The sum of the debit entries."""
        total = sum(e.amount.amount_minor for e in self.entries if e.direction is Direction.DEBIT)
        return Money(total, self.currency)


def parse_statement_amount(major: str, currency: str, field: str, *, signed: bool = False) -> Money:
    """Parse a decimal of major units, raising statement codes instead of the ledger's.

    Raises `statement_currency_unknown` for an unknown currency, and
    `statement_amount_invalid` for anything but a plain decimal (`-` only when `signed`)
    with at most the currency's decimal places that `Money` can hold.
    """
    pattern = _SIGNED_DECIMAL if signed else _UNSIGNED_DECIMAL
    _require_known_currency(currency)
    if not pattern.fullmatch(major):
        code = StatementErrorCode.STATEMENT_AMOUNT_INVALID
        raise _fail(code, f"not a plain decimal amount: {major[:40]!r}", field)
    try:
        return Money.parse(major, currency)
    except LedgerError as exc:
        raise _fail(StatementErrorCode.STATEMENT_AMOUNT_INVALID, exc.message, field) from exc


def parse_statement_date(text: str, field: str) -> date:
    """Parse `YYYY-MM-DD`, raising `statement_date_invalid` otherwise."""
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    code = StatementErrorCode.STATEMENT_DATE_INVALID
    raise _fail(code, f"not a YYYY-MM-DD date: {text[:40]!r}", field)
