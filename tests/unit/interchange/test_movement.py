"""Movement legs and obligations, by hand: pure, no database.

Cooperatives 1 and 2 trade; 9 is the network. Each owns accounts numbered coop × 10 +
(1 cash, 2 fee, 3 due); the network's fee and due accounts for cooperative c's payments are
900 + c × 10 + (2 fee, 3 due), and for its own, its own 92 and 93. Wallets are numbered
100 and up.
"""

from __future__ import annotations

import pytest

from interchange.movement import (
    CoopAccounts,
    Movement,
    ObligationDelta,
    movement_legs,
    movement_obligations,
)
from ledger.entry import Leg
from ledger.money import Money

NETWORK = CoopAccounts(9, 91, 92, 93, 92, 93)
COOPS = {
    1: CoopAccounts(1, 11, 12, 13, 912, 913),
    2: CoopAccounts(2, 21, 22, 23, 922, 923),
    9: NETWORK,
}
WALLET_1, WALLET_1B, WALLET_2 = 101, 102, 201


def due_accounts(coop: CoopAccounts) -> set[int]:
    """The cooperative's due account; the network's are one per cooperative."""
    if coop is NETWORK:
        return {c.network_due_account_id for c in COOPS.values()}
    return {coop.due_account_id}


def legs_of(movement: Movement) -> list[tuple[int, int]]:
    return [(leg.account_id, leg.amount.amount_minor) for leg in legs(movement)]


def legs(movement: Movement) -> tuple[Leg, ...]:
    return movement_legs(movement, COOPS[movement.source_coop_id], COOPS[movement.dest_coop_id])


def purchase(source: int, dest: int, dest_wallet: int) -> Movement:
    """Rp10.000 at 0.7%: 70 rupiah split 28/28/14, in sen."""
    return Movement(
        "IDR", source, WALLET_1, 1_000_000, dest, dest_wallet, 993_000, 2_800, 2_800, 1_400
    )


def test_an_off_us_movement_has_one_leg_per_account_in_a_fixed_order() -> None:
    assert legs_of(purchase(1, 2, WALLET_2)) == [
        (WALLET_1, -1_000_000),
        (12, 2_800),
        (13, 1_000_000 - 2_800),
        (WALLET_2, 993_000),
        (22, 2_800),
        (23, -(993_000 + 2_800)),
        (912, 1_400),
        (913, -1_400),
    ]


def test_an_on_us_movement_sums_its_legs_per_account() -> None:
    # Both fee shares land on cooperative 1's fee account, and its due account keeps only
    # what it owes the network.
    assert legs_of(purchase(1, 1, WALLET_1B)) == [
        (WALLET_1, -1_000_000),
        (12, 2_800 + 2_800),
        (13, 1_400),
        (WALLET_1B, 993_000),
        (912, 1_400),
        (913, -1_400),
    ]


def test_an_on_us_movement_without_fees_drops_the_zero_legs() -> None:
    refund = Movement("IDR", 1, WALLET_1B, 500_000, 1, WALLET_1, 500_000)
    assert legs_of(refund) == [(WALLET_1B, -500_000), (WALLET_1, 500_000)]


def test_an_off_us_movement_without_fees_moves_through_both_due_accounts_only() -> None:
    refund = Movement("IDR", 2, WALLET_2, 500_000, 1, WALLET_1, 500_000)
    assert legs_of(refund) == [
        (WALLET_2, -500_000),
        (23, 500_000),
        (WALLET_1, 500_000),
        (13, -500_000),
    ]


def test_a_cash_in_moves_from_the_counters_cash_account() -> None:
    # Rp250.000 at cooperative 1's counter for a member of 2; fee Rp1.000 = 300 + 500 + 200.
    cash_in = Movement("IDR", 1, 11, 25_000_000, 2, WALLET_2, 24_900_000, 30_000, 50_000, 20_000)
    assert legs_of(cash_in) == [
        (11, -25_000_000),
        (12, 30_000),
        (13, 25_000_000 - 30_000),
        (WALLET_2, 24_900_000),
        (22, 50_000),
        (23, -(24_900_000 + 50_000)),
        (912, 20_000),
        (913, -20_000),
    ]


def test_a_movement_out_of_the_network_books_its_share_on_its_own_accounts() -> None:
    payout = Movement("IDR", 9, 91, 1_010, 1, WALLET_1, 1_000, 0, 0, 10)
    assert legs_of(payout) == [
        (91, -1_010),
        (92, 10),
        (93, 1_010 - 10),
        (WALLET_1, 1_000),
        (13, -1_000),
    ]


