"""The typed array parameters of `ledger.pg_arrays` on PostgreSQL: what the server reads
back equals the list sent, nulls, extremes and every character included, as the element
type named; an empty list is an empty array of that type; a value out of the type's range
is refused before anything is sent."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.pg_arrays import Bools, Int2s, Int4s, Int8s, Texts

pytestmark = pytest.mark.postgres

_INT8_MAX, _INT4_MAX, _INT2_MAX = 2**63 - 1, 2**31 - 1, 2**15 - 1


Pg = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def pg(pg_url: str) -> Iterator[Pg]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


def _read_back(pg: Pg, value: list[Any], cast: str) -> tuple[object, ...] | None:
    """The list as the server read it, and the type it was sent as."""
    return pg.execute(f"SELECT %b::{cast}, pg_typeof(%b)::text", (value, value)).fetchone()


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
        assert _read_back(pg, value, cast) == (list(value), sent_as)


def test_an_empty_list_is_an_empty_array_of_its_type(pg: Pg) -> None:
    row = pg.execute(
        "SELECT cardinality(%b), pg_typeof(%b)::text, cardinality(%b), pg_typeof(%b)::text",
        (Int8s(), Int8s(), Texts(), Texts()),
    ).fetchone()
    assert row == (0, "bigint[]", 0, "text[]")


def test_the_typed_lists_compare_with_the_columns_they_stand_for(pg: Pg) -> None:
    pg.execute("CREATE TABLE scratch_rows (id bigint, code varchar(3), flag boolean)")
    pg.execute(
        "INSERT INTO scratch_rows SELECT * FROM unnest(%b::bigint[], %b::varchar[], %b::boolean[])",
        (Int8s([1, 2, 3]), Texts(["IDR", None, "SGD"]), Bools([True, None, False])),
    )
    found = pg.execute(
        "SELECT id FROM scratch_rows WHERE id = ANY(%b) AND code = ANY(%b) ORDER BY id",
        (Int8s([3, 1, 7]), Texts(["SGD", "IDR"])),
    ).fetchall()
    assert found == [(1,), (3,)]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (Int8s([_INT8_MAX + 1]), "bigint[]"),
        (Int8s([0, -_INT8_MAX - 2]), "bigint[]"),
        (Int4s([_INT4_MAX + 1]), "integer[]"),
        (Int2s([None, _INT2_MAX + 1]), "smallint[]"),
    ],
)
def test_a_value_out_of_range_is_refused_and_nothing_is_sent(
    pg: Pg, value: list[int | None], kind: str
) -> None:
    with pytest.raises(struct.error):
        pg.execute(f"SELECT %b::{kind}", (value,))
    assert pg.execute("SELECT 1").fetchone() == (1,)
