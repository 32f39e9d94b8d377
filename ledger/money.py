"""Money: an integer count of minor units in one ISO 4217 currency.

Invariants: `amount_minor` is an `int` (never a float, never a bool) within
`AMOUNT_MINOR_MAX` in absolute value, and the currency is known. Arithmetic only combines
amounts of the same currency. `Decimal` appears only when parsing or rendering major units,
with the currency's exponent and an explicit rounding rule (parsing refuses to round).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ledger.currency import currency_exponent, require_currency
from ledger.errors import LedgerError, LedgerErrorCode

__all__ = ["AMOUNT_MINOR_MAX", "Money"]

# Fits a signed 64-bit column with room for sums of many postings: 10^15 minor units is
# Rp10 trillion at IDR's exponent of 2.
AMOUNT_MINOR_MAX = 10**15
_MAJOR_CHARS_MAX = 40
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DIGITS_MAX = 15
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: `amount_minor` minor units of `currency`."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount_minor) is not int:
            raise LedgerError(LedgerErrorCode.AMOUNT_INVALID, "amount_minor must be an integer")
        if abs(self.amount_minor) > AMOUNT_MINOR_MAX:
            # The message does not render the amount: it may have thousands of digits.
            raise LedgerError(LedgerErrorCode.AMOUNT_TOO_LARGE, "amount exceeds 10^15 minor units")
        require_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return zero in `currency`."""
        return cls(0, currency)

    @classmethod
    def parse(cls, major: str, currency: str) -> Money:
        """Parse a plain decimal string of major units ("39000.00", "-7") exactly; refuse to
        round, and refuse every other form `Decimal` would read (exponents, `_` separators,
        signs other than a leading `-`, spaces, digits of other scripts)."""
        exponent = currency_exponent(currency)
        if not isinstance(major, str) or len(major) > _MAJOR_CHARS_MAX:
            raise LedgerError(LedgerErrorCode.AMOUNT_INVALID, "amounts are short decimal text")
        if not _PLAIN_DECIMAL.fullmatch(major):
            raise LedgerError(LedgerErrorCode.AMOUNT_INVALID, "not a plain decimal amount")
        # The plain form has digits only, so `Decimal` reads it exactly and finitely.
        value = Decimal(major)
        assert value.is_finite()
        # Decide from the exponent alone, before any arithmetic can overflow.
        if value and value.adjusted() + exponent > _DIGITS_MAX:
            raise LedgerError(LedgerErrorCode.AMOUNT_TOO_LARGE, "amount exceeds 10^15 minor units")
        if value != value.quantize(_ONE.scaleb(-exponent)):
            raise LedgerError(
                LedgerErrorCode.AMOUNT_INVALID,
                f"more than {exponent} decimal places for {currency}",
            )
        return cls(int(value.scaleb(exponent)), currency)

    def to_decimal(self) -> Decimal:
        """Return the amount in major units as an exact `Decimal`."""
        return Decimal(self.amount_minor).scaleb(-currency_exponent(self.currency))

    def format(self) -> str:
        """Render as major units with exactly the currency's decimal places ("39000.00")."""
        exponent = currency_exponent(self.currency)
        return f"{self.to_decimal():.{exponent}f}"

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise LedgerError(
                LedgerErrorCode.CURRENCY_MISMATCH,
                f"cannot combine {self.currency} with {other.currency}",
            )

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount_minor <= other.amount_minor

    def is_zero(self) -> bool:
        """True when the amount is exactly zero."""
        return self.amount_minor == 0

    def is_positive(self) -> bool:
        """True when the amount is above zero."""
        return self.amount_minor > 0

    def __str__(self) -> str:
        return f"{self.currency} {self.format()}"
