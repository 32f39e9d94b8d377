"""Property tests for the close's netting: `settlement.closing.gross_positions` against
`settlement.netting`, on random obligation sets (pure functions only).

The close nets the window's running obligations (one row per ordered pair and currency) with
`gross_positions`; settlement plans payments from those positions with the netting module.
Both must agree, conserve money per currency, settle every position exactly, and give the
same output however often and in whatever order they are run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from interchange.movement import ObligationDelta
from ledger.money import Money
from settlement.closing import PositionRow, gross_positions
from settlement.netting import (
    NETWORK,
    Obligation,
    Positions,
    SettlementMode,
    apply_instructions,
    net_positions,
    settlement_instructions,
)

CURRENCIES = ("JPY", "IDR", "KWD")  # exponents 0, 2 and 3
COOP_ID_TOP = 6
AMOUNT_MINOR_TOP = 10**12


@st.composite
def deltas(draw: st.DrawFn) -> ObligationDelta:
    debtor = draw(st.integers(min_value=1, max_value=COOP_ID_TOP))
    creditor = draw(st.integers(min_value=1, max_value=COOP_ID_TOP).filter(lambda c: c != debtor))
    currency = draw(st.sampled_from(CURRENCIES))
    return ObligationDelta(
        debtor, creditor, currency, draw(st.integers(min_value=1, max_value=AMOUNT_MINOR_TOP))
    )


delta_lists = st.lists(deltas(), max_size=25)
modes = st.sampled_from(SettlementMode)


def as_obligations(items: Sequence[ObligationDelta]) -> list[Obligation]:
    return [
        Obligation(d.debtor_coop_id, d.creditor_coop_id, Money(d.amount_minor, d.currency))
        for d in items
    ]


def as_positions(rows: Sequence[PositionRow]) -> Positions:
    """Rows in the shape settlement plans from (as `start_settlement` builds it)."""
    positions: dict[str, dict[int, Money]] = {}
    for row in rows:
        positions.setdefault(row.currency, {})[row.coop_id] = Money(row.net_minor, row.currency)
    return positions


def per_pair(items: Sequence[ObligationDelta]) -> list[ObligationDelta]:
    """The running obligations the interchange keeps: one summed row per pair and currency."""
    totals: defaultdict[tuple[int, int, str], int] = defaultdict(int)
    for d in items:
        totals[(d.debtor_coop_id, d.creditor_coop_id, d.currency)] += d.amount_minor
    return [ObligationDelta(d, c, cur, amount) for (d, c, cur), amount in sorted(totals.items())]


@given(items=delta_lists)
def test_gross_positions_conserve_money_per_currency(items: list[ObligationDelta]) -> None:
    rows = gross_positions(items)

    owed = Counter[str]()
    for d in items:
        owed[d.currency] += d.amount_minor
    for currency in CURRENCIES:
        mine = [r for r in rows if r.currency == currency]
        assert sum(r.net_minor for r in mine) == 0
        assert sum(r.payable_minor for r in mine) == owed[currency]
        assert sum(r.receivable_minor for r in mine) == owed[currency]
    assert all(r.net_minor == r.receivable_minor - r.payable_minor for r in rows)
    assert all(r.payable_minor >= 0 and r.receivable_minor >= 0 for r in rows)
    assert len({(r.coop_id, r.currency) for r in rows}) == len(rows)


@given(items=delta_lists)
def test_gross_positions_equal_the_netting_modules_positions(items: list[ObligationDelta]) -> None:
    rows = gross_positions(items)

    expected = {
        (coop_id, currency): amount.amount_minor
        for currency, by_coop in net_positions(as_obligations(items)).items()
        for coop_id, amount in by_coop.items()
    }
    assert {(r.coop_id, r.currency): r.net_minor for r in rows} == expected


@given(items=delta_lists, data=st.data())
def test_gross_positions_do_not_depend_on_order_repetition_or_per_pair_summing(
    items: list[ObligationDelta], data: st.DataObject
) -> None:
    first = gross_positions(items)

    assert gross_positions(items) == first
    assert gross_positions(data.draw(st.permutations(items))) == first
    assert gross_positions(per_pair(items)) == first
    keys = [(r.coop_id, r.currency) for r in first]
    assert keys == sorted(keys)


@given(items=delta_lists, mode=modes)
def test_instructions_from_the_close_settle_every_position_exactly(
    items: list[ObligationDelta], mode: SettlementMode
) -> None:
    positions = as_positions(gross_positions(items))
    instructions = settlement_instructions(positions, mode)

    remaining = apply_instructions(positions, instructions)
    assert all(m.is_zero() for by_coop in remaining.values() for m in by_coop.values())
    assert settlement_instructions(positions, mode) == instructions
    assert settlement_instructions(as_positions(gross_positions(items)), mode) == instructions
    if mode is SettlementMode.VIA_NETWORK:
        parties = Counter(
            (i.amount.currency, party)
            for i in instructions
            for party in (i.payer, i.payee)
            if party is not NETWORK
        )
        assert all(count == 1 for count in parties.values())
    else:
        assert all(NETWORK not in (i.payer, i.payee) for i in instructions)
