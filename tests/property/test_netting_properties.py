"""Property tests for netting: conservation, agreement with the matrix, exact settlement,
also near the limits (the largest ids and amounts, currencies of every exponent)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.money import AMOUNT_MINOR_MAX, Money
from settlement.netting import (
    COOP_ID_MAX,
    NETWORK,
    NettingError,
    NettingErrorCode,
    Obligation,
    Positions,
    SettlementMode,
    apply_instructions,
    bilateral_matrix,
    net_positions,
    settlement_instructions,
)

CURRENCIES = ("JPY", "IDR", "KWD")
COOP_ID_TOP = 8
COOP_IDS = st.integers(min_value=1, max_value=COOP_ID_TOP)
AMOUNTS_MINOR = st.integers(min_value=1, max_value=10**9)
# Near the limits: ids at the top of their range, amounts at the most `Money` holds, and
# currencies of every exponent.
LIMIT_COOP_IDS = st.one_of(
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=COOP_ID_MAX - 3, max_value=COOP_ID_MAX),
)
LIMIT_AMOUNTS_MINOR = st.one_of(
    st.integers(min_value=1, max_value=1_000),
    st.integers(min_value=AMOUNT_MINOR_MAX - 5, max_value=AMOUNT_MINOR_MAX),
)
LIMIT_CURRENCIES = ("IDR", "JPY", "KWD", "USD", "EUR", "VND", "BHD")


@st.composite
def obligations_of(
    draw: st.DrawFn,
    coop_ids: st.SearchStrategy[int] = COOP_IDS,
    amounts_minor: st.SearchStrategy[int] = AMOUNTS_MINOR,
    currencies: tuple[str, ...] = CURRENCIES,
) -> Obligation:
    debtor = draw(coop_ids)
    creditor = draw(coop_ids.filter(lambda c: c != debtor))
    amount_minor = draw(amounts_minor)
    return Obligation(debtor, creditor, Money(amount_minor, draw(st.sampled_from(currencies))))


obligation_lists = st.lists(obligations_of(), max_size=40)
modes = st.sampled_from(SettlementMode)


def all_zero(positions: Positions) -> bool:
    return all(amount.is_zero() for by_coop in positions.values() for amount in by_coop.values())


@settings(deadline=None)
@given(obligations=obligation_lists)
def test_positions_sum_to_zero_in_every_currency(obligations: list[Obligation]) -> None:
    for by_coop in net_positions(obligations).values():
        assert sum(amount.amount_minor for amount in by_coop.values()) == 0


@settings(deadline=None)
@given(obligations=obligation_lists)
def test_bilateral_row_sums_equal_multilateral_positions(obligations: list[Obligation]) -> None:
    matrix = bilateral_matrix(obligations)
    positions = net_positions(obligations)
    assert matrix.currencies() == tuple(positions)
    for currency, by_coop in positions.items():
        assert matrix.coop_ids(currency) == tuple(by_coop)
        for coop_id, amount in by_coop.items():
            assert matrix.row_sum(currency, coop_id) == amount


@settings(deadline=None)
@given(obligations=obligation_lists)
def test_bilateral_net_is_antisymmetric_and_gross_is_the_sum(
    obligations: list[Obligation],
) -> None:
    matrix = bilateral_matrix(obligations)
    totals = Counter[tuple[str, int, int]]()
    for o in obligations:
        totals[o.amount.currency, o.debtor_coop_id, o.creditor_coop_id] += o.amount.amount_minor
    for currency in matrix.currencies():
        for a in matrix.coop_ids(currency):
            for b in matrix.coop_ids(currency):
                assert matrix.gross(currency, a, b).amount_minor == totals[currency, a, b]
                assert matrix.net(currency, a, b) == -matrix.net(currency, b, a)


@settings(deadline=None)
@given(obligations=obligation_lists, mode=modes)
def test_instructions_settle_every_position_exactly(
    obligations: list[Obligation], mode: SettlementMode
) -> None:
    positions = net_positions(obligations)
    instructions = settlement_instructions(positions, mode)
    assert all_zero(apply_instructions(positions, instructions))


@settings(deadline=None)
@given(obligations=obligation_lists, mode=modes, data=st.data())
def test_netting_twice_or_in_another_order_gives_identical_output(
    obligations: list[Obligation], mode: SettlementMode, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(obligations))
    first = settlement_instructions(net_positions(obligations), mode)
    assert settlement_instructions(net_positions(obligations), mode) == first
    assert settlement_instructions(net_positions(shuffled), mode) == first
    assert net_positions(shuffled) == net_positions(obligations)


@settings(deadline=None)
@given(obligations=obligation_lists)
def test_bilateral_mode_uses_at_most_one_payment_fewer_than_nonzero_positions(
    obligations: list[Obligation],
) -> None:
    positions = net_positions(obligations)
    instructions = settlement_instructions(positions, SettlementMode.BILATERAL)
    for currency, by_coop in positions.items():
        nonzero = sum(1 for amount in by_coop.values() if not amount.is_zero())
        count = sum(1 for i in instructions if i.amount.currency == currency)
        assert count <= max(0, nonzero - 1)
    assert all(NETWORK not in (i.payer, i.payee) for i in instructions)


@settings(deadline=None)
@given(obligations=obligation_lists)
def test_via_network_gives_one_instruction_per_nonzero_position(
    obligations: list[Obligation],
) -> None:
    positions = net_positions(obligations)
    instructions = settlement_instructions(positions, SettlementMode.VIA_NETWORK)
    coops = [(i.amount.currency, i.payer if i.payee is NETWORK else i.payee) for i in instructions]
    nonzero = [
        (currency, coop_id)
        for currency, by_coop in positions.items()
        for coop_id, amount in by_coop.items()
        if not amount.is_zero()
    ]
    assert sorted(coops, key=str) == sorted(nonzero, key=str)
    assert all(NETWORK in (i.payer, i.payee) for i in instructions)


@settings(deadline=None)
@given(obligations=obligation_lists, mode=modes, data=st.data())
def test_confirming_in_any_order_never_crosses_zero_and_replays_are_refused(
    obligations: list[Obligation], mode: SettlementMode, data: st.DataObject
) -> None:
    positions = net_positions(obligations)
    instructions = data.draw(st.permutations(settlement_instructions(positions, mode)))
    remaining = positions
    for instruction in instructions:
        before = remaining
        remaining = apply_instructions(remaining, [instruction])
        for currency, by_coop in remaining.items():
            for coop_id, amount in by_coop.items():
                start = before[currency][coop_id].amount_minor
                assert abs(amount.amount_minor) <= abs(start)
                assert amount.amount_minor * start >= 0
    assert all_zero(remaining)
    for instruction in instructions:
        with pytest.raises(NettingError) as excinfo:
            apply_instructions(remaining, [instruction])
        assert excinfo.value.code is NettingErrorCode.NETTING_INSTRUCTION_EXCEEDS_POSITION


@settings(deadline=None)
@given(
    obligations=st.lists(
        obligations_of(LIMIT_COOP_IDS, LIMIT_AMOUNTS_MINOR, LIMIT_CURRENCIES), max_size=30
    ),
    mode=modes,
)
def test_netting_near_the_limits_settles_exactly_or_refuses_with_a_code(
    obligations: list[Obligation], mode: SettlementMode
) -> None:
    """Huge amounts, ids near the top, many currencies: either a named refusal, or positions
    that sum to zero and instructions (at most n-1 bilateral, n via the network) that settle
    every position exactly."""
    refused: list[NettingError] = []
    try:
        positions = net_positions(obligations)
    except NettingError as error:
        refused.append(error)
    if refused:
        assert refused[0].code is NettingErrorCode.NETTING_AMOUNT_TOO_LARGE
        return
    instructions = settlement_instructions(positions, mode)
    remaining = apply_instructions(positions, instructions)
    assert all(a.is_zero() for by_coop in remaining.values() for a in by_coop.values())
    for currency, by_coop in positions.items():
        assert sum(a.amount_minor for a in by_coop.values()) == 0
        nonzero = sum(1 for a in by_coop.values() if not a.is_zero())
        count = sum(1 for i in instructions if i.amount.currency == currency)
        bound = nonzero if mode is SettlementMode.VIA_NETWORK else max(0, nonzero - 1)
        assert count <= bound
        if mode is SettlementMode.BILATERAL:
            assert all(NETWORK not in (i.payer, i.payee) for i in instructions)
