"""A settlement report as a printable PDF: one section a page, tables that repeat headers.

Layout: A4 landscape. A window report has a summary page (identity and totals), then
positions, bilateral obligations and instructions, each starting a new page and running
onto further pages as needed. A coop report has its summary and position, its bilateral
rows and its instructions.

Fonts, and why: by default the PDF uses the standard Helvetica, which every PDF reader
has, so nothing is embedded, nothing is read from disk and the output does not depend on
the machine. Helvetica covers Windows-1252 (Latin with accents, which is what Indonesian
names use); any other character is replaced by `?` rather than crashing. A caller that
wants full Unicode passes the bytes of a TrueType font (`ttf_font`), for example DejaVu
Sans from `/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf` (Debian's fonts-dejavu-core,
present on the project's machines), read in the shell; its used glyphs are embedded and
characters it lacks draw as its blank glyph. ReportLab keeps registered fonts in a process
registry, so a font is registered once under a name derived from its digest.

Text from the registry (names, references) is drawn as plain strings, never parsed as
markup; control characters become spaces and long cells are cut with an ellipsis. The
document is rendered in ReportLab's invariant mode (fixed dates and ids), so the same
report gives the same bytes.

Pure apart from ReportLab's font registry: values in, bytes out.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from settlement.report_model import (
    BilateralLine,
    CoopRef,
    CoopReport,
    InstructionLine,
    PositionLine,
    ReportParty,
    WindowReport,
)

__all__ = ["CELL_CHARS_MAX", "report_to_pdf"]

# Long enough for a registered name, short enough that a row stays on the page.
CELL_CHARS_MAX = 40
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class _Fonts:
    """The faces to draw with, and how to make text drawable in them."""

    regular: str
    bold: str
    drawable: Callable[[str], str]


def _latin(text: str) -> str:
    """Text Helvetica can draw: Windows-1252, anything else replaced by `?`."""
    return text.encode("cp1252", errors="replace").decode("cp1252")


def _fonts(ttf_font: bytes | None) -> _Fonts:
    """The standard Helvetica, or the given TrueType font registered once by digest."""
    if ttf_font is None:
        return _Fonts("Helvetica", "Helvetica-Bold", _latin)
    name = "kopnet-" + hashlib.sha256(ttf_font).hexdigest()[:16]
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, io.BytesIO(ttf_font)))
    return _Fonts(name, name, str)


def _cell(fonts: _Fonts, text: str) -> str:
    """A table cell: control characters as spaces, cut to `CELL_CHARS_MAX`, drawable."""
    flat = _CONTROL.sub(" ", text)
    if len(flat) > CELL_CHARS_MAX:
        flat = flat[: CELL_CHARS_MAX - 1] + "…"
    return fonts.drawable(flat)


def _party(party: ReportParty) -> tuple[str, str]:
    """Code and name of a party; the network is `NETWORK`."""
    if isinstance(party, CoopRef):
        return party.code, party.name
    return "NETWORK", "network settlement account"


def _table(
    fonts: _Fonts,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[int] = (),
) -> Table:
    """A grid with a bold, shaded header repeated on every page; `numeric` columns right."""
    body = [[_cell(fonts, text) for text in row] for row in rows]
    body = body or [["(none)"] + [""] * (len(header) - 1)]
    table = Table([list(header), *body], repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), fonts.regular, 8),
                ("FONT", (0, 0), (-1, 0), fonts.bold, 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                *(("ALIGN", (column, 1), (column, -1), "RIGHT") for column in numeric),
            ]
        )
    )
    return table


def _heading(fonts: _Fonts, text: str, size: int = 14) -> Paragraph:
    """A heading paragraph; the text is escaped, never read as markup."""
    style = ParagraphStyle("heading", fontName=fonts.bold, fontSize=size, leading=size + 4)
    return Paragraph(escape(fonts.drawable(_CONTROL.sub(" ", text))), style)


def _position_rows(positions: Sequence[PositionLine]) -> list[list[str]]:
    """Position rows: coop, net, gross and fees."""
    return [
        [
            p.coop.code,
            p.coop.name,
            *(a.format() for a in (p.net, p.payable, p.receivable, p.fee_income, p.fee_cost)),
        ]
        for p in positions
    ]


def _bilateral_rows(rows: Sequence[BilateralLine]) -> list[list[str]]:
    """Bilateral rows: debtor, creditor, amount and count."""
    return [
        [
            r.debtor.code,
            r.debtor.name,
            r.creditor.code,
            r.creditor.name,
            r.amount.format(),
            str(r.count),
        ]
        for r in rows
    ]


def _instruction_rows(rows: Sequence[InstructionLine]) -> list[list[str]]:
    """Instruction rows: reference, parties, amount, status and the bank's reference."""
    return [
        [
            r.reference,
            *_party(r.payer),
            *_party(r.payee),
            r.amount.format(),
            r.status.value,
            r.bank_reference or "",
        ]
        for r in rows
    ]


