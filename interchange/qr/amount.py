"""Amounts, percentages and currencies as QR payloads write them, converted exactly.

Invariants: a QR amount is ASCII digits with an optional "." and fraction, at most 13
characters (EMVCo tag 54), positive, and never has more decimals than its currency's exponent
(trailing zeros included: "39000.000" is refused for IDR rather than silently accepted).
Conversion to `Money` goes through `Decimal` with no rounding. A percentage fee ("0.7",
"05.00") becomes whole basis points. Currencies travel as ISO 4217 numeric codes.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from interchange.qr.errors import QrError, QrErrorCode
from ledger.currency import currency_exponent
from ledger.errors import LedgerError
from ledger.money import Money

__all__ = [
    "AMOUNT_CHARS_MAX",
    "NUMERIC_CURRENCIES",
    "PERCENTAGE_BPS_MAX",
    "currency_alpha",
    "currency_numeric",
    "format_amount",
    "format_percentage_bps",
    "parse_amount",
    "parse_percentage_bps",
    "require_amount_text",
]

AMOUNT_CHARS_MAX = 13
PERCENTAGE_BPS_MAX = 10_000
_AMOUNT_RE = re.compile(r"[0-9]+(?:\.([0-9]+))?")
_PERCENTAGE_RE = re.compile(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?")

# ISO 4217 numeric codes of the currencies the ledger knows.
NUMERIC_CURRENCIES: MappingProxyType[str, str] = MappingProxyType(
    {
        "360": "IDR",
        "840": "USD",
        "978": "EUR",
        "702": "SGD",
        "458": "MYR",
        "764": "THB",
        "608": "PHP",
        "096": "BND",
        "392": "JPY",
        "410": "KRW",
        "704": "VND",
        "414": "KWD",
        "048": "BHD",
        "512": "OMR",
    }
)
_ALPHA_TO_NUMERIC = MappingProxyType({alpha: num for num, alpha in NUMERIC_CURRENCIES.items()})


def require_amount_text(text: str, *, decimals_max: int, field: str = "54") -> None:
    """Raise `qr_amount_invalid` unless `text` is a well-formed amount above zero with few
    enough decimals."""
    match = _AMOUNT_RE.fullmatch(text)
    if len(text) > AMOUNT_CHARS_MAX or match is None:
        raise QrError(QrErrorCode.AMOUNT_INVALID, f"{text!r} is not an amount", field=field)
    if len(match.group(1) or "") > decimals_max:
        raise QrError(
            QrErrorCode.AMOUNT_INVALID,
            f"{text!r} has more than {decimals_max} decimal places",
            field=field,
        )
    if not text.strip("0."):
        raise QrError(QrErrorCode.AMOUNT_INVALID, f"{text!r} is not above zero", field=field)


def parse_amount(text: str, currency: str, *, field: str = "54") -> Money:
    """Parse a QR amount ("39000.00" or "39000") into positive `Money` in `currency`."""
    require_amount_text(text, decimals_max=currency_exponent(currency), field=field)
    try:
        money = Money.parse(text, currency)
    except LedgerError as exc:
        raise QrError(QrErrorCode.AMOUNT_INVALID, exc.message, field=field) from exc
    if not money.is_positive():
        raise QrError(QrErrorCode.AMOUNT_INVALID, "amount must be above zero", field=field)
    return money


def format_amount(money: Money) -> str:
    """Render positive `money` as major units with the currency's decimals ("39000.00")."""
    assert money.is_positive(), money
    text = money.format()
    assert len(text) <= AMOUNT_CHARS_MAX, text
    return text


def parse_percentage_bps(text: str, *, field: str = "57") -> int:
    """Parse a percentage ("0.7", "05.00", "100") into basis points in [1, 10000]."""
    match = _PERCENTAGE_RE.fullmatch(text)
    if match is None:
        raise QrError(QrErrorCode.TIP_VALUE_INVALID, f"{text!r} is not a percentage", field=field)
    fraction = (match.group(2) or "").ljust(2, "0")
    bps = int(match.group(1)) * 100 + int(fraction)
    if not 0 < bps <= PERCENTAGE_BPS_MAX:
        raise QrError(QrErrorCode.TIP_VALUE_INVALID, f"{text!r} is not in (0, 100]", field=field)
    return bps


def format_percentage_bps(bps: int) -> str:
    """Render basis points as the shortest exact percentage (70 gives "0.7", 500 gives "5")."""
    assert 0 < bps <= PERCENTAGE_BPS_MAX, bps
    whole, fraction = divmod(bps, 100)
    if fraction == 0:
        return str(whole)
    return f"{whole}.{fraction:02d}".rstrip("0")


def currency_alpha(numeric: str, *, field: str = "53") -> str:
    """Return the alphabetic code for a numeric one; raise `qr_currency_unsupported`."""
    alpha = NUMERIC_CURRENCIES.get(numeric)
    if alpha is None:
        raise QrError(
            QrErrorCode.CURRENCY_UNSUPPORTED, f"currency {numeric!r} is not supported", field=field
        )
    return alpha


def currency_numeric(alpha: str, *, field: str = "53") -> str:
    """Return the numeric code for an alphabetic one; raise `qr_currency_unsupported`."""
    numeric = _ALPHA_TO_NUMERIC.get(alpha)
    if numeric is None:
        raise QrError(
            QrErrorCode.CURRENCY_UNSUPPORTED, f"currency {alpha!r} is not supported", field=field
        )
    return numeric
