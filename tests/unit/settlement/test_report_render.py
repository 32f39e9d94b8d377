"""Rendering reports: JSON keeps exact amounts, CSV cannot run formulas, PDF is printable."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pypdf
import pytest

from settlement.report_model import CoopRef, CoopReport, WindowReport, coop_report
from settlement.report_render import report_to_csv, report_to_json, report_to_pdf
from tests.unit.settlement.builders import ALPHA, window_report

EVIL = CoopRef(1, '=HYPERLINK("http://evil.example","x")', '@SUM(1+1)*cmd|" /C calc"!A0')
UNICODE = CoopRef(1, "KSP-ÜNÏ", "Koperasi Sejahtera 合作社 Ñandú <b>&amp; 🙂\tline\nbreak")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def as_view(report: WindowReport, view: str) -> WindowReport | CoopReport:
    """The window report itself, or coop 1's slice of it."""
    return report if view == "window" else coop_report(report, 1)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


# --- JSON ---------------------------------------------------------------------------------


def test_json_carries_every_amount_as_minor_units_and_as_a_decimal_string() -> None:
    report = window_report()
    body = json.loads(report_to_json(report))
    assert (body["report"], body["window_date"], body["status"]) == (
        "window",
        "2025-01-31",
        "settling",
    )
    alpha = body["positions"][0]
    assert (alpha["net_minor"], alpha["net"]) == (-15000, "-150.00")
    assert alpha["coop"] == {"kind": "coop", "coop_id": 1, "code": "KSP-ALPHA", "name": ALPHA.name}
    first = body["instructions"][0]
    assert first["payee"] == {"kind": "network"}
    assert (first["amount_minor"], first["amount"], first["bank_reference"]) == (
        15000,
        "150.00",
        "BNK-77",
    )
    assert body["totals"]["payable_minor"] == report.totals.payable.amount_minor
    assert body["generated_at"] == report.generated_at.isoformat()


def test_json_round_trips_the_key_fields_of_every_row() -> None:
    report = window_report()
    body = json.loads(report_to_json(report))
    positions = [
        (p["coop"]["coop_id"], p["net_minor"], p["fee_income_minor"]) for p in body["positions"]
    ]
    assert positions == [
        (p.coop.coop_id, p.net.amount_minor, p.fee_income.amount_minor) for p in report.positions
    ]
    bilateral = [
        (r["debtor"]["code"], r["creditor"]["code"], r["amount_minor"], r["count"])
        for r in body["bilateral"]
    ]
    assert bilateral == [
        (r.debtor.code, r.creditor.code, r.amount.amount_minor, r.count) for r in report.bilateral
    ]
    instructions = [(i["reference"], i["status"], i["amount_minor"]) for i in body["instructions"]]
    assert instructions == [
        (i.reference, i.status.value, i.amount.amount_minor) for i in report.instructions
    ]


def test_json_holds_no_floats() -> None:
    def walk(value: object) -> None:
        assert not isinstance(value, float)
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(report_to_json(window_report())))


def test_json_of_a_coop_report_names_the_coop_and_its_position() -> None:
    body = json.loads(report_to_json(coop_report(window_report(), 3)))
    assert body["report"] == "coop"
    assert body["coop"]["code"] == "KSP-GAMMA"
    assert body["position"]["net_minor"] == 3000
    assert [i["reference"] for i in body["instructions"]] == ["KOP-0003"]
    assert "totals" not in body


def test_equal_reports_render_to_equal_json() -> None:
    assert report_to_json(window_report()) == report_to_json(window_report())


# --- CSV ----------------------------------------------------------------------------------


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("view", ["window", "coop"])
def test_csv_neutralises_formulas_in_every_text_cell(view: str) -> None:
    report = as_view(window_report(alpha=EVIL), view)
    cells = [cell for row in csv_rows(report_to_csv(report)) for cell in row]
    assert "'" + EVIL.code in cells
    assert "'" + EVIL.name in cells
    numbers = {p.net.format() for p in window_report().positions}
    risky = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert set(risky) <= numbers


def test_csv_keeps_negative_amounts_as_numbers() -> None:
    rows = csv_rows(report_to_csv(window_report()))
    alpha = next(row for row in rows if row[:2] == ["position", "1"])
    assert alpha[4] == "-150.00"


def test_csv_has_a_header_for_every_section_and_matching_row_widths() -> None:
    rows = [row for row in csv_rows(report_to_csv(window_report())) if row]
    headers = [row for row in rows if row[0] == "section"]
    assert len(headers) == 5
    width = 0
    for row in rows:
        if row[0] == "section":
            width = len(row)
        assert len(row) == width, row
    kinds = [row[0] for row in rows if row[0] != "section"]
    assert kinds == ["window", "position", "position", "position"] + ["bilateral"] * 3 + [
        "instruction"
    ] * 3 + ["totals"]


def test_csv_quotes_names_with_commas_quotes_and_line_breaks() -> None:
    rows = csv_rows(report_to_csv(window_report(alpha=UNICODE)))
    alpha = next(row for row in rows if row[:2] == ["position", "1"])
    assert alpha[3] == UNICODE.name


# --- PDF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["window", "coop"])
def test_pdf_is_a_pdf_that_shows_the_window_date(view: str) -> None:
    pdf = report_to_pdf(as_view(window_report(), view))
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    assert "2025-01-31" in text
    assert "KSP-ALPHA" in text


def test_pdf_of_a_window_has_a_page_per_section() -> None:
    reader = pypdf.PdfReader(io.BytesIO(report_to_pdf(window_report())))
    assert len(reader.pages) == 4
    assert reader.metadata is not None and reader.metadata.title is not None
    assert "2025-01-31" in reader.metadata.title


def test_pdf_with_the_builtin_font_replaces_what_it_cannot_draw() -> None:
    pdf = report_to_pdf(window_report(alpha=UNICODE))
    text = pdf_text(pdf)
    assert "Ñandú" in text
    assert "<b>&amp;" in text


def test_pdf_with_a_system_truetype_font_draws_unicode_names() -> None:
    assert DEJAVU.is_file(), "fonts-dejavu-core is part of the project's machine image"
    pdf = report_to_pdf(window_report(alpha=UNICODE), ttf_font=DEJAVU.read_bytes())
    assert pdf.startswith(b"%PDF")
    assert "KSP-ÜNÏ" in pdf_text(pdf)


def test_pdf_of_an_empty_window_renders() -> None:
    full = window_report()
    empty = WindowReport(full.window_date, full.status, "IDR", (), (), (), full.generated_at)
    assert "(none)" in pdf_text(report_to_pdf(empty))


def test_equal_reports_render_to_equal_pdf_bytes() -> None:
    assert report_to_pdf(window_report()) == report_to_pdf(window_report())