def test_the_networks_share_lands_on_its_accounts_for_the_paying_cooperative() -> None:
    # No account is touched by every payment: payments of cooperatives 1 and 2 meet on no
    # account of the network's, so neither waits on the other's locks there.
    network_owned = {92, 93, 912, 913, 922, 923}
    from_1 = {leg.account_id for leg in legs(purchase(1, 1, WALLET_1B))} & network_owned
    from_2 = {leg.account_id for leg in legs(purchase(2, 2, WALLET_2))} & network_owned
    assert (from_1, from_2) == ({912, 913}, {922, 923})


@pytest.mark.parametrize("source", [1, 2])
@pytest.mark.parametrize("dest", [1, 2])
def test_the_legs_of_a_movement_sum_to_zero_in_its_currency(source: int, dest: int) -> None:
    movement = Movement("JPY", source, WALLET_1, 1_003, dest, WALLET_2, 1_000, 1, 1, 1)
    found = legs(movement)
    assert sum(leg.amount.amount_minor for leg in found) == 0
    assert {leg.amount.currency for leg in found} == {"JPY"}
    assert all(leg.amount != Money.zero("JPY") for leg in found)


@pytest.mark.parametrize(
    ("debit", "credit", "fees"),
    [
        (1_000, 999, (0, 0, 0)),  # a unit unaccounted for
        (1_000, 1_001, (0, 0, -1)),  # a negative share
        (1_000, 0, (400, 400, 200)),  # nothing arrives
        (0, 0, (0, 0, 0)),  # nothing moves
    ],
)
def test_a_movement_that_does_not_add_up_is_a_programmer_error(
    debit: int, credit: int, fees: tuple[int, int, int]
) -> None:
    with pytest.raises(AssertionError):
        Movement("IDR", 1, WALLET_1, debit, 2, WALLET_2, credit, *fees)


# Obligations


def test_an_off_us_purchase_owes_the_destination_and_the_network() -> None:
    assert movement_obligations(purchase(1, 2, WALLET_2), NETWORK.coop_id) == (
        ObligationDelta(1, 2, "IDR", 993_000 + 2_800),
        ObligationDelta(1, 9, "IDR", 1_400),
    )


def test_an_on_us_purchase_owes_only_the_network() -> None:
    assert movement_obligations(purchase(1, 1, WALLET_1B), NETWORK.coop_id) == (
        ObligationDelta(1, 9, "IDR", 1_400),
    )


def test_a_cash_in_makes_the_counter_owe_the_members_cooperative() -> None:
    cash_in = Movement("IDR", 1, 11, 25_000_000, 2, WALLET_2, 24_900_000, 30_000, 50_000, 20_000)
    assert movement_obligations(cash_in, NETWORK.coop_id) == (
        ObligationDelta(1, 2, "IDR", 24_900_000 + 50_000),
        ObligationDelta(1, 9, "IDR", 20_000),
    )


def test_an_off_us_refund_owes_only_the_refund() -> None:
    refund = Movement("IDR", 2, WALLET_2, 500_000, 1, WALLET_1, 500_000)
    assert movement_obligations(refund, NETWORK.coop_id) == (ObligationDelta(2, 1, "IDR", 500_000),)


def test_an_on_us_movement_without_a_network_share_owes_nothing() -> None:
    refund = Movement("IDR", 1, WALLET_1B, 500_000, 1, WALLET_1, 500_000)
    assert movement_obligations(refund, NETWORK.coop_id) == ()


def test_a_movement_out_of_the_network_owes_nobody_the_networks_share() -> None:
    payout = Movement("IDR", 9, 91, 1_010, 1, WALLET_1, 1_000, 0, 0, 10)
    assert movement_obligations(payout, NETWORK.coop_id) == (ObligationDelta(9, 1, "IDR", 1_000),)


@pytest.mark.parametrize("source", [1, 2])
@pytest.mark.parametrize("dest", [1, 2])
def test_each_cooperatives_due_legs_equal_what_it_owes_minus_what_it_is_owed(
    source: int, dest: int
) -> None:
    movement = Movement(
        "IDR", source, WALLET_1, 1_000_007, dest, WALLET_2, 993_000, 2_803, 2_801, 1_403
    )
    due = {leg.account_id: leg.amount.amount_minor for leg in legs(movement)}
    owed = movement_obligations(movement, NETWORK.coop_id)
    for coop in COOPS.values():
        payable = sum(o.amount_minor for o in owed if o.debtor_coop_id == coop.coop_id)
        receivable = sum(o.amount_minor for o in owed if o.creditor_coop_id == coop.coop_id)
        assert sum(due.get(a, 0) for a in due_accounts(coop)) == payable - receivable
