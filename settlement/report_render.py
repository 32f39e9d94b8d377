"""Rendering settlement reports: JSON for machines, CSV for spreadsheets, PDF for people.

- `report_to_json`: one object; every amount twice, as integer minor units (`net_minor`)
  and as a decimal string of major units (`net`), never a float; parties as objects
  (`{"kind": "coop", "coop_id", "code", "name"}` or `{"kind": "network"}`); keys in a
  fixed order, so equal reports give equal text. `format_version` is 1.
- `report_to_csv`: sections separated by a blank line, each a header row whose first cell
  is `section` and rows whose first cell names the section (`window`, `position`,
  `bilateral`, `instruction`, `totals`; a coop report has `window`, `position`, `bilateral`,
  `instruction`). Amounts are decimal strings of major units. Every text cell goes through
  `interchange.safe_text.for_csv`, so a coop named `=HYPERLINK("x")` comes out as the text
  `'=HYPERLINK("x")`; only the numbers this module formats itself are left as they are
  (a negative net must stay a number). Quoting is `csv.writer`'s; lines end in CRLF.
- `report_to_pdf`: see `settlement.report_pdf` (re-exported here).

Pure: values in, text or bytes out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from interchange.safe_text import for_csv
from ledger.money import Money
from settlement.report_model import (
    BilateralLine,
    CoopRef,
    CoopReport,
    InstructionLine,
    PositionLine,
    ReportParty,
    WindowReport,
    WindowTotals,
)
from settlement.report_pdf import report_to_pdf

__all__ = ["JSON_FORMAT_VERSION", "report_to_csv", "report_to_json", "report_to_pdf"]

JSON_FORMAT_VERSION = 1
_Json = dict[str, Any]


# --- JSON ---------------------------------------------------------------------------------


def _amounts(**amounts: Money) -> _Json:
    """Each amount as `<name>_minor` (int) and `<name>` (decimal string), in order given."""
    fields: _Json = {}
    for name, amount in amounts.items():
        fields[f"{name}_minor"] = amount.amount_minor
        fields[name] = amount.format()
    return fields


def _coop_json(coop: CoopRef) -> _Json:
    """A coop as an object."""
    return {"kind": "coop", "coop_id": coop.coop_id, "code": coop.code, "name": coop.name}


def _party_json(party: ReportParty) -> _Json:
    """A coop, or the network's settlement account."""
    return _coop_json(party) if isinstance(party, CoopRef) else {"kind": "network"}


def _position_json(row: PositionLine) -> _Json:
    """A position row."""
    money = _amounts(
        net=row.net,
        payable=row.payable,
        receivable=row.receivable,
        fee_income=row.fee_income,
        fee_cost=row.fee_cost,
    )
    return {"coop": _coop_json(row.coop), **money}


def _bilateral_json(row: BilateralLine) -> _Json:
    """A bilateral row."""
    parties = {"debtor": _coop_json(row.debtor), "creditor": _coop_json(row.creditor)}
    return {**parties, **_amounts(amount=row.amount), "count": row.count}


def _instruction_json(row: InstructionLine) -> _Json:
    """An instruction row."""
    return {
        "reference": row.reference,
        "payer": _party_json(row.payer),
        "payee": _party_json(row.payee),
        **_amounts(amount=row.amount),
        "status": row.status.value,
        "bank_reference": row.bank_reference,
    }


def _totals_json(totals: WindowTotals) -> _Json:
    """The window's totals."""
    money = _amounts(
        payable=totals.payable,
        receivable=totals.receivable,
        fee_income=totals.fee_income,
        fee_cost=totals.fee_cost,
        instructed=totals.instructed,
        confirmed=totals.confirmed,
    )
    counts = {"obligation_count": totals.obligation_count}
    return {**money, **counts, "instruction_count": totals.instruction_count}


def _header_json(report: WindowReport | CoopReport) -> _Json:
    """The fields both kinds of report share, first."""
    return {
        "report": "window" if isinstance(report, WindowReport) else "coop",
        "format_version": JSON_FORMAT_VERSION,
        "window_date": report.window_date.isoformat(),
        "status": report.status.value,
        "currency": report.currency,
        "generated_at": report.generated_at.isoformat(),
    }


