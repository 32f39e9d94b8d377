"""Reconciliation: every payment and every statement line lands in exactly one bucket."""

from __future__ import annotations

from collections import Counter
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.money import Money
from settlement.bank_statement import BankStatement, Direction, StatementEntry
from settlement.camt053 import parse_camt053
from settlement.netting import NETWORK, SettlementInstruction
from settlement.reconciliation import (
    ExpectedPayment,
    ReconciliationError,
    ReconciliationErrorCode,
    ReconciliationReport,
    UnmatchedReason,
    expected_payment,
    reconcile,
)
from tests.unit.settlement.builders import WINDOW_DATE, entry, idr, shared_file, statement

Code = ReconciliationErrorCode
CREDIT, DEBIT = Direction.CREDIT, Direction.DEBIT


def expect(reference: str, major: str, direction: Direction = CREDIT) -> ExpectedPayment:
    return ExpectedPayment(reference, idr(major), direction, "payer", "payee")


def buckets_of(report: ReconciliationReport) -> dict[str, list[str]]:
    """References per bucket, for compact assertions."""
    return {
        "matched": [m.expected.reference for m in report.matched],
        "mismatched": [m.expected.reference for m in report.mismatched],
        "unmatched_expected": [p.reference for p in report.unmatched_expected],
        "unmatched_statement": [u.line.entry.reference for u in report.unmatched_statement],
    }


# --- examples -----------------------------------------------------------------------------


def test_matches_reference_amount_and_direction() -> None:
    report = reconcile([expect("K1", "10.00")], statement([entry("K1", "10.00")]))
    assert report.is_clean
    assert report.matched[0].line.index == 0


def test_a_different_amount_is_a_mismatch_that_shows_both_sides() -> None:
    report = reconcile([expect("K1", "10.00")], statement([entry("K1", "9.99")]))
    (mismatch,) = report.mismatched
    assert (mismatch.expected.amount, mismatch.line.entry.amount) == (idr("10.00"), idr("9.99"))
    assert (mismatch.amount_differs, mismatch.direction_differs) == (True, False)
    assert not report.is_clean


def test_a_different_direction_is_a_mismatch() -> None:
    report = reconcile([expect("K1", "10.00", DEBIT)], statement([entry("K1", "10.00", CREDIT)]))
    (mismatch,) = report.mismatched
    assert (mismatch.amount_differs, mismatch.direction_differs) == (False, True)


def test_a_payment_the_bank_does_not_show_is_unmatched_expected() -> None:
    report = reconcile([expect("K1", "10.00")], statement([]))
    assert buckets_of(report)["unmatched_expected"] == ["K1"]


def test_leftover_lines_say_why_they_are_left_over() -> None:
    lines = [
        entry("", "1.00"),
        entry("ELSEWHERE", "2.00"),
        entry("K1", "3.00"),
        entry("K1", "3.00"),
    ]
    report = reconcile([expect("K1", "3.00")], statement(lines))
    reasons = [(u.line.index, u.reason) for u in report.unmatched_statement]
    assert reasons == [
        (0, UnmatchedReason.NO_REFERENCE),
        (1, UnmatchedReason.UNKNOWN_REFERENCE),
        (3, UnmatchedReason.DUPLICATE_REFERENCE),
    ]
    assert report.matched[0].line.index == 2


def test_among_lines_with_one_reference_the_one_with_the_right_amount_matches() -> None:
    lines = [entry("K1", "0.65", DEBIT), entry("K1", "500.00", CREDIT)]
    report = reconcile([expect("K1", "500.00")], statement(lines))
    assert report.matched[0].line.index == 1
    assert [(u.line.index, u.reason) for u in report.unmatched_statement] == [
        (0, UnmatchedReason.DUPLICATE_REFERENCE)
    ]


def test_without_an_exact_line_the_first_line_with_the_reference_is_the_mismatch() -> None:
    lines = [entry("K1", "1.00"), entry("K1", "2.00")]
    report = reconcile([expect("K1", "3.00")], statement(lines))
    assert report.mismatched[0].line.index == 0
    assert report.unmatched_statement[0].line.index == 1


def test_references_are_compared_exactly() -> None:
    report = reconcile([expect("kop-1", "1.00")], statement([entry("KOP-1", "1.00")]))
    assert buckets_of(report) == {
        "matched": [],
        "mismatched": [],
        "unmatched_expected": ["kop-1"],
        "unmatched_statement": ["KOP-1"],
    }


def test_a_payment_in_another_currency_than_its_line_is_a_mismatch() -> None:
    payment = ExpectedPayment("K1", Money(100, "USD"), CREDIT, "a", "b")
    report = reconcile([payment], statement([entry("K1", "1.00")]))
    assert report.mismatched[0].amount_differs


def test_buckets_are_ordered_by_reference_whatever_the_input_order() -> None:
    payments = [expect("K3", "1.00"), expect("K1", "1.00"), expect("K2", "1.00")]
    lines = [entry("K3", "1.00"), entry("K2", "1.00"), entry("K1", "1.00")]
    report = reconcile(payments, statement(lines))
    assert buckets_of(report)["matched"] == ["K1", "K2", "K3"]


def test_refuses_two_payments_with_one_reference() -> None:
    with pytest.raises(ReconciliationError) as excinfo:
        reconcile([expect("K1", "1.00"), expect("K1", "2.00")], statement([]))
    assert excinfo.value.code is Code.RECONCILIATION_REFERENCE_REPEATED


@pytest.mark.parametrize("reference", ["", " K1", "K1\n", "K" * 141])
def test_refuses_a_payment_with_an_unusable_reference(reference: str) -> None:
    with pytest.raises(ReconciliationError) as excinfo:
        expect(reference, "1.00")
    assert excinfo.value.code is Code.RECONCILIATION_REFERENCE_INVALID


