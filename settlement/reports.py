"""Building a window's report from the database, and reconciling a bank statement with it.

Fee income of a cooperative is the shares it earned on the window's payments (the
operator's are the network shares). Fee cost is what its own customers paid to others: on
a payment whose fee the merchant bears, the acquirer's cost is the issuer's and the
network's shares; where the payer bears it, the issuer's cost is the acquirer's and the
network's shares. Read-only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import Connection, func, select

from interchange.registry_store import require_network
from interchange.tables import coop, obligation, payment
from ledger.money import Money
from settlement.bank_statement import BankStatement
from settlement.closing import load_summary
from settlement.netting import NETWORK, Network, SettlementInstruction
from settlement.reconciliation import ReconciliationReport, expected_payment, reconcile
from settlement.report_model import (
    BilateralLine,
    CoopRef,
    InstructionLine,
    InstructionStatus,
    PositionLine,
    WindowReport,
)
from settlement.settling import InstructionRow, window_instructions
from settlement.tables import instruction
from settlement.window_rules import SettlementErrorCode, WindowError

__all__ = ["build_window_report", "reconcile_window"]


def _coop_refs(conn: Connection) -> dict[int, CoopRef]:
    rows = conn.execute(select(coop.c.id, coop.c.code, coop.c.legal_name, coop.c.is_network))
    return {row.id: CoopRef(row.id, row.code, row.legal_name) for row in rows}


def _network_id(conn: Connection) -> int:
    """The network operator's coop id; `network_not_registered` before it registers (a
    window with no payment can be closed on a database with no coop at all)."""
    return require_network(conn).id


def _fees(
    conn: Connection, window_date: date, currency: str, network_id: int
) -> tuple[dict[int, int], dict[int, int]]:
    query = (
        select(
            payment.c.issuer_coop_id,
            payment.c.acquirer_coop_id,
            payment.c.fee_bearer,
            func.sum(payment.c.issuer_fee_minor),
            func.sum(payment.c.acquirer_fee_minor),
            func.sum(payment.c.network_fee_minor),
        )
        .where(payment.c.window_date == window_date, payment.c.currency == currency)
        .group_by(payment.c.issuer_coop_id, payment.c.acquirer_coop_id, payment.c.fee_bearer)
    )
    income: defaultdict[int, int] = defaultdict(int)
    cost: defaultdict[int, int] = defaultdict(int)
    for issuer, acquirer, bearer, issuer_fee, acquirer_fee, network_fee in conn.execute(query):
        income[issuer] += int(issuer_fee)
        income[acquirer] += int(acquirer_fee)
        income[network_id] += int(network_fee)
        if bearer == "merchant":
            cost[acquirer] += int(issuer_fee) + int(network_fee)
        elif bearer == "payer":
            cost[issuer] += int(acquirer_fee) + int(network_fee)
    return income, cost


def _party(coop_id: int | None, refs: dict[int, CoopRef]) -> CoopRef | Network:
    return NETWORK if coop_id is None else refs[coop_id]


def _netting_party(coop_id: int | None) -> int | Network:
    return NETWORK if coop_id is None else coop_id


def _instruction_lines(
    rows: Sequence[InstructionRow], refs: dict[int, CoopRef]
) -> tuple[InstructionLine, ...]:
    return tuple(
        InstructionLine(
            row.reference,
            _party(row.payer_coop_id, refs),
            _party(row.payee_coop_id, refs),
            row.amount,
            InstructionStatus(row.status),
            row.bank_reference,
        )
        for row in rows
    )


def build_window_report(conn: Connection, window_date: date, currency: str = "IDR") -> WindowReport:
    """The network's report of one closed window in one currency."""
    summary = load_summary(conn, window_date)
    if summary is None:
        raise WindowError(SettlementErrorCode.WINDOW_NOT_CLOSED, "the window is still open")
    refs, network_id = _coop_refs(conn), _network_id(conn)
    income, cost = _fees(conn, window_date, currency, network_id)

    def money(minor: int) -> Money:
        return Money(minor, currency)

    positions = tuple(
        PositionLine(
            refs[p.coop_id],
            money(p.net_minor),
            money(p.payable_minor),
            money(p.receivable_minor),
            money(income[p.coop_id]),
            money(cost[p.coop_id]),
        )
        for p in summary.positions
        if p.currency == currency
    )
    bilateral = tuple(
        BilateralLine(
            refs[row.debtor_coop_id],
            refs[row.creditor_coop_id],
            money(row.amount_minor),
            row.payment_count,
        )
        for row in conn.execute(
            select(obligation).where(
                obligation.c.window_date == window_date, obligation.c.currency == currency
            )
        )
        if row.amount_minor > 0
    )
    rows = [r for r in window_instructions(conn, window_date) if r.amount.currency == currency]
    return WindowReport(
        window_date,
        summary.status,
        currency,
        positions,
        bilateral,
        _instruction_lines(rows, refs),
        datetime.now(UTC),
    )


def reconcile_window(
    conn: Connection, window_date: date, statement: BankStatement
) -> ReconciliationReport:
    """Match the network settlement account's statement with the window's bank payments:
    its current round's pending and confirmed instructions (a line paying one cancelled,
    of any round, is left over as `cancelled_reference`); a window that was never closed
    has none to match (`window_not_closed`)."""
    if load_summary(conn, window_date) is None:
        raise WindowError(SettlementErrorCode.WINDOW_NOT_CLOSED, "the window is still open")
    refs = _coop_refs(conn)
    labels = {coop_id: ref.code for coop_id, ref in refs.items()}
    rows = [r for r in window_instructions(conn, window_date) if not r.internal]
    cancelled = conn.execute(
        select(instruction.c.reference).where(
            instruction.c.window_date == window_date,
            instruction.c.status == InstructionStatus.CANCELLED.value,
        )
    ).scalars()
    expected = [
        expected_payment(
            SettlementInstruction(
                _netting_party(r.payer_coop_id), _netting_party(r.payee_coop_id), r.amount
            ),
            r.reference,
            labels,
        )
        for r in rows
        if r.status != InstructionStatus.CANCELLED.value
    ]
    return reconcile(expected, statement, cancelled=list(cancelled))
