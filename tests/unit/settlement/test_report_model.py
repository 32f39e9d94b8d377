"""Report values: consistent amounts, canonical order, totals, and one coop's slice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.money import Money
from settlement.netting import NETWORK
from settlement.report_model import (
    BilateralLine,
    CoopRef,
    InstructionLine,
    InstructionStatus,
    PositionLine,
    ReportError,
    ReportErrorCode,
    WindowReport,
    coop_report,
)
from settlement.window_rules import SettlementErrorCode
from tests.unit.settlement.builders import (
    ALPHA,
    BETA,
    GAMMA,
    GENERATED_AT,
    WINDOW_DATE,
    idr,
    position,
    window_report,
)

Code = ReportErrorCode


def code_of(excinfo: pytest.ExceptionInfo[ReportError]) -> object:
    return excinfo.value.code


def test_rows_are_kept_in_canonical_order_whatever_order_they_came_in() -> None:
    report = window_report()
    assert [p.coop.coop_id for p in report.positions] == [1, 2, 3]
    assert [(r.debtor.coop_id, r.creditor.coop_id) for r in report.bilateral] == [
        (1, 2),
        (1, 3),
        (3, 2),
    ]
    assert [i.reference for i in report.instructions] == ["KOP-0001", "KOP-0002", "KOP-0003"]


def test_totals_add_up_the_rows_and_leave_cancelled_instructions_out() -> None:
    report = window_report()
    cancelled = replace(report.instructions[2], status=InstructionStatus.CANCELLED)
    report = replace(report, instructions=(*report.instructions[:2], cancelled))
    totals = report.totals
    assert totals.payable == totals.receivable == idr("170.00")
    assert (totals.fee_income, totals.fee_cost) == (idr("2.25"), idr("0"))
    assert (totals.obligation_count, totals.instruction_count) == (6, 3)
    assert (totals.instructed, totals.confirmed) == (idr("270.00"), idr("150.00"))


def test_refuses_a_position_whose_net_is_not_receivable_minus_payable() -> None:
    with pytest.raises(ReportError) as excinfo:
        PositionLine(ALPHA, idr("1.00"), idr("0"), idr("2.00"), idr("0"), idr("0"))
    assert code_of(excinfo) is Code.REPORT_POSITION_INCONSISTENT


def test_refuses_negative_gross_amounts_and_fees() -> None:
    with pytest.raises(ReportError) as excinfo:
        PositionLine(ALPHA, idr("0"), idr("0"), idr("0"), idr("-1.00"), idr("0"))
    assert code_of(excinfo) is Code.REPORT_AMOUNT_INVALID


def test_refuses_a_position_mixing_currencies() -> None:
    with pytest.raises(ReportError) as excinfo:
        PositionLine(ALPHA, idr("0"), idr("0"), idr("0"), Money(0, "USD"), idr("0"))
    assert code_of(excinfo) is Code.REPORT_CURRENCY_MISMATCH


@pytest.mark.parametrize("count", [0, -1])
def test_refuses_a_bilateral_row_without_obligations(count: int) -> None:
    with pytest.raises(ReportError) as excinfo:
        BilateralLine(ALPHA, BETA, idr("1.00"), count)
    assert code_of(excinfo) is Code.REPORT_AMOUNT_INVALID


def test_refuses_an_instruction_that_is_not_positive() -> None:
    with pytest.raises(ReportError) as excinfo:
        InstructionLine("K", ALPHA, NETWORK, idr("0"), InstructionStatus.PENDING)
    assert code_of(excinfo) is Code.REPORT_AMOUNT_INVALID


def test_refuses_a_report_with_rows_in_another_currency() -> None:
    with pytest.raises(ReportError) as excinfo:
        replace(window_report(), currency="USD")
    assert code_of(excinfo) is Code.REPORT_CURRENCY_MISMATCH


def test_refuses_two_positions_for_one_coop() -> None:
    report = window_report()
    with pytest.raises(ReportError) as excinfo:
        replace(report, positions=(*report.positions, position(ALPHA, "0", "0")))
    assert code_of(excinfo) is Code.REPORT_COOP_REPEATED


def test_refuses_positions_that_do_not_sum_to_zero() -> None:
    report = window_report()
    with pytest.raises(ReportError) as excinfo:
        replace(report, positions=report.positions[:2])
    assert code_of(excinfo) is Code.REPORT_POSITIONS_UNBALANCED


def test_refuses_rows_that_name_a_coop_without_a_position() -> None:
    stranger = CoopRef(9, "KSP-X", "Stranger")
    report = window_report()
    row = InstructionLine("K9", NETWORK, stranger, idr("1.00"), InstructionStatus.PENDING)
    with pytest.raises(ReportError) as excinfo:
        replace(report, instructions=(*report.instructions, row))
    assert code_of(excinfo) is Code.REPORT_PARTY_UNKNOWN


def test_a_coop_report_holds_only_that_coops_rows() -> None:
    sliced = coop_report(window_report(), GAMMA.coop_id)
    assert sliced.coop == GAMMA
    assert sliced.position.net == idr("30.00")
    assert sliced.position.fee_income == idr("1.50")
    assert [(r.debtor.code, r.creditor.code) for r in sliced.bilateral] == [
        ("KSP-ALPHA", "KSP-GAMMA"),
        ("KSP-GAMMA", "KSP-BETA"),
    ]
    assert [i.reference for i in sliced.instructions] == ["KOP-0003"]
    assert (sliced.window_date, sliced.generated_at) == (WINDOW_DATE, GENERATED_AT)


def test_a_coop_report_for_a_coop_outside_the_window_is_refused() -> None:
    with pytest.raises(ReportError) as excinfo:
        coop_report(window_report(), 99)
    assert code_of(excinfo) is SettlementErrorCode.REPORT_COOP_NOT_FOUND


def test_an_empty_window_is_a_valid_report() -> None:
    report = WindowReport(WINDOW_DATE, window_report().status, "IDR", (), (), (), GENERATED_AT)
    assert report.totals.instructed == idr("0")
