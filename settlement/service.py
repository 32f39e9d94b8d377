"""The settlement service: close, recompute, settle and abort windows, one unit of work each.

Every command names the actor who takes it; every step lands in the window's history.
A window date no payment can have (a datetime, text, or a day outside the ledger's
business dates) is `window_date_invalid`, refused before the window is read (after the
actor, for the commands that name one: their units of work check both).
Closing runs the recomputation check right after, in its own transaction, so the close
itself stays as short as the number of cooperative pairs allows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy import Engine

from interchange.window import WindowCalendar
from ledger.db import reading, run_transaction
from ledger.money import Money
from ledger.service import Ledger
from settlement.audit import WindowCheck, verify_windows
from settlement.bank_statement import BankStatement, StatementError, StatementErrorCode
from settlement.closing import WindowSummary, close_window, load_summary, recompute_window
from settlement.netting import SettlementMode
from settlement.reconciliation import ReconciliationReport
from settlement.report_model import WindowReport
from settlement.reports import build_window_report, reconcile_window
from settlement.settling import (
    InstructionRow,
    abort_settlement,
    confirm_instruction,
    start_settlement,
    window_instructions,
)
from settlement.tables import REFERENCE_CHARS_MAX
from settlement.window_rules import (
    SettlementErrorCode,
    WindowError,
    require_window_date,
)

__all__ = ["Settlement"]


class Settlement:
    """Nightly settlement of the network's windows."""

    def __init__(
        self, engine: Engine, ledger: Ledger, *, seal_key: bytes, calendar: WindowCalendar
    ) -> None:
        self.engine = engine
        self.calendar = calendar
        self._seal_key = seal_key

    def close(self, window_date: date, *, actor: str) -> WindowSummary:
        """Close the window (idempotent), then check its positions against the ledger."""
        closed = run_transaction(
            self.engine,
            lambda conn: close_window(conn, window_date, actor=actor, calendar=self.calendar),
        )
        if closed.recompute_ok is None:
            self.recompute(window_date, actor=actor)
        return replace(self.summary(window_date), newly_closed=closed.newly_closed)

    def recompute(self, window_date: date, *, actor: str) -> bool:
        """Recompute the window's positions from the ledger and record the result."""
        return run_transaction(
            self.engine, lambda conn: recompute_window(conn, window_date, actor=actor)
        )

    def summary(self, window_date: date) -> WindowSummary:
        """The closed window's state and positions."""
        require_window_date(window_date)
        found = run_transaction(self.engine, lambda conn: load_summary(conn, window_date))
        if found is None:
            raise WindowError(SettlementErrorCode.WINDOW_NOT_CLOSED, "the window is open")
        return found

    def start(
        self, window_date: date, *, actor: str, mode: SettlementMode = SettlementMode.VIA_NETWORK
    ) -> list[InstructionRow]:
        """Issue the window's settlement instructions."""
        return run_transaction(
            self.engine,
            lambda conn: start_settlement(
                conn, window_date, mode=mode, actor=actor, seal_key=self._seal_key
            ),
        )

    def instructions(self, window_date: date) -> list[InstructionRow]:
        """The window's current instructions."""
        require_window_date(window_date)
        return run_transaction(self.engine, lambda conn: window_instructions(conn, window_date))

    def confirm(
        self, reference: str, *, bank_reference: str, amount: Money, actor: str
    ) -> InstructionRow:
        """Book the bank's confirmation of one instruction.

        A reference that is not printable ASCII of at most `REFERENCE_CHARS_MAX`
        characters (as every issued one is) is `instruction_not_found` without a query, and
        is not echoed: the drivers cannot encode some such text, and it may be huge.
        """
        if not (
            isinstance(reference, str)
            and len(reference) <= REFERENCE_CHARS_MAX
            and reference.isascii()
            and reference.isprintable()
        ):
            raise WindowError(
                SettlementErrorCode.INSTRUCTION_NOT_FOUND,
                "no instruction has this reference: references are printable ASCII,"
                f" at most {REFERENCE_CHARS_MAX} characters",
                field="reference",
            )
        return run_transaction(
            self.engine,
            lambda conn: confirm_instruction(
                conn,
                reference,
                bank_reference=bank_reference,
                amount=amount,
                actor=actor,
                seal_key=self._seal_key,
            ),
        )

    def abort(self, window_date: date, *, actor: str) -> None:
        """Return a settling window to closed, before any payment is booked."""
        run_transaction(self.engine, lambda conn: abort_settlement(conn, window_date, actor=actor))

    def verify(self) -> list[WindowCheck]:
        """Recheck every closed window against the ledger (read-only; on SQLite without
        taking the write lock, so payments go on meanwhile)."""
        with reading(self.engine) as conn:
            return verify_windows(conn)

    def report(self, window_date: date, *, currency: str = "IDR") -> WindowReport:
        """The window's report: positions, bilateral detail, fees, instructions, status."""
        require_window_date(window_date)
        return run_transaction(
            self.engine, lambda conn: build_window_report(conn, window_date, currency)
        )

    def reconcile(self, window_date: date, statement: BankStatement) -> ReconciliationReport:
        """Match the settlement bank's statement with the window's bank payments. A
        statement that is not a parsed `BankStatement` is `statement_malformed`."""
        require_window_date(window_date)
        if not isinstance(statement, BankStatement):
            raise StatementError(
                StatementErrorCode.STATEMENT_MALFORMED,
                "a statement is one parsed by the statement readers",
                field="statement",
            )
        return run_transaction(
            self.engine, lambda conn: reconcile_window(conn, window_date, statement)
        )
