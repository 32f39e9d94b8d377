"""`kopnet settle ...` and `kopnet fees ...`: the operators' nightly and tariff commands.

Caller errors print `{"error": code, "message": ...}` as JSON and exit 2; nothing changes
(`api.cli_support`). A close whose positions differ from the ledger's and a reconciliation
that does not match exit 1: a check found a problem.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from api.bootstrap import Services
from api.cli_support import fail, open_services
from interchange.errors import InterchangeError
from interchange.fee_schedule_codec import schedule_from_json
from ledger.errors import LedgerError
from ledger.money import Money
from settlement.camt053 import parse_camt053
from settlement.errors import SettlementError
from settlement.netting import SettlementMode
from settlement.recon_statement_csv import parse_statement_csv
from settlement.report_model import CoopReport, WindowReport, coop_report
from settlement.report_render import report_to_csv, report_to_json, report_to_pdf
from settlement.settling import InstructionRow

__all__ = ["fees_app", "settle_app"]

T = TypeVar("T")

settle_app = typer.Typer(help="Nightly settlement of a window.", no_args_is_help=True)
fees_app = typer.Typer(help="Fee schedules.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Overrides KOPNET_DATABASE_URL.")
]
WindowDate = Annotated[str, typer.Option("--date", help="The window's business date, YYYY-MM-DD.")]
Actor = Annotated[str, typer.Option("--actor", help="Who takes this step (recorded).")]
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _parse_date(text: str) -> date:
    # Only the extended form: `date.fromisoformat` takes 20261201 and 2026-W49-2 too.
    if not _DATE.fullmatch(text):
        fail("date_invalid", "dates are YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail("date_invalid", "dates are YYYY-MM-DD")


def _run(database_url: str | None, work: Callable[[Services], T]) -> T:
    """Do `work` with the services over the database (`cli_support.open_services`)."""
    with open_services(database_url) as services:
        return work(services)


def _echo(document: object) -> None:
    typer.echo(json.dumps(document, indent=2, default=str))


@settle_app.command("close")
def settle_close(
    window: WindowDate, actor: Actor = "cli", database_url: DatabaseUrl = None
) -> None:
    """Close the window (idempotent) and check its positions against the ledger; exit 1
    when they differ (`recompute_ok` false: settlement will refuse to start)."""
    day = _parse_date(window)
    summary = _run(database_url, lambda s: s.settlement.close(day, actor=actor))
    _echo(
        {
            "window_date": summary.window_date,
            "status": summary.status,
            "recompute_ok": summary.recompute_ok,
            "obligations": summary.obligation_count,
            "positions": [
                {
                    "coop_id": p.coop_id,
                    "currency": p.currency,
                    "net_minor": p.net_minor,
                    "payable_minor": p.payable_minor,
                    "receivable_minor": p.receivable_minor,
                }
                for p in summary.positions
            ],
        }
    )
    if not summary.recompute_ok:
        raise typer.Exit(1)


def _instructions_document(rows: list[InstructionRow]) -> list[dict[str, object]]:
    return [
        {
            "reference": r.reference,
            "payer_coop_id": r.payer_coop_id,
            "payee_coop_id": r.payee_coop_id,
            "amount": r.amount.format(),
            "amount_minor": r.amount.amount_minor,
            "currency": r.amount.currency,
            "internal": r.internal,
            "status": r.status,
            "bank_reference": r.bank_reference,
        }
        for r in rows
    ]


@settle_app.command("start")
def settle_start(
    window: WindowDate,
    actor: Actor = "cli",
    mode: Annotated[SettlementMode, typer.Option(help="via_network or bilateral")] = (
        SettlementMode.VIA_NETWORK
    ),
    database_url: DatabaseUrl = None,
) -> None:
    """Issue the window's settlement instructions."""
    day = _parse_date(window)
    rows = _run(database_url, lambda s: s.settlement.start(day, actor=actor, mode=mode))
    _echo(_instructions_document(list(rows)))


@settle_app.command("instructions")
def settle_instructions(window: WindowDate, database_url: DatabaseUrl = None) -> None:
    """Print the window's current instructions and their status."""
    day = _parse_date(window)
    _echo(
        _instructions_document(list(_run(database_url, lambda s: s.settlement.instructions(day))))
    )


@settle_app.command("confirm")
def settle_confirm(
    reference: Annotated[str, typer.Argument(help="The instruction's reference.")],
    bank_reference: Annotated[str, typer.Option(help="The bank's reference for the payment.")],
    amount: Annotated[str, typer.Option(help="The amount paid, in major units: 409325.20")],
    currency: str = "IDR",
    actor: Actor = "cli",
    database_url: DatabaseUrl = None,
) -> None:
    """Book the bank's confirmation of one settlement payment."""
    try:
        money = Money.parse(amount, currency)
    except LedgerError as error:
        fail(str(error.code), error.message)
    row = _run(
        database_url,
        lambda s: s.settlement.confirm(
            reference, bank_reference=bank_reference, amount=money, actor=actor
        ),
    )
    _echo(_instructions_document([row])[0])


