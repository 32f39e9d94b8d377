"""Array parameters that psycopg sends to PostgreSQL in binary with a few C calls each.

psycopg dumps a plain list in Python, element by element, after scanning it to choose the
element type (for integers, the smallest type their largest value fits). A batch's arrays
(its ids, postings, entries and balances) cost the group committer a fifth of its CPU
that way. A list of one of the types here names its element type once, and its dumper
packs the elements with `struct`, as PostgreSQL's binary array format lays them out: a
header (one dimension, a null flag, the element's type), the dimension (length, lower
bound 1), then each element as its byte length and its bytes, or length -1 for null.

Invariants: what PostgreSQL reads back equals the list (nulls included) as the element
type named, text in the connection's encoding; an empty list is an empty array of that
type; a value out of the element type's range raises `struct.error` before anything is
sent. `register` puts the dumpers on one connection's adapters (`ledger.db.make_engine`
does it for every connection it opens) and on nothing else: psycopg's own dumpers, used
where only a column's type is known (COPY), stay as they are. On a connection without
them a typed list is dumped as any list, correctly, only slower.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from itertools import repeat
from typing import Any

from psycopg import postgres, pq
from psycopg.abc import AdaptContext
from psycopg.adapt import AdaptersMap, Dumper

__all__ = ["Bools", "Int2s", "Int4s", "Int8s", "Texts", "register"]

_HEADER = struct.Struct(">iiiii").pack
_EMPTY = struct.Struct(">iii").pack
_LENGTH = struct.Struct(">i").pack
_NULL = _LENGTH(-1)


class Int8s(list[int | None]):
    """A `bigint[]` parameter."""


class Int4s(list[int | None]):
    """An `integer[]` parameter."""


class Int2s(list[int | None]):
    """A `smallint[]` parameter."""


class Bools(list[bool | None]):
    """A `boolean[]` parameter."""


class Texts(list[str | None]):
    """A `text[]` parameter (cast it in the statement for `varchar[]`)."""


# Packs a non-empty list's elements (text in the given encoding); says whether any was null.
_Body = Callable[[list[Any], str], tuple[bytes, bool]]


def _fixed_width(element_format: str) -> _Body:
    """Pack the elements of a fixed-width type, each after its byte length."""
    item = struct.Struct(f">i{element_format}").pack
    width = struct.calcsize(f">{element_format}")

    def body(values: list[Any], _encoding: str) -> tuple[bytes, bool]:
        if None in values:
            return b"".join([_NULL if v is None else item(width, v) for v in values]), True
        return b"".join(map(item, repeat(width, len(values)), values)), False

    return body


def _texts(values: list[str | None], encoding: str) -> tuple[bytes, bool]:
    """Pack each text after its length in bytes."""
    parts: list[bytes] = []
    has_null = False
    for value in values:
        if value is None:
            parts.append(_NULL)
            has_null = True
        else:
            encoded = value.encode(encoding)
            parts.append(_LENGTH(len(encoded)))
            parts.append(encoded)
    return b"".join(parts), has_null


def _dumper(name: str, body: _Body) -> type[Dumper]:
    """A binary dumper of lists of PostgreSQL's type `name`."""
    element = postgres.types[name]
    element_oid, array_oid = element.oid, element.array_oid

    class ArrayDumper(Dumper):
        format = pq.Format.BINARY

        def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
            super().__init__(cls, context)
            # Set on the instance, not the class: a class's oid would also make it
            # psycopg's dumper for every array of the type (`register_dumper`).
            self.oid = array_oid
            # Binary text is read in the connection's encoding, as psycopg's own dumps it.
            self._encoding = self.connection.info.encoding if self.connection else "utf-8"

        def dump(self, obj: list[Any]) -> bytes:
            if not obj:
                return _EMPTY(0, 0, element_oid)
            packed, has_null = body(obj, self._encoding)
            return _HEADER(1, int(has_null), element_oid, len(obj), 1) + packed

    ArrayDumper.__name__ = ArrayDumper.__qualname__ = f"{name.title()}ArrayDumper"
    return ArrayDumper


_DUMPERS: tuple[tuple[type[list[Any]], type[Dumper]], ...] = (
    (Int8s, _dumper("int8", _fixed_width("q"))),
    (Int4s, _dumper("int4", _fixed_width("i"))),
    (Int2s, _dumper("int2", _fixed_width("h"))),
    (Bools, _dumper("bool", _fixed_width("?"))),
    (Texts, _dumper("text", _texts)),
)


def register(adapters: AdaptersMap) -> None:
    """Dump the typed lists with these dumpers wherever `adapters` serve (a connection's)."""
    for cls, dumper in _DUMPERS:
        adapters.register_dumper(cls, dumper)
