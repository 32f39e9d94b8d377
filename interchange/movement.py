"""How a payment moves money: the ledger legs and the obligations between cooperatives.

A movement takes `debit` from a source account at cooperative S and gives `credit` to a
destination account at cooperative T; the difference is the fee, shared between the
source side, the destination side and the network. Every cooperative's books stay
balanced on their own, through its `due` account (positive balance: what it owes the
network; negative: what the network owes it):

    S: source -debit    fee_S +source_fee    due_S +(debit - source_fee)
    T: dest   +credit   fee_T +dest_fee      due_T -(credit + dest_fee)
    N: fee_N[S] +network_fee                 due_N[S] -network_fee

The network keeps a fee and a due account per source cooperative (`fee_N[S]`, `due_N[S]`,
owned by the network): no row is shared by every payment, so payments of different
cooperatives never wait on each other's locks. The network's fee income and due balance
are the sums over these accounts (the network's own pair is its `[S]` for S = N).
Legs on the same account are summed (an on-us payment has S = T) and zero legs dropped.
The obligations follow: S owes T `credit + dest_fee` and S owes the network
`network_fee`, skipping any a party would owe itself. Invariants: the legs sum to zero;
the obligations of each cooperative equal the change of its due account. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ledger.entry import Leg
from ledger.money import Money

__all__ = ["CoopAccounts", "Movement", "ObligationDelta", "movement_legs", "movement_obligations"]


@dataclass(frozen=True, slots=True)
class CoopAccounts:
    """A participant's ledger accounts, and the network's fee and due accounts for its payments."""

    coop_id: int
    cash_account_id: int
    fee_account_id: int
    due_account_id: int
    network_fee_account_id: int
    network_due_account_id: int


@dataclass(frozen=True, slots=True)
class Movement:
    """Money leaving `source_account_id` (at S) and arriving at `dest_account_id` (at T)."""

    currency: str
    source_coop_id: int
    source_account_id: int
    debit_minor: int
    dest_coop_id: int
    dest_account_id: int
    credit_minor: int
    source_fee_minor: int = 0
    dest_fee_minor: int = 0
    network_fee_minor: int = 0

    def __post_init__(self) -> None:
        assert self.debit_minor > 0
        assert self.credit_minor > 0
        fees = self.source_fee_minor + self.dest_fee_minor + self.network_fee_minor
        assert min(self.source_fee_minor, self.dest_fee_minor, self.network_fee_minor) >= 0
        assert self.debit_minor - self.credit_minor == fees, "debit = credit + fee"


@dataclass(frozen=True, slots=True)
class ObligationDelta:
    """`debtor_coop_id` owes `creditor_coop_id` `amount_minor` more in this window."""

    debtor_coop_id: int
    creditor_coop_id: int
    currency: str
    amount_minor: int


def movement_legs(movement: Movement, source: CoopAccounts, dest: CoopAccounts) -> tuple[Leg, ...]:
    """The ledger legs of `movement` between the accounts of its source and destination
    cooperatives, summed per account, zero legs dropped, in a fixed order."""
    assert (source.coop_id, dest.coop_id) == (movement.source_coop_id, movement.dest_coop_id)
    amounts: defaultdict[int, int] = defaultdict(int)
    amounts[movement.source_account_id] -= movement.debit_minor
    amounts[source.fee_account_id] += movement.source_fee_minor
    amounts[source.due_account_id] += movement.debit_minor - movement.source_fee_minor
    amounts[movement.dest_account_id] += movement.credit_minor
    amounts[dest.fee_account_id] += movement.dest_fee_minor
    amounts[dest.due_account_id] -= movement.credit_minor + movement.dest_fee_minor
    amounts[source.network_fee_account_id] += movement.network_fee_minor
    amounts[source.network_due_account_id] -= movement.network_fee_minor
    legs = tuple(
        Leg(account_id, Money(amount, movement.currency))
        for account_id, amount in amounts.items()
        if amount != 0
    )
    assert sum(leg.amount.amount_minor for leg in legs) == 0, "a movement balances"
    return legs


def movement_obligations(movement: Movement, network_coop_id: int) -> tuple[ObligationDelta, ...]:
    """What the source cooperative now owes the destination and the network."""
    debtor = movement.source_coop_id
    owed = (
        (movement.dest_coop_id, movement.credit_minor + movement.dest_fee_minor),
        (network_coop_id, movement.network_fee_minor),
    )
    return tuple(
        ObligationDelta(debtor, creditor, movement.currency, amount)
        for creditor, amount in owed
        if creditor != debtor and amount > 0
    )
