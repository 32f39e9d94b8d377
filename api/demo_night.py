"""The demo's night: the window's close, settlement and reconciliation, printed as it goes.

After the cut-off the window is closed (positions checked against the ledger), settlement
starts (instructions), the bank confirms each transfer, and the window is settled; its
reports are written and the settlement bank's camt.053 statement, built from the
instructions, is reconciled with them.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.bootstrap import Services
from api.demo_day import Network
from ledger.money import Money
from settlement.bank_statement import BankStatement, Direction, StatementEntry
from settlement.camt053 import parse_camt053, render_camt053
from settlement.report_render import report_to_csv, report_to_json, report_to_pdf
from settlement.settling import InstructionRow

__all__ = ["close_night"]


def close_night(services: Services, world: Network, window_date: date, console: Console) -> bool:
    """Close the window after its cut-off, settle it, write its reports and reconcile the
    bank's statement, printing each step; whether it settled cleanly."""
    cutoff = services.settlement.calendar.cutoff_at(window_date)
    wait_s = (cutoff - datetime.now(UTC)).total_seconds()
    if wait_s > 0:
        console.print(f"waiting {wait_s:.0f} s for the cut-off at {cutoff.isoformat()}")
        time.sleep(wait_s + 0.2)
    summary = services.settlement.close(window_date, actor="demo-night-job")
    names = {c.id: escape(c.code) for c in [world.network, *world.coops]}
    positions = Table(
        title=f"Net positions, window {window_date} (recomputed from the "
        f"ledger: {'equal' if summary.recompute_ok else 'DIFFERENT'})"
    )
    for column in ("cooperative", "owes (gross)", "is owed (gross)", "net"):
        positions.add_column(column, justify="left" if column == "cooperative" else "right")
    for row in summary.positions:
        positions.add_row(
            names[row.coop_id],
            Money(row.payable_minor, row.currency).format(),
            Money(row.receivable_minor, row.currency).format(),
            Money(row.net_minor, row.currency).format(),
        )
    console.print(positions)
    instructions = services.settlement.start(window_date, actor="demo-manager")
    table = Table(title="Settlement instructions")
    for column in ("reference", "payer", "payee", "amount", "booked as"):
        table.add_column(column)
    for item in instructions:
        payer = names.get(item.payer_coop_id or 0, "network")
        payee = names.get(item.payee_coop_id or 0, "network")
        if not item.internal:
            services.settlement.confirm(
                item.reference,
                bank_reference=f"BANK{item.reference[-6:]}",
                amount=item.amount,
                actor="demo-treasurer",
            )
        table.add_row(
            item.reference,
            payer,
            payee,
            item.amount.format(),
            "internal" if item.internal else "bank transfer",
        )
    console.print(table)
    final = services.settlement.summary(window_date)
    console.print(f"window {window_date}: [bold]{final.status}[/bold]")
    clean = _reports_and_reconciliation(services, window_date, instructions, console)
    return final.status == "settled" and bool(summary.recompute_ok) and clean


def _reports_and_reconciliation(
    services: Services, window_date: date, instructions: list[InstructionRow], console: Console
) -> bool:
    """Write the window's reports, then reconcile the bank's camt.053 statement with them."""
    folder = Path(tempfile.mkdtemp(prefix="kopnet-reports-"))
    report = services.settlement.report(window_date)
    (folder / "network-report.json").write_text(report_to_json(report), encoding="utf-8")
    (folder / "network-report.csv").write_text(report_to_csv(report), encoding="utf-8")
    (folder / "network-report.pdf").write_bytes(report_to_pdf(report))
    statement_path = folder / "settlement-account.camt053.xml"
    statement_path.write_bytes(
        render_camt053(
            _bank_statement(window_date, instructions),
            message_id=f"DEMO{window_date:%Y%m%d}",
            created_at=datetime.now(UTC),
            version="001.08",
        )
    )
    result = services.settlement.reconcile(window_date, parse_camt053(statement_path.read_bytes()))
    console.print(f"reports and the bank's statement: {folder}", markup=False)
    console.print(
        f"reconciliation of {statement_path.name}: {len(result.matched)} matched, "
        f"{len(result.mismatched)} mismatched, {len(result.unmatched_expected)} "
        f"missing, {len(result.unmatched_statement)} unexpected"
    )
    return result.is_clean


def _bank_statement(window_date: date, instructions: list[InstructionRow]) -> BankStatement:
    """What the settlement bank reports for the network's account after the night's payments."""
    entries = tuple(
        StatementEntry(
            window_date,
            item.amount,
            Direction.DEBIT if item.payer_coop_id is None else Direction.CREDIT,
            item.reference,
            f"BANK{item.reference[-6:]}",
        )
        for item in instructions
        if not item.internal
    )
    # The network's fee share stays in its bank account: the statement closes on it.
    retained = Money(sum(entry.signed_minor for entry in entries), "IDR")
    return BankStatement("0021000000", "IDR", Money.zero("IDR"), retained, entries)
