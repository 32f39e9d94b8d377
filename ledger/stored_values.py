"""Stored text and integers read back for the audit, in a form no stored value fails to read.

SQLite keeps whatever a writer behind the ledger's back stores in a column: text that is
not UTF-8 (Python's sqlite3 raises when it fetches the row, so nothing after it is read), a
blob in a text column, text, a real or a blob in a column of integers (the audit's sums and
comparisons raise on them, or go wrong). The audit must report such a value and go on, so
on SQLite it selects each text and integer column in a raw form that always reads: text as
its stored bytes, an integer as itself, a value of any other storage class as that class's
name (`typeof`). The raw form's type turns it back into what the ledger's reads would give
(`str`, `int`, `bool`, None for NULL) or, for a value they would not, an `Unreadable` that
says what is stored. On PostgreSQL the typed columns hold nothing else, and the columns are
selected as they are. Times and dates are `ledger.stored_times`'s.

On both engines a NULL in a column the schema declares NOT NULL reads as an `Unreadable`
too (`value_missing`): a writer who can drop the constraint can store one, and the audit's
checks would otherwise take it for a value (a posting never moved, a leg not posted) or
fail on it.

Invariant: a value the ledger could have written reads as the driver would read it; any
other comes back as an `Unreadable`, never as an error or as a value of another type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    LargeBinary,
    String,
    case,
    cast,
    func,
    type_coerce,
)
from sqlalchemy import null as sql_null
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.types import UserDefinedType

from ledger.stored_times import TIME_COLUMNS, raw_moment

__all__ = [
    "INTEGER_UNREADABLE",
    "TEXT_UNREADABLE",
    "VALUE_MISSING",
    "Unreadable",
    "raw_value",
    "unreadable_values",
]

# The audit's finding codes for a value that does not read (never renamed once published).
TEXT_UNREADABLE = "text_unreadable"
INTEGER_UNREADABLE = "integer_unreadable"
VALUE_MISSING = "value_missing"
# SQLite's storage classes (`typeof`), as a finding's detail names them.
_STORED = {"text": "text", "integer": "an integer", "real": "a real", "blob": "a blob"}


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored value the ledger's reads cannot read: the finding's `code`, what is stored."""

    code: str
    stored: str

    def __str__(self) -> str:
        # Subjects name rows by their values; one that does not read shows as "?".
        return "?"


def raw_value(
    column: ColumnElement[Any], dialect_name: str, *, required: bool | None = None
) -> ColumnElement[Any]:
    """`column` selected in a raw form that always reads (on SQLite; elsewhere as it is),
    labelled with its own name. A NULL reads as `Unreadable` (`value_missing`) when the
    column is `required`: by default, when the schema declares it NOT NULL."""
    assert isinstance(column.key, str), "a table's column"
    required = not getattr(column, "nullable", True) if required is None else required
    if column.key in TIME_COLUMNS:
        return raw_moment(column, dialect_name, read_as=_Present() if required else None)
    if dialect_name != "sqlite":
        return type_coerce(column, _Present()).label(column.key) if required else column
    kind = func.typeof(column)
    read_as: _RawForm
    as_read: ColumnElement[Any]
    if isinstance(column.type, String):
        # As bytes: even text that is not UTF-8 reads.
        read_as, readable, as_read = _RawText(required), "text", cast(column, LargeBinary)
    else:
        assert isinstance(column.type, Integer | Boolean), f"{column.key} is text or a number"
        boolean = isinstance(column.type, Boolean)
        read_as = _RawBoolean(required) if boolean else _RawInteger(required)
        readable, as_read = "integer", column
    raw = case({readable: as_read, "null": sql_null()}, value=kind, else_=kind)
    return type_coerce(raw, read_as).label(column.key)


def unreadable_values(row: Row[Any]) -> list[tuple[str, Unreadable]]:
    """The values of `row` (selected in raw forms) that do not read, by column name."""
    # The audit asks this of every row: the common answer, none, is found without a loop
    # in Python.
    if Unreadable not in map(type, row):
        return []
    named = zip(row._fields, row, strict=True)
    return [(name, value) for name, value in named if type(value) is Unreadable]


# What a NULL in a NOT NULL column reads as.
_MISSING = Unreadable(VALUE_MISSING, "NULL, though the column is NOT NULL")


class _RawForm(UserDefinedType[object]):
    """A raw form's type: it reads each value with one plain function (the audit reads
    millions), NULL as None or, in a `required` column, as missing; never bound or created."""

    # The function that reads a value, given first what it gives for NULL.
    reader: Callable[[object, Any], object]

    def __init__(self, required: bool = False) -> None:
        self.required = required
        missing = _MISSING if required else None
        # A positional partial: the cheapest call that carries `missing` along.
        self.read: Callable[[Any], object] = partial(type(self).reader, missing)

    def get_col_spec(self, **kw: Any) -> str:
        raise AssertionError("a raw form is selected, never created")

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], object]:
        return self.read


def _read_text(missing: object, value: Any) -> object:
    """Stored bytes as UTF-8 text; a value of another storage class arrives as its name."""
    if type(value) is bytes:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return Unreadable(TEXT_UNREADABLE, "text that is not UTF-8")
    return missing if value is None else Unreadable(TEXT_UNREADABLE, _STORED.get(value, value))


def _read_integer(missing: object, value: Any) -> object:
    """An integer as itself; a value of another storage class arrives as its name."""
    if type(value) is int:
        return value
    return missing if value is None else Unreadable(INTEGER_UNREADABLE, _STORED.get(value, value))


def _read_boolean(missing: object, value: Any) -> object:
    """A boolean, stored as an integer on SQLite, read as the driver reads it (`bool`)."""
    return bool(value) if type(value) is int else _read_integer(missing, value)


def _read_present(value: Any) -> object:
    """A value the driver has read already (PostgreSQL's, or a raw time), as it is; NULL
    as missing."""
    return _MISSING if value is None else value


class _RawText(_RawForm):
    cache_ok = True  # Read from each class on its own; `required` is its cache key.
    reader = staticmethod(_read_text)


class _RawInteger(_RawForm):
    cache_ok = True  # Read from each class on its own; `required` is its cache key.
    reader = staticmethod(_read_integer)


class _RawBoolean(_RawForm):
    cache_ok = True  # Read from each class on its own; `required` is its cache key.
    reader = staticmethod(_read_boolean)


class _Present(_RawForm):
    """A required column whose values the driver reads: only NULL is read here."""

    cache_ok = True  # Read from each class on its own.

    def __init__(self) -> None:
        self.read = _read_present
