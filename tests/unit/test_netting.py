"""Example tests for multilateral netting, the bilateral matrix and settlement instructions."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from ledger.money import AMOUNT_MINOR_MAX, Money
from settlement.errors import SettlementError
from settlement.netting import (
    NETWORK,
    NettingError,
    NettingErrorCode,
    Obligation,
    Positions,
    SettlementInstruction,
    SettlementMode,
    apply_instructions,
    bilateral_matrix,
    net_positions,
    settlement_instructions,
)

CURRENCIES = ["JPY", "IDR", "KWD"]
A, B, C, D = 1, 2, 3, 4


def code_of(excinfo: pytest.ExceptionInfo[NettingError]) -> NettingErrorCode:
    code = excinfo.value.code
    assert isinstance(code, NettingErrorCode)
    return code


def owes(debtor: int, creditor: int, amount_minor: int, currency: str) -> Obligation:
    return Obligation(debtor, creditor, Money(amount_minor, currency))


def triangle(currency: str) -> list[Obligation]:
    """A owes B 100, B owes C 70, C owes A 30, B owes A 20, D owes and is owed 5 by A."""
    return [
        owes(A, B, 100, currency),
        owes(B, C, 70, currency),
        owes(C, A, 30, currency),
        owes(B, A, 20, currency),
        owes(D, A, 5, currency),
        owes(A, D, 5, currency),
    ]


def minor(positions: Positions) -> dict[str, dict[int, int]]:
    return {cur: {c: m.amount_minor for c, m in by.items()} for cur, by in positions.items()}


def positions_of(currency: str, by_coop: Mapping[int, int]) -> Positions:
    return {currency: {coop: Money(value, currency) for coop, value in by_coop.items()}}


# --- obligations --------------------------------------------------------------------------


def test_a_coop_cannot_owe_itself() -> None:
    with pytest.raises(NettingError) as excinfo:
        owes(A, A, 1, "IDR")
    assert code_of(excinfo) is NettingErrorCode.NETTING_SELF_OBLIGATION


@pytest.mark.parametrize("amount_minor", [0, -1])
def test_an_obligation_must_be_positive(amount_minor: int) -> None:
    with pytest.raises(NettingError) as excinfo:
        owes(A, B, amount_minor, "IDR")
    assert code_of(excinfo) is NettingErrorCode.NETTING_AMOUNT_NOT_POSITIVE


@pytest.mark.parametrize("coop_id", [0, -1, True, 2**63])
def test_an_obligation_names_positive_coop_ids(coop_id: int) -> None:
    with pytest.raises(NettingError) as excinfo:
        owes(coop_id, B, 1, "IDR")
    assert code_of(excinfo) is NettingErrorCode.NETTING_COOP_ID_INVALID


def test_coop_ids_are_checked_before_the_self_obligation_and_the_amount() -> None:
    with pytest.raises(NettingError) as excinfo:
        owes(0, 0, 0, "IDR")
    assert code_of(excinfo) is NettingErrorCode.NETTING_COOP_ID_INVALID


def test_netting_error_is_a_settlement_error() -> None:
    with pytest.raises(SettlementError):
        owes(A, A, 1, "IDR")


# --- positions and the bilateral matrix ---------------------------------------------------


@pytest.mark.parametrize("currency", CURRENCIES)
def test_net_positions_are_signed_with_creditors_positive(currency: str) -> None:
    positions = net_positions(triangle(currency))
    assert minor(positions) == {currency: {A: -50, B: 10, C: 40, D: 0}}


@pytest.mark.parametrize("currency", CURRENCIES)
def test_bilateral_matrix_keeps_both_gross_directions_and_nets_them(currency: str) -> None:
    matrix = bilateral_matrix(triangle(currency))
    assert matrix.gross(currency, A, B) == Money(100, currency)
    assert matrix.gross(currency, B, A) == Money(20, currency)
    assert matrix.net(currency, A, B) == Money(80, currency)
    assert matrix.net(currency, B, A) == Money(-80, currency)
    assert matrix.net(currency, A, D).is_zero()
    assert matrix.gross(currency, A, C).is_zero()
    assert matrix.currencies() == (currency,)
    assert matrix.coop_ids(currency) == (A, B, C, D)


@pytest.mark.parametrize("currency", CURRENCIES)
def test_bilateral_row_sums_equal_the_multilateral_positions(currency: str) -> None:
    matrix = bilateral_matrix(triangle(currency))
    positions = net_positions(triangle(currency))
    for coop_id in matrix.coop_ids(currency):
        assert matrix.row_sum(currency, coop_id) == positions[currency][coop_id]


def test_each_currency_is_netted_on_its_own() -> None:
    obligations = [owes(A, B, 100, "IDR"), owes(B, A, 3, "JPY"), owes(A, B, 2, "KWD")]
    assert minor(net_positions(obligations)) == {
        "IDR": {A: -100, B: 100},
        "JPY": {A: 3, B: -3},
        "KWD": {A: -2, B: 2},
    }


def test_no_obligations_give_no_positions_and_no_instructions() -> None:
    positions = net_positions([])
    assert dict(positions) == {}
    assert bilateral_matrix([]).currencies() == ()
    assert settlement_instructions(positions, SettlementMode.VIA_NETWORK) == ()


def test_a_coop_owed_and_owing_the_same_amount_gets_a_zero_position_and_no_instruction() -> None:
    """A zero row (a coop whose obligations cancel) stays listed, at zero, and is paid nothing."""
    obligations = [
        Obligation(1, 2, Money(AMOUNT_MINOR_MAX, "IDR")),
        Obligation(2, 1, Money(AMOUNT_MINOR_MAX, "IDR")),
        Obligation(3, 4, Money(7, "IDR")),
    ]
    positions = net_positions(obligations)
    assert {c: m.amount_minor for c, m in positions["IDR"].items()} == {1: 0, 2: 0, 3: -7, 4: 7}
    for mode in SettlementMode:
        parties = {p for i in settlement_instructions(positions, mode) for p in (i.payer, i.payee)}
        assert parties.isdisjoint({1, 2})


def test_positions_are_read_only() -> None:
    positions = net_positions(triangle("IDR"))
    with pytest.raises(TypeError):
        positions["IDR"][A] = Money(0, "IDR")  # type: ignore[index]


def test_a_total_larger_than_money_can_hold_is_refused() -> None:
    obligations = [owes(A, B, AMOUNT_MINOR_MAX, "IDR"), owes(C, B, AMOUNT_MINOR_MAX, "IDR")]
    with pytest.raises(NettingError) as excinfo:
        net_positions(obligations)
    assert code_of(excinfo) is NettingErrorCode.NETTING_AMOUNT_TOO_LARGE
    with pytest.raises(NettingError) as excinfo:
        bilateral_matrix([owes(A, B, AMOUNT_MINOR_MAX, "IDR")] * 2)
    assert code_of(excinfo) is NettingErrorCode.NETTING_AMOUNT_TOO_LARGE


# --- settlement instructions ----------------------------------------------------------------


@pytest.mark.parametrize("currency", CURRENCIES)
def test_via_network_debtors_pay_the_network_once_and_it_pays_each_creditor_once(
    currency: str,
) -> None:
    instructions = settlement_instructions(
        net_positions(triangle(currency)), SettlementMode.VIA_NETWORK
    )
    assert instructions == (
        SettlementInstruction(A, NETWORK, Money(50, currency)),
        SettlementInstruction(NETWORK, B, Money(10, currency)),
        SettlementInstruction(NETWORK, C, Money(40, currency)),
    )


@pytest.mark.parametrize("currency", CURRENCIES)
def test_bilateral_mode_has_the_largest_debtor_pay_the_largest_creditor(currency: str) -> None:
    instructions = settlement_instructions(
        net_positions(triangle(currency)), SettlementMode.BILATERAL
    )
    assert instructions == (
        SettlementInstruction(A, B, Money(10, currency)),
        SettlementInstruction(A, C, Money(40, currency)),
    )


def test_bilateral_mode_breaks_ties_by_the_lower_coop_id() -> None:
    positions = positions_of("IDR", {D: -5, B: -5, C: 5, A: 5})
    assert settlement_instructions(positions, SettlementMode.BILATERAL) == (
        SettlementInstruction(B, A, Money(5, "IDR")),
        SettlementInstruction(D, C, Money(5, "IDR")),
    )


@pytest.mark.parametrize("mode", list(SettlementMode))
@pytest.mark.parametrize("currency", CURRENCIES)
def test_applying_every_instruction_leaves_every_position_zero(
    mode: SettlementMode, currency: str
) -> None:
    positions = net_positions(triangle(currency))
    remaining = apply_instructions(positions, settlement_instructions(positions, mode))
    assert minor(remaining) == {currency: {A: 0, B: 0, C: 0, D: 0}}


def test_settling_unbalanced_positions_is_refused() -> None:
    with pytest.raises(NettingError) as excinfo:
        settlement_instructions(positions_of("IDR", {A: -5, B: 4}), SettlementMode.BILATERAL)
    assert code_of(excinfo) is NettingErrorCode.NETTING_POSITIONS_UNBALANCED


def test_a_position_filed_under_another_currency_is_refused() -> None:
    positions = {"IDR": {A: Money(-5, "JPY"), B: Money(5, "IDR")}}
    with pytest.raises(NettingError) as excinfo:
        settlement_instructions(positions, SettlementMode.VIA_NETWORK)
    assert code_of(excinfo) is NettingErrorCode.NETTING_CURRENCY_MISMATCH


def test_a_position_for_an_invalid_coop_id_is_refused() -> None:
    with pytest.raises(NettingError) as excinfo:
        settlement_instructions(positions_of("IDR", {0: -5, B: 5}), SettlementMode.VIA_NETWORK)
    assert code_of(excinfo) is NettingErrorCode.NETTING_COOP_ID_INVALID


@pytest.mark.parametrize(
    ("payer", "payee", "amount_minor", "expected"),
    [
        (A, A, 1, NettingErrorCode.NETTING_INSTRUCTION_INVALID),
        (NETWORK, NETWORK, 1, NettingErrorCode.NETTING_INSTRUCTION_INVALID),
        (0, NETWORK, 1, NettingErrorCode.NETTING_INSTRUCTION_INVALID),
        (A, B, 0, NettingErrorCode.NETTING_AMOUNT_NOT_POSITIVE),
    ],
)
def test_an_instruction_needs_two_parties_and_a_positive_amount(
    payer: int, payee: int, amount_minor: int, expected: NettingErrorCode
) -> None:
    with pytest.raises(NettingError) as excinfo:
        SettlementInstruction(payer, payee, Money(amount_minor, "IDR"))
    assert code_of(excinfo) is expected


# --- confirmations --------------------------------------------------------------------------


def test_a_partial_confirmation_leaves_the_rest_outstanding() -> None:
    positions = net_positions(triangle("IDR"))
    first = settlement_instructions(positions, SettlementMode.VIA_NETWORK)[:2]
    assert minor(apply_instructions(positions, first)) == {"IDR": {A: 0, B: 0, C: 40, D: 0}}


def test_a_replayed_confirmation_is_refused() -> None:
    positions = net_positions(triangle("IDR"))
    instructions = settlement_instructions(positions, SettlementMode.VIA_NETWORK)
    settled = apply_instructions(positions, instructions)
    with pytest.raises(NettingError) as excinfo:
        apply_instructions(settled, instructions[:1])
    assert code_of(excinfo) is NettingErrorCode.NETTING_INSTRUCTION_EXCEEDS_POSITION


def test_paying_more_than_a_coop_is_owed_is_refused() -> None:
    positions = positions_of("IDR", {A: -5, B: 5})
    with pytest.raises(NettingError) as excinfo:
        apply_instructions(positions, [SettlementInstruction(NETWORK, B, Money(6, "IDR"))])
    assert code_of(excinfo) is NettingErrorCode.NETTING_INSTRUCTION_EXCEEDS_POSITION


@pytest.mark.parametrize(
    "instruction",
    [
        SettlementInstruction(C, NETWORK, Money(1, "IDR")),
        SettlementInstruction(A, NETWORK, Money(1, "JPY")),
    ],
)
def test_an_instruction_for_a_coop_or_currency_without_a_position_is_refused(
    instruction: SettlementInstruction,
) -> None:
    with pytest.raises(NettingError) as excinfo:
        apply_instructions(positions_of("IDR", {A: -5, B: 5}), [instruction])
    assert code_of(excinfo) is NettingErrorCode.NETTING_PARTY_UNKNOWN


def test_applying_instructions_does_not_change_the_positions_given() -> None:
    positions = net_positions(triangle("IDR"))
    before = minor(positions)
    apply_instructions(positions, settlement_instructions(positions, SettlementMode.BILATERAL))
    assert minor(positions) == before
