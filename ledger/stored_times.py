"""Stored times and dates read back for the audit, in a form no stored value fails to decode.

The ledger's own reads let the driver decode `timestamptz` and `date` (PostgreSQL) or ISO
text (SQLite), which raises on values the ledger never writes but a writer behind its back
can: 'infinity', a year before 1 or after 9999, text that is no time, a number. The audit
must report such a value and go on, so it selects each time or date in a raw form that
always decodes: on PostgreSQL the seconds since the epoch as `numeric` (exact to the
microsecond, and it holds the infinities), on SQLite the stored bytes. `readable_time` and
`readable_date` turn a raw value into what the driver would have given (UTC-aware
datetimes, dates) or raise `UnreadableTimeError`; NULL stays None (unless the caller
selects it `read_as` a type that reads NULL otherwise: `ledger.stored_values` reads a NULL
in a NOT NULL column as missing).

Invariant: a raw value that the driver decodes gives the same instant or day here; one
outside what Python's dates and UTC datetimes hold, or not a time at all, is
`UnreadableTimeError`, never another error. (A PostgreSQL session in a zone east of UTC
cannot read the last hours of year 9999 UTC either; here they read.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, case, cast, extract, func, null, type_coerce
from sqlalchemy.types import NullType, TypeEngine

__all__ = [
    "TIME_COLUMNS",
    "UnreadableTimeError",
    "raw_moment",
    "readable_date",
    "readable_time",
    "with_raw_times",
]

# The ledger's columns of times and dates (`ledger.tables`), by name.
TIME_COLUMNS = frozenset({"business_date", "expires_at", "committed_at", "created_at", "sealed_at"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.date().toordinal()
_SECONDS_PER_DAY = 86400


class UnreadableTimeError(ValueError):
    """A stored time or date that the ledger's reads cannot decode."""


def raw_moment(
    column: ColumnElement[Any], dialect_name: str, *, read_as: TypeEngine[Any] | None = None
) -> ColumnElement[Any]:
    """`column` (a time or a date) selected in its raw form, labelled with its own name;
    `read_as` (a type whose result processor takes the raw form) reads it, where given."""
    if dialect_name == "postgresql":
        raw: ColumnElement[Any] = extract("epoch", column)
    else:
        # Text as its bytes (even text that is not UTF-8 decodes); a value of another
        # storage class as that class's name: SQLite stores '20261123' written to a date
        # column as an integer, which the ledger's reads cannot read, and as bytes it
        # would read as a day.
        kind = func.typeof(column)
        raw = case({"text": cast(column, LargeBinary), "null": null()}, value=kind, else_=kind)
    assert isinstance(column.key, str), "a table's column"
    return type_coerce(raw, NullType() if read_as is None else read_as).label(column.key)


def with_raw_times(dialect_name: str, *columns: Any) -> list[Any]:
    """`columns`, each time and date among them (`TIME_COLUMNS`) in its raw form."""
    return [raw_moment(c, dialect_name) if c.name in TIME_COLUMNS else c for c in columns]


def readable_time(raw: object) -> datetime | None:
    """The UTC-aware instant a raw time stands for (None for NULL), or `UnreadableTimeError`."""
    if raw is None:
        return None
    try:
        if isinstance(raw, Decimal):
            return _EPOCH + timedelta(microseconds=_microseconds(raw))
        moment = datetime.fromisoformat(_text(raw))
    except (ValueError, OverflowError, ArithmeticError) as error:
        raise UnreadableTimeError(str(error)) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def readable_date(raw: object) -> date:
    """The day a raw date stands for, or `UnreadableTimeError` (a date column is never NULL)."""
    try:
        if isinstance(raw, Decimal):
            days, rest = divmod(_seconds(raw), _SECONDS_PER_DAY)
            if rest:
                raise UnreadableTimeError("a date at a time of day")
            return date.fromordinal(_EPOCH_ORDINAL + int(days))
        return date.fromisoformat(_text(raw))
    except (ValueError, OverflowError, ArithmeticError) as error:
        raise UnreadableTimeError(str(error)) from None


def _seconds(raw: Decimal) -> Decimal:
    if not raw.is_finite():
        raise UnreadableTimeError("not a finite moment")
    return raw


def _microseconds(raw: Decimal) -> int:
    microseconds = _seconds(raw).scaleb(6)
    if microseconds != microseconds.to_integral_value():
        raise UnreadableTimeError("finer than a microsecond")
    return int(microseconds)


def _text(raw: object) -> str:
    """Stored bytes as ASCII text (a time is written in ASCII); anything else is not a time."""
    if isinstance(raw, str):
        raise UnreadableTimeError(f"stored as {raw}, not text")
    if not isinstance(raw, bytes):
        raise UnreadableTimeError(f"stored as {type(raw).__name__}")
    return raw.decode("ascii")
