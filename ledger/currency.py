"""ISO 4217 currencies the ledger accepts, with their minor-unit exponents.

Invariant: a currency code is three upper-case letters and appears here exactly once; its
exponent is the number of decimal places of its minor unit (IDR = 2, JPY = 0, KWD = 3).
"""

from __future__ import annotations

from types import MappingProxyType

from ledger.errors import LedgerError, LedgerErrorCode

__all__ = ["CURRENCY_EXPONENTS", "currency_exponent", "require_currency"]

# Only currencies a cooperative network in the region plausibly meets; adding one is a
# one-line change, and an unknown code is refused rather than guessed.
CURRENCY_EXPONENTS: MappingProxyType[str, int] = MappingProxyType(
    {
        "IDR": 2,
        "USD": 2,
        "EUR": 2,
        "SGD": 2,
        "MYR": 2,
        "THB": 2,
        "PHP": 2,
        "BND": 2,
        "JPY": 0,
        "KRW": 0,
        "VND": 0,
        "KWD": 3,
        "BHD": 3,
        "OMR": 3,
    }
)


def require_currency(code: str) -> str:
    """Return `code` if it is a known ISO 4217 currency; raise `currency_unknown` otherwise."""
    if type(code) is not str or code not in CURRENCY_EXPONENTS:
        raise LedgerError(LedgerErrorCode.CURRENCY_UNKNOWN, f"unknown currency {code!r}")
    return code


def currency_exponent(code: str) -> int:
    """Return the minor-unit exponent of a known currency."""
    return CURRENCY_EXPONENTS[require_currency(code)]