@pytest.mark.parametrize("amount_minor", [0, -100])
def test_refuses_a_payment_that_is_not_positive(amount_minor: int) -> None:
    with pytest.raises(ReconciliationError) as excinfo:
        ExpectedPayment("K1", Money(amount_minor, "IDR"), CREDIT, "a", "b")
    assert excinfo.value.code is Code.RECONCILIATION_AMOUNT_NOT_POSITIVE


def test_refuses_more_payments_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("settlement.reconciliation.EXPECTED_PAYMENTS_MAX", 1)
    with pytest.raises(ReconciliationError) as excinfo:
        reconcile([expect("K1", "1.00"), expect("K2", "1.00")], statement([]))
    assert excinfo.value.code is Code.RECONCILIATION_TOO_MANY_PAYMENTS


def test_the_real_sample_matches_its_credit_and_leaves_the_fee_as_a_duplicate() -> None:
    bank = parse_camt053(shared_file("minimal_camt053_001_02.xml").read_bytes())
    report = reconcile([expect("INV-2025-0131-001", "50000")], bank)
    assert report.matched[0].line.entry.bank_reference == "LEDGER-000123"
    (fee,) = report.unmatched_statement
    assert (fee.line.entry.bank_reference, fee.reason) == (
        "LEDGER-000124",
        UnmatchedReason.DUPLICATE_REFERENCE,
    )


# --- from netting instructions ------------------------------------------------------------


def test_a_coop_paying_the_network_is_a_credit_and_a_payout_is_a_debit() -> None:
    names = {7: "Koperasi Tujuh"}
    paying_in = SettlementInstruction(7, NETWORK, idr("5.00"))
    paying_out = SettlementInstruction(NETWORK, 8, idr("5.00"))
    credit = expected_payment(paying_in, "KOP-1", names)
    debit = expected_payment(paying_out, "KOP-2", names)
    assert (credit.direction, credit.payer_label, credit.payee_label) == (
        CREDIT,
        "Koperasi Tujuh",
        "network",
    )
    assert (debit.direction, debit.payer_label, debit.payee_label) == (DEBIT, "network", "8")


def test_a_bilateral_instruction_cannot_be_expected_on_the_network_account() -> None:
    with pytest.raises(ReconciliationError) as excinfo:
        expected_payment(SettlementInstruction(1, 2, idr("1.00")), "KOP-1", {})
    assert excinfo.value.code is Code.RECONCILIATION_INSTRUCTION_BYPASSES_NETWORK


# --- properties ---------------------------------------------------------------------------

REFERENCES = st.sampled_from(["", "K1", "K2", "K3", "K4", "X1"])
DIRECTIONS = st.sampled_from([CREDIT, DEBIT])
AMOUNTS = st.integers(min_value=1, max_value=5)


@st.composite
def payments(draw: st.DrawFn) -> list[ExpectedPayment]:
    references = draw(st.lists(st.sampled_from(["K1", "K2", "K3", "K4"]), unique=True))
    return [
        ExpectedPayment(r, Money(draw(AMOUNTS), "IDR"), draw(DIRECTIONS), "a", "b")
        for r in references
    ]


@st.composite
def statements(draw: st.DrawFn) -> BankStatement:
    lines = draw(
        st.lists(
            st.builds(
                lambda r, a, d: StatementEntry(WINDOW_DATE, Money(a, "IDR"), d, r, ""),
                REFERENCES,
                AMOUNTS,
                DIRECTIONS,
            ),
            max_size=12,
        )
    )
    return statement(lines, opening_minor=draw(st.integers(-100, 100)))


@given(payments(), statements())
def test_every_payment_and_every_line_lands_in_exactly_one_bucket(
    expected: list[ExpectedPayment], bank: BankStatement
) -> None:
    report = reconcile(expected, bank)
    payment_refs = Counter(
        [m.expected.reference for m in report.matched]
        + [m.expected.reference for m in report.mismatched]
        + [p.reference for p in report.unmatched_expected]
    )
    assert payment_refs == Counter(p.reference for p in expected)
    line_indexes = sorted(
        [m.line.index for m in report.matched]
        + [m.line.index for m in report.mismatched]
        + [u.line.index for u in report.unmatched_statement]
    )
    assert line_indexes == list(range(len(bank.entries)))
    pairs = [(m.expected, m.line) for m in report.matched]
    pairs += [(m.expected, m.line) for m in report.mismatched]
    for payment, line in pairs:
        assert bank.entries[line.index] == line.entry
        assert line.entry.reference == payment.reference


@given(payments(), st.randoms(use_true_random=False), st.integers(-100, 100))
def test_a_statement_built_from_the_payments_themselves_matches_everything(
    expected: list[ExpectedPayment], shuffle: Random, opening_minor: int
) -> None:
    lines = [StatementEntry(WINDOW_DATE, p.amount, p.direction, p.reference, "") for p in expected]
    shuffle.shuffle(lines)
    report = reconcile(expected, statement(lines, opening_minor=opening_minor))
    assert report.is_clean
    assert [m.expected for m in report.matched] == sorted(expected, key=lambda p: p.reference)


@given(payments(), statements(), st.randoms(use_true_random=False))
def test_the_order_of_the_payments_does_not_change_the_report(
    expected: list[ExpectedPayment], bank: BankStatement, shuffle: Random
) -> None:
    shuffled = list(expected)
    shuffle.shuffle(shuffled)
    assert reconcile(shuffled, bank) == reconcile(expected, bank)