@settle_app.command("abort")
def settle_abort(
    window: WindowDate, actor: Actor = "cli", database_url: DatabaseUrl = None
) -> None:
    """Return a settling window to closed, before any payment is booked."""
    day = _parse_date(window)
    _run(database_url, lambda s: s.settlement.abort(day, actor=actor))
    _echo({"window_date": day, "status": "closed"})


class ReportFormat(StrEnum):
    """How `settle report` renders."""

    JSON = "json"
    CSV = "csv"
    PDF = "pdf"


@settle_app.command("report")
def settle_report(
    window: WindowDate,
    report_format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.JSON,
    coop_code: Annotated[str | None, typer.Option("--coop", help="One cooperative's view.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The window's network report, or one cooperative's, as JSON, CSV or PDF."""
    day = _parse_date(window)
    report = _run(database_url, lambda s: s.settlement.report(day))
    document: WindowReport | CoopReport = report
    if coop_code is not None:
        found = [p.coop for p in report.positions if p.coop.code == coop_code]
        if not found:
            fail("report_coop_not_found", f"no position for {coop_code!r} in this window")
        document = coop_report(report, found[0].coop_id)
    if report_format is ReportFormat.PDF:
        if out is None:
            fail("out_required", "a PDF needs --out FILE")
        _write(out, report_to_pdf(document))
        return
    text = (
        report_to_json(document) if report_format is ReportFormat.JSON else report_to_csv(document)
    )
    if out is None:
        typer.echo(text)
    else:
        _write(out, text.encode("utf-8"))


def _write(out: Path, content: bytes) -> None:
    try:
        out.write_bytes(content)
    except OSError as error:
        fail("file_invalid", f"cannot write {out}: {error.strerror}")


@settle_app.command("reconcile")
def settle_reconcile(
    path: Annotated[Path, typer.Argument(help="The bank statement: CSV or camt.053 XML.")],
    window: WindowDate,
    database_url: DatabaseUrl = None,
) -> None:
    """Match a bank statement with the window's instructions; exit 1 unless all match."""
    day = _parse_date(window)
    raw = _read_bounded(path, 64 * 1024 * 1024, "a statement file of at most 64 MiB")
    try:
        # A byte order mark (as some banks' exports start) hides the XML's first "<".
        statement = (
            parse_camt053(raw)
            if raw.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"<")
            else parse_statement_csv(raw.decode("utf-8-sig"))
        )
    except SettlementError as error:
        fail(str(error.code), error.message)
    except UnicodeDecodeError:
        fail("statement_malformed", "a CSV statement is UTF-8 text")
    result = _run(database_url, lambda s: s.settlement.reconcile(day, statement))
    _echo(
        {
            "clean": result.is_clean,
            "matched": [m.expected.reference for m in result.matched],
            "mismatched": [
                {
                    "reference": m.expected.reference,
                    "expected": m.expected.amount.format(),
                    "statement": m.line.entry.amount.format(),
                    "expected_currency": m.expected.amount.currency,
                    "statement_currency": m.line.entry.amount.currency,
                    "expected_direction": m.expected.direction,
                    "statement_direction": m.line.entry.direction,
                }
                for m in result.mismatched
            ],
            "unmatched_expected": [e.reference for e in result.unmatched_expected],
            "unmatched_statement": [
                {"reference": u.line.entry.reference, "reason": u.reason}
                for u in result.unmatched_statement
            ],
        }
    )
    raise typer.Exit(0 if result.is_clean else 1)


@fees_app.command("publish")
def fees_publish(
    path: Annotated[Path, typer.Argument(help="A fee schedule JSON document.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Publish a new fee schedule version (see interchange/fee_schedule_codec.py)."""
    raw = _read_bounded(path, 200_000, "a fee schedule file of at most 200 kB")
    try:
        schedule = schedule_from_json(raw.decode("utf-8"))
    except InterchangeError as error:
        fail(str(error.code), error.message)
    except UnicodeDecodeError:
        fail("fee_schedule_invalid", "a fee schedule is UTF-8 JSON text")
    _run(database_url, lambda s: s.payments.publish_schedule(schedule))
    _echo(
        {"published_version": schedule.version, "effective_from_date": schedule.effective_from_date}
    )


def _read_bounded(path: Path, size_max: int, expected: str) -> bytes:
    """The bytes of the file at `path`, read up to one past `size_max` (a file that grows
    after a size check is read no further); `file_invalid` when it is no regular file,
    larger, or cannot be read."""
    if not path.is_file():
        fail("file_invalid", f"expected {expected}")
    try:
        with path.open("rb") as opened:
            raw = opened.read(size_max + 1)
    except OSError as error:
        fail("file_invalid", f"cannot read {path}: {error.strerror}")
    if len(raw) > size_max:
        fail("file_invalid", f"expected {expected}")
    return raw