def report_to_json(report: WindowReport | CoopReport) -> str:
    """Render a window or coop report as JSON text (UTF-8, indented, keys in fixed order)."""
    body = _header_json(report)
    if isinstance(report, WindowReport):
        body["positions"] = [_position_json(row) for row in report.positions]
    else:
        body["coop"] = _coop_json(report.coop)
        body["position"] = _position_json(report.position)
    body["bilateral"] = [_bilateral_json(row) for row in report.bilateral]
    body["instructions"] = [_instruction_json(row) for row in report.instructions]
    if isinstance(report, WindowReport):
        body["totals"] = _totals_json(report.totals)
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


# --- CSV ----------------------------------------------------------------------------------

_WINDOW_HEADER = ("window_date", "status", "currency", "generated_at", "coop_code")
_POSITION_HEADER = ("coop_id", "code", "name", "net", "payable", "receivable")
_FEE_HEADER = ("fee_income", "fee_cost")
_BILATERAL_HEADER = ("debtor_id", "debtor_code", "debtor_name")
_CREDITOR_HEADER = ("creditor_id", "creditor_code", "creditor_name", "amount", "count")
_INSTRUCTION_HEADER = ("reference", "payer_code", "payer_name", "payee_code", "payee_name")
_INSTRUCTION_TAIL = ("amount", "status", "bank_reference")
_TOTALS_HEADER = ("payable", "receivable", "fee_income", "fee_cost", "obligation_count")
_TOTALS_TAIL = ("instruction_count", "instructed", "confirmed")


def _coop_cells(coop: CoopRef) -> list[str]:
    """Id, code and name of a coop, the text neutralised."""
    return [str(coop.coop_id), for_csv(coop.code), for_csv(coop.name)]


def _party_cells(party: ReportParty) -> list[str]:
    """Code and name of a party; the network is `NETWORK`."""
    if isinstance(party, CoopRef):
        return [for_csv(party.code), for_csv(party.name)]
    return ["NETWORK", "network settlement account"]


def _position_cells(row: PositionLine) -> list[str]:
    """A position row's cells."""
    amounts = (row.net, row.payable, row.receivable, row.fee_income, row.fee_cost)
    return ["position", *_coop_cells(row.coop), *(a.format() for a in amounts)]


def _bilateral_cells(row: BilateralLine) -> list[str]:
    """A bilateral row's cells."""
    tail = [row.amount.format(), str(row.count)]
    return ["bilateral", *_coop_cells(row.debtor), *_coop_cells(row.creditor), *tail]


def _instruction_cells(row: InstructionLine) -> list[str]:
    """An instruction row's cells."""
    parties = [*_party_cells(row.payer), *_party_cells(row.payee)]
    tail = [row.amount.format(), for_csv(row.status.value), for_csv(row.bank_reference or "")]
    return ["instruction", for_csv(row.reference), *parties, *tail]


def _totals_cells(totals: WindowTotals) -> list[str]:
    """The totals row's cells."""
    sums = (totals.payable, totals.receivable, totals.fee_income, totals.fee_cost)
    counts = (totals.obligation_count, totals.instruction_count)
    tail = (totals.instructed.format(), totals.confirmed.format())
    return ["totals", *(a.format() for a in sums), *(str(c) for c in counts), *tail]


def _section(header: Iterable[str], rows: Iterable[list[str]]) -> list[list[str]]:
    """A blank separator line, the section's header row, and its rows."""
    return [[], ["section", *header], *rows]


def _window_cells(report: WindowReport | CoopReport) -> list[str]:
    """The report's identity row."""
    coop_code = for_csv(report.coop.code) if isinstance(report, CoopReport) else ""
    dated = [report.window_date.isoformat(), for_csv(report.status.value)]
    return ["window", *dated, report.currency, report.generated_at.isoformat(), coop_code]


def report_to_csv(report: WindowReport | CoopReport) -> str:
    """Render a window or coop report as CSV sections; see the module docstring."""
    positions = report.positions if isinstance(report, WindowReport) else (report.position,)
    lines = [["section", *_WINDOW_HEADER], _window_cells(report)]
    lines += _section((*_POSITION_HEADER, *_FEE_HEADER), map(_position_cells, positions))
    lines += _section(
        (*_BILATERAL_HEADER, *_CREDITOR_HEADER), map(_bilateral_cells, report.bilateral)
    )
    lines += _section(
        (*_INSTRUCTION_HEADER, *_INSTRUCTION_TAIL), map(_instruction_cells, report.instructions)
    )
    if isinstance(report, WindowReport):
        lines += _section((*_TOTALS_HEADER, *_TOTALS_TAIL), [_totals_cells(report.totals)])
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    return buffer.getvalue()
