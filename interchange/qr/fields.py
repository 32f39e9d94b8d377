"""Format rules for single QR fields, shared by encoding, the strict QRIS check and extraction.

Each `require_*` function raises a `QrError` naming the field, or returns nothing. Lengths
count characters, as EMVCo lengths do. Free text (names, cities, labels) may be any Unicode
except control characters and lone surrogates, which have no UTF-8 form.
"""

from __future__ import annotations

import re
import unicodedata

from interchange.qr.errors import QrError, QrErrorCode

__all__ = [
    "CITY_CHARS_MAX",
    "LABEL_CHARS_MAX",
    "NAME_CHARS_MAX",
    "POSTAL_CODE_CHARS_MAX",
    "is_dynamic",
    "require_city",
    "require_country",
    "require_currency_code",
    "require_mcc",
    "require_name",
    "require_postal_code",
    "require_text",
]

NAME_CHARS_MAX = 25
CITY_CHARS_MAX = 15
POSTAL_CODE_CHARS_MAX = 10
LABEL_CHARS_MAX = 25
_MCC_RE = re.compile(r"[0-9]{4}")
_CURRENCY_RE = re.compile(r"[0-9]{3}")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})


def require_text(text: str, *, field: str, chars_max: int = LABEL_CHARS_MAX) -> None:
    """Raise `qr_value_invalid` unless `text` is 1..`chars_max` characters of printable text."""
    if not 1 <= len(text) <= chars_max:
        raise QrError(
            QrErrorCode.VALUE_INVALID, f"{field} must have 1-{chars_max} characters", field=field
        )
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in text):
        raise QrError(QrErrorCode.VALUE_INVALID, f"{field} holds a control character", field=field)


def require_name(text: str) -> None:
    """Merchant name (59): at most 25 characters, then printable text."""
    _require_at_most(text, NAME_CHARS_MAX, QrErrorCode.NAME_TOO_LONG, "59")
    require_text(text, field="59")


def require_city(text: str) -> None:
    """Merchant city (60): at most 15 characters, then printable text."""
    _require_at_most(text, CITY_CHARS_MAX, QrErrorCode.CITY_TOO_LONG, "60")
    require_text(text, field="60")


def require_postal_code(text: str) -> None:
    """Postal code (61): 1-10 printable characters."""
    if not 1 <= len(text) <= POSTAL_CODE_CHARS_MAX:
        raise QrError(QrErrorCode.POSTAL_CODE_INVALID, "postal code must be 1-10", field="61")
    require_text(text, field="61")


def require_mcc(text: str) -> None:
    """Merchant category code (52): exactly four ASCII digits."""
    _require_match(_MCC_RE, text, QrErrorCode.MCC_INVALID, "52")


def require_currency_code(text: str) -> None:
    """Transaction currency (53): three ASCII digits (ISO 4217 numeric)."""
    _require_match(_CURRENCY_RE, text, QrErrorCode.CURRENCY_INVALID, "53")


def require_country(text: str) -> None:
    """Country code (58): two upper-case ASCII letters (ISO 3166-1 alpha-2)."""
    _require_match(_COUNTRY_RE, text, QrErrorCode.COUNTRY_INVALID, "58")


def is_dynamic(point_of_initiation: str | None) -> bool:
    """Return True for "12" (dynamic), False for "11" (static); raise for anything else."""
    if point_of_initiation not in ("11", "12"):
        raise QrError(
            QrErrorCode.POINT_OF_INITIATION_INVALID,
            f"point of initiation is {point_of_initiation!r}, not 11 or 12",
            field="01",
        )
    return point_of_initiation == "12"


def _require_at_most(text: str, chars_max: int, code: QrErrorCode, field: str) -> None:
    if len(text) > chars_max:
        raise QrError(code, f"{field} has {len(text)} characters, over {chars_max}", field=field)


def _require_match(pattern: re.Pattern[str], text: str, code: QrErrorCode, field: str) -> None:
    if pattern.fullmatch(text) is None:
        raise QrError(code, f"{field} is {text!r}", field=field)
