"""The typed array parameters of `ledger.pg_arrays` on PostgreSQL: what the server reads
back equals the list sent, nulls, extremes and every character included, as the element
type named and with the bounds psycopg's own dumpers give; an empty list is an empty array
of that type; a value out of the type's range is refused before anything is sent. Every
connection of `make_engine` dumps them so, and psycopg's own dumpers stay as they were."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import pq

from ledger.db import driver, make_engine
from ledger.pg_arrays import Bools, Int2s, Int4s, Int8s, Texts, register

pytestmark = pytest.mark.postgres

_INT8_MAX, _INT4_MAX, _INT2_MAX = 2**63 - 1, 2**31 - 1, 2**15 - 1
Pg = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def pg(pg_url: str) -> Iterator[Pg]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        register(conn.adapters)
        yield conn


def _read_back(pg: Pg, value: list[Any], cast: str) -> tuple[Any, ...] | None:
    """The list as the server read it, the type it was sent as, and whether the array is
    the one psycopg's own text dumping gives (dimensions and bounds included)."""
    return pg.execute(
        f"SELECT %b::{cast}, pg_typeof(%b)::text, %b::{cast} IS NOT DISTINCT FROM %t::{cast}",
        (value, value, value, list(value)),
    ).fetchone()


def _ints(bound: int) -> st.SearchStrategy[list[int | None]]:
    return st.lists(st.none() | st.integers(-bound - 1, bound), max_size=40)


# Every character PostgreSQL's text holds: any but NUL, surrogates excluded (not UTF-8).
_TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    int8s=_ints(_INT8_MAX),
    int4s=_ints(_INT4_MAX),
    int2s=_ints(_INT2_MAX),
    bools=st.lists(st.none() | st.booleans(), max_size=40),
    texts=st.lists(st.none() | _TEXT, max_size=20),
)
def test_each_list_reads_back_as_sent_with_its_element_type(
    pg: Pg,
    int8s: list[int | None],
    int4s: list[int | None],
    int2s: list[int | None],
    bools: list[bool | None],
    texts: list[str | None],
) -> None:
    cases: list[tuple[list[Any], str, str]] = [
        (Int8s(int8s), "bigint[]", "bigint[]"),
        (Int4s(int4s), "integer[]", "integer[]"),
        (Int2s(int2s), "smallint[]", "smallint[]"),
        (Bools(bools), "boolean[]", "boolean[]"),
        (Texts(texts), "text[]", "text[]"),
        (Texts(texts), "varchar[]", "text[]"),
    ]
    for value, cast, sent_as in cases:
        assert _read_back(pg, value, cast) == (list(value), sent_as, True)


def test_an_empty_list_is_an_empty_array_of_its_type(pg: Pg) -> None:
    row = pg.execute(
        "SELECT cardinality(%b), pg_typeof(%b)::text, cardinality(%b), pg_typeof(%b)::text",
        (Int8s(), Int8s(), Texts(), Texts()),
    ).fetchone()
    assert row == (0, "bigint[]", 0, "text[]")


def test_the_typed_lists_fill_and_match_the_columns_they_stand_for(pg: Pg) -> None:
    pg.execute("CREATE TEMP TABLE scratch_rows (id bigint, code varchar(3), flag boolean)")
    pg.execute(
        "INSERT INTO scratch_rows SELECT * FROM unnest(%b::bigint[], %b::varchar[], %b::boolean[])",
        (Int8s([1, 2, 3]), Texts(["IDR", None, "SGD"]), Bools([True, None, False])),
    )
    found = pg.execute(
        "SELECT id, code, flag FROM scratch_rows WHERE id = ANY(%b) ORDER BY id",
        (Int8s([3, 1, 7]),),
    ).fetchall()
    assert found == [(1, "IDR", True), (3, "SGD", False)]
    by_code = pg.execute(
        "SELECT id FROM scratch_rows WHERE code = ANY(%b) ORDER BY id", (Texts(["SGD"]),)
    ).fetchall()
    assert by_code == [(3,)]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (Int8s([_INT8_MAX + 1]), "bigint[]"),
        (Int8s([0, -_INT8_MAX - 2]), "bigint[]"),
        (Int4s([_INT4_MAX + 1]), "integer[]"),
        (Int4s([-_INT4_MAX - 2]), "integer[]"),
        (Int2s([None, _INT2_MAX + 1]), "smallint[]"),
        (Int2s([-_INT2_MAX - 2]), "smallint[]"),
    ],
)
def test_a_value_out_of_range_is_refused_by_its_dumper(
    pg: Pg, value: list[int | None], kind: str
) -> None:
    # `struct.error` is the dumper's: the server, sent such a value, would answer with a
    # `psycopg` error instead.
    with pytest.raises(struct.error):
        pg.execute(f"SELECT %b::{kind}", (value,))


def test_every_connection_of_make_engine_dumps_them_and_psycopg_keeps_its_own(
    pg_url: str,
) -> None:
    engine = make_engine(pg_url, pool_size=1)
    bigint_array = psycopg.postgres.types["int8"].array_oid
    try:
        with engine.connect() as conn:
            pg = driver(conn)
            # psycopg's own list dumper would send a list of small integers as smallint[].
            sent_as = pg.execute(
                "SELECT pg_typeof(%b)::text, pg_typeof(%b)::text", (Int8s([1]), [1])
            ).fetchone()
            # What psycopg dumps when it knows only the column's type (COPY) is its own.
            by_type = pg.adapters.get_dumper_by_oid(bigint_array, pq.Format.BINARY)
        assert sent_as == ("bigint[]", "smallint[]")
        assert by_type.__module__ != "ledger.pg_arrays"
    finally:
        engine.dispose()
    own = psycopg.adapters.get_dumper_by_oid(bigint_array, pq.Format.BINARY)
    assert own.__module__ != "ledger.pg_arrays"
