"""Builders shared by the settlement reconciliation and report tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from ledger.money import Money
from settlement.bank_statement import BankStatement, Direction, StatementEntry
from settlement.netting import NETWORK
from settlement.report_model import (
    BilateralLine,
    CoopRef,
    InstructionLine,
    InstructionStatus,
    PositionLine,
    WindowReport,
)
from settlement.window_rules import WindowStatus

# `shared/` is a sibling of the repository root; its test data is required, never skipped.
TESTDATA = Path(__file__).resolve().parents[3].parent / "shared" / "testdata"
WINDOW_DATE = date(2025, 1, 31)
GENERATED_AT = datetime(2025, 2, 1, 1, 0, tzinfo=UTC)


def shared_file(name: str) -> Path:
    """Return the path of a shared test data file, failing the test if it is absent."""
    path = TESTDATA / name
    assert path.is_file(), f"missing shared test data: {path}"
    return path


def idr(major: str) -> Money:
    """Rupiah from a decimal string of major units."""
    return Money.parse(major, "IDR")


def entry(
    reference: str,
    major: str,
    direction: Direction = Direction.CREDIT,
    *,
    bank_reference: str = "",
    counterparty: str | None = None,
    currency: str = "IDR",
) -> StatementEntry:
    """A statement entry booked on the window date."""
    amount = Money.parse(major, currency)
    return StatementEntry(WINDOW_DATE, amount, direction, reference, bank_reference, counterparty)


def statement(
    entries: Sequence[StatementEntry], *, opening_minor: int = 0, currency: str = "IDR"
) -> BankStatement:
    """A statement of `entries` whose closing balance is whatever they add up to."""
    moved = sum(e.signed_minor for e in entries)
    return BankStatement(
        "ACC-0001",
        currency,
        Money(opening_minor, currency),
        Money(opening_minor + moved, currency),
        tuple(entries),
    )


ALPHA = CoopRef(1, "KSP-ALPHA", "Koperasi Alpha")
BETA = CoopRef(2, "KSP-BETA", "Koperasi Beta")
GAMMA = CoopRef(3, "KSP-GAMMA", "Koperasi Gamma")


def position(coop: CoopRef, payable: str, receivable: str, fee_income: str = "0") -> PositionLine:
    """A position whose net is receivable - payable, with a fee cost of zero."""
    net = idr(receivable) - idr(payable)
    return PositionLine(coop, net, idr(payable), idr(receivable), idr(fee_income), idr("0"))


def window_report(
    *,
    alpha: CoopRef = ALPHA,
    status: WindowStatus = WindowStatus.SETTLING,
) -> WindowReport:
    """Alpha owes Beta 100.00 and Gamma 50.00, Gamma owes Beta 20.00; via the network."""
    positions = (
        position(GAMMA, "20.00", "50.00", "1.50"),
        position(alpha, "150.00", "0"),
        position(BETA, "0", "120.00", "0.75"),
    )
    bilateral = (
        BilateralLine(GAMMA, BETA, idr("20.00"), 1),
        BilateralLine(alpha, BETA, idr("100.00"), 3),
        BilateralLine(alpha, GAMMA, idr("50.00"), 2),
    )
    instructions = (
        InstructionLine("KOP-0003", NETWORK, GAMMA, idr("30.00"), InstructionStatus.PENDING),
        InstructionLine(
            "KOP-0001", alpha, NETWORK, idr("150.00"), InstructionStatus.CONFIRMED, "BNK-77"
        ),
        InstructionLine("KOP-0002", NETWORK, BETA, idr("120.00"), InstructionStatus.PENDING),
    )
    return WindowReport(
        WINDOW_DATE, status, "IDR", positions, bilateral, instructions, GENERATED_AT
    )