_POSITION_HEADER = ("Code", "Name", "Net", "Payable", "Receivable", "Fee income", "Fee cost")
_NUMBERS = (2, 3, 4, 5, 6)  # the position table's amount columns
_BILATERAL_HEADER = ("Debtor", "Debtor name", "Creditor", "Creditor name", "Amount", "Count")
_INSTRUCTION_HEADER = ("Reference", "Payer", "Payer name", "Payee", "Payee name")
_INSTRUCTION_TAIL = ("Amount", "Status", "Bank reference")


def _title(report: WindowReport | CoopReport) -> str:
    """The document's title, which also heads its first page."""
    title = f"Settlement window {report.window_date.isoformat()}"
    if isinstance(report, CoopReport):
        title += f" - {report.coop.code} {report.coop.name}"
    return title


def _summary(fonts: _Fonts, report: WindowReport | CoopReport) -> list[Flowable]:
    """The first page: title, identity, and totals or the coop's position."""
    identity = [
        ["Window date", report.window_date.isoformat()],
        ["Status", report.status.value],
        ["Currency", report.currency],
        ["Generated at", report.generated_at.isoformat()],
    ]
    if isinstance(report, WindowReport):
        totals = report.totals
        identity += [
            ["Payable", totals.payable.format()],
            ["Receivable", totals.receivable.format()],
            ["Fee income", totals.fee_income.format()],
            ["Fee cost", totals.fee_cost.format()],
            ["Obligations", str(totals.obligation_count)],
            ["Instructions", str(totals.instruction_count)],
            ["Instructed", totals.instructed.format()],
            ["Confirmed", totals.confirmed.format()],
        ]
    flow: list[Flowable] = [_heading(fonts, _title(report)), Spacer(1, 4 * mm)]
    flow.append(_table(fonts, ("Field", "Value"), identity))
    if isinstance(report, CoopReport):
        flow += [Spacer(1, 6 * mm), _heading(fonts, "Position and fees", 11)]
        flow.append(_table(fonts, _POSITION_HEADER, _position_rows((report.position,)), _NUMBERS))
    return flow


def _section(fonts: _Fonts, title: str, table: Table) -> list[Flowable]:
    """A new page with a heading and a table."""
    return [PageBreak(), _heading(fonts, title, 12), Spacer(1, 4 * mm), table]


def report_to_pdf(report: WindowReport | CoopReport, *, ttf_font: bytes | None = None) -> bytes:
    """Render a window or coop report as PDF bytes; see the module docstring for fonts."""
    fonts = _fonts(ttf_font)
    flow = _summary(fonts, report)
    if isinstance(report, WindowReport):
        positions = _table(fonts, _POSITION_HEADER, _position_rows(report.positions), _NUMBERS)
        flow += _section(fonts, "Positions", positions)
    bilateral = _table(fonts, _BILATERAL_HEADER, _bilateral_rows(report.bilateral), (4, 5))
    flow += _section(fonts, "Bilateral obligations", bilateral)
    header = (*_INSTRUCTION_HEADER, *_INSTRUCTION_TAIL)
    instructions = _table(fonts, header, _instruction_rows(report.instructions), (5,))
    flow += _section(fonts, "Instructions", instructions)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        title=fonts.drawable(_title(report)),
        author="kopnet",
        invariant=True,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
    )
    document.build(flow)
    return buffer.getvalue()
