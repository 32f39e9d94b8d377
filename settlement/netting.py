"""Multilateral netting: from gross obligations between coops to settlement instructions.

An `Obligation` says one coop owes another a positive amount. Netting reduces a window's
obligations to one signed position per coop and currency, and then to the few payments
that settle them.

Invariants:
- positions are signed: positive means the network owes the coop (net creditor), negative
  means the coop owes the network (net debtor); every coop named by an obligation has a
  position, zero included;
- per currency, positions sum to exactly zero, and each equals the coop's row sum in the
  `BilateralMatrix` (what others owe it on net, minus what it owes them);
- applying every instruction from `settlement_instructions` leaves every position exactly
  zero; `via_network` gives at most one instruction per coop and currency, `bilateral` at
  most (nonzero positions - 1) per currency;
- outputs are deterministic: currencies and coop ids are sorted, instructions sorted by
  (currency, payer, payee) with coops by id before `NETWORK`, so a rerun is identical.

Pure: no I/O, no clock. Mappings returned are read-only.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Final, TypeAlias, TypeVar

from ledger.money import AMOUNT_MINOR_MAX, Money
from ledger.row_id import ROW_ID_MAX
from settlement.errors import SettlementError

__all__ = [
    "COOP_ID_MAX",
    "NETWORK",
    "OBLIGATIONS_MAX",
    "BilateralMatrix",
    "NettingError",
    "NettingErrorCode",
    "Network",
    "Obligation",
    "Party",
    "Positions",
    "SettlementInstruction",
    "SettlementMode",
    "apply_instructions",
    "bilateral_matrix",
    "net_positions",
    "settlement_instructions",
]

# Coop ids are database row ids.
COOP_ID_MAX = ROW_ID_MAX
# One settlement window of a national cooperative network stays well below this.
OBLIGATIONS_MAX = 1_000_000


class NettingErrorCode(StrEnum):
    """Stable codes of netting failures, in the order the checks run. Never renamed."""

    NETTING_COOP_ID_INVALID = "netting_coop_id_invalid"
    NETTING_SELF_OBLIGATION = "netting_self_obligation"
    NETTING_AMOUNT_NOT_POSITIVE = "netting_amount_not_positive"
    NETTING_INSTRUCTION_INVALID = "netting_instruction_invalid"
    NETTING_TOO_MANY_OBLIGATIONS = "netting_too_many_obligations"
    NETTING_CURRENCY_MISMATCH = "netting_currency_mismatch"
    NETTING_AMOUNT_TOO_LARGE = "netting_amount_too_large"
    NETTING_POSITIONS_UNBALANCED = "netting_positions_unbalanced"
    NETTING_PARTY_UNKNOWN = "netting_party_unknown"
    NETTING_INSTRUCTION_EXCEEDS_POSITION = "netting_instruction_exceeds_position"


class NettingError(SettlementError):
    """A netting failure the caller caused; `code` is a `NettingErrorCode`."""


class Network(Enum):
    """The network's settlement account as a party to an instruction (never a coop id)."""

    NETWORK = "network"


NETWORK: Final = Network.NETWORK
Party: TypeAlias = int | Network
# currency -> coop id -> signed position (positive: the coop is owed).
Positions: TypeAlias = Mapping[str, Mapping[int, Money]]
# Keys of frozen totals: a coop id, or a (debtor, creditor) pair.
_Key = TypeVar("_Key", int, tuple[int, int])


class SettlementMode(StrEnum):
    """How positions are settled: through the network's account, or coop to coop."""

    VIA_NETWORK = "via_network"
    BILATERAL = "bilateral"


def _is_coop_id(value: object) -> bool:
    """True when `value` is an int (not a bool) in 1..COOP_ID_MAX."""
    return type(value) is int and 1 <= value <= COOP_ID_MAX


def _require_coop_id(value: object, name: str) -> None:
    """Raise `netting_coop_id_invalid` unless `value` is a coop id."""
    if not _is_coop_id(value):
        code = NettingErrorCode.NETTING_COOP_ID_INVALID
        raise NettingError(code, f"{name} must be an integer in 1..{COOP_ID_MAX}", field=name)


def _money(amount_minor: int, currency: str) -> Money:
    """Return `Money`, raising `netting_amount_too_large` instead of the ledger's error."""
    if abs(amount_minor) > AMOUNT_MINOR_MAX:
        raise NettingError(
            NettingErrorCode.NETTING_AMOUNT_TOO_LARGE,
            f"{amount_minor} minor units exceeds {AMOUNT_MINOR_MAX}",
            field="amount",
        )
    return Money(amount_minor, currency)


def _require_positive(amount: Money) -> None:
    """Raise `netting_amount_not_positive` unless `amount` is above zero."""
    if not amount.is_positive():
        code = NettingErrorCode.NETTING_AMOUNT_NOT_POSITIVE
        raise NettingError(code, "amounts are positive", field="amount")


@dataclass(frozen=True, slots=True)
class Obligation:
    """`debtor_coop_id` owes `creditor_coop_id` a positive `amount`; the two differ."""

    debtor_coop_id: int
    creditor_coop_id: int
    amount: Money

    def __post_init__(self) -> None:
        assert isinstance(self.amount, Money), "amount must be Money"
        _require_coop_id(self.debtor_coop_id, "debtor_coop_id")
        _require_coop_id(self.creditor_coop_id, "creditor_coop_id")
        if self.debtor_coop_id == self.creditor_coop_id:
            code = NettingErrorCode.NETTING_SELF_OBLIGATION
            raise NettingError(code, "a coop cannot owe itself", field="creditor_coop_id")
        _require_positive(self.amount)


@dataclass(frozen=True, slots=True)
class SettlementInstruction:
    """`payer` pays `payee` a positive `amount`; each is a coop id or `NETWORK`, not both."""

    payer: Party
    payee: Party
    amount: Money

    def __post_init__(self) -> None:
        assert isinstance(self.amount, Money), "amount must be Money"
        parties = (self.payer, self.payee)
        if not all(p is NETWORK or _is_coop_id(p) for p in parties) or self.payer == self.payee:
            code = NettingErrorCode.NETTING_INSTRUCTION_INVALID
            raise NettingError(code, "payer and payee are two different parties", field="payee")
        _require_positive(self.amount)


@dataclass(frozen=True, slots=True)
class BilateralMatrix:
    """Gross obligations per currency and ordered (debtor, creditor) pair; read-only.

    `gross_by_pair[currency][(debtor, creditor)]` is the total the debtor owes the creditor;
    only pairs with an obligation appear. Net amounts and row sums are derived from it.
    """

    gross_by_pair: Mapping[str, Mapping[tuple[int, int], Money]] = field(hash=False)

    def currencies(self) -> tuple[str, ...]:
        """Return the currencies with obligations, sorted."""
        return tuple(sorted(self.gross_by_pair))

    def coop_ids(self, currency: str) -> tuple[int, ...]:
        """Return every coop named in `currency`'s obligations, sorted."""
        pairs = self.gross_by_pair.get(currency, {})
        return tuple(sorted({coop for pair in pairs for coop in pair}))

    def gross(self, currency: str, debtor_coop_id: int, creditor_coop_id: int) -> Money:
        """Return the total the debtor owes the creditor (zero if nothing)."""
        pairs = self.gross_by_pair.get(currency, {})
        return pairs.get((debtor_coop_id, creditor_coop_id), Money.zero(currency))

    def net(self, currency: str, debtor_coop_id: int, creditor_coop_id: int) -> Money:
        """Return what the debtor owes the creditor net of the reverse; antisymmetric."""
        owed = self.gross(currency, debtor_coop_id, creditor_coop_id).amount_minor
        owed_back = self.gross(currency, creditor_coop_id, debtor_coop_id).amount_minor
        return _money(owed - owed_back, currency)

    def row_sum(self, currency: str, coop_id: int) -> Money:
        """Return the sum over counterparties of what each owes `coop_id` on net.

        This is the coop's multilateral position (positive: it is owed).
        """
        total = 0
        for (debtor, creditor), amount in self.gross_by_pair.get(currency, {}).items():
            if creditor == coop_id:
                total += amount.amount_minor
            if debtor == coop_id:
                total -= amount.amount_minor
        return _money(total, currency)


def _collect(obligations: Iterable[Obligation]) -> tuple[Obligation, ...]:
    """Materialise the obligations, refusing more than `OBLIGATIONS_MAX`."""
    collected = tuple(itertools.islice(obligations, OBLIGATIONS_MAX + 1))
    if len(collected) > OBLIGATIONS_MAX:
        raise NettingError(
            NettingErrorCode.NETTING_TOO_MANY_OBLIGATIONS,
            f"at most {OBLIGATIONS_MAX} obligations per netting",
            field="obligations",
        )
    assert all(isinstance(o, Obligation) for o in collected), "obligations must be Obligation"
    return collected


def bilateral_matrix(obligations: Iterable[Obligation]) -> BilateralMatrix:
    """Sum obligations per currency and ordered pair; both directions are kept gross.

    Raises `netting_too_many_obligations`, then `netting_amount_too_large` if a pair's
    total exceeds what `Money` holds.
    """
    gross: dict[str, defaultdict[tuple[int, int], int]] = {}
    for obligation in _collect(obligations):
        pairs = gross.setdefault(obligation.amount.currency, defaultdict(int))
        pairs[obligation.debtor_coop_id, obligation.creditor_coop_id] += (
            obligation.amount.amount_minor
        )
    return BilateralMatrix(_freeze(gross))


def _freeze(totals: Mapping[str, Mapping[_Key, int]]) -> Mapping[str, Mapping[_Key, Money]]:
    """Return read-only `Money` totals, currencies and keys in sorted order."""
    return MappingProxyType(
        {
            currency: MappingProxyType(
                {key: _money(by_key[key], currency) for key in sorted(by_key)}
            )
            for currency, by_key in sorted(totals.items())
        }
    )


def net_positions(obligations: Iterable[Obligation]) -> Positions:
    """Return each coop's signed net position per currency (positive: the coop is owed).

    Every coop named by an obligation appears, zero included; positions sum to exactly zero
    per currency. Raises `netting_too_many_obligations`, then `netting_amount_too_large`.
    """
    totals: dict[str, defaultdict[int, int]] = {}
    for obligation in _collect(obligations):
        by_coop = totals.setdefault(obligation.amount.currency, defaultdict(int))
        by_coop[obligation.creditor_coop_id] += obligation.amount.amount_minor
        by_coop[obligation.debtor_coop_id] -= obligation.amount.amount_minor
    assert all(sum(by_coop.values()) == 0 for by_coop in totals.values()), "netting leaks"
    return _freeze(totals)


def _positions_minor(positions: Positions) -> dict[str, dict[int, int]]:
    """Return a mutable minor-unit copy of `positions`, checking ids and currencies."""
    copied: dict[str, dict[int, int]] = {}
    for currency, by_coop in positions.items():
        copied[currency] = {}
        for coop_id, amount in by_coop.items():
            _require_coop_id(coop_id, "coop_id")
            if amount.currency != currency:
                raise NettingError(
                    NettingErrorCode.NETTING_CURRENCY_MISMATCH,
                    f"a {amount.currency} position is filed under {currency}",
                    field="currency",
                )
            copied[currency][coop_id] = amount.amount_minor
    return copied


def _instruction_order(instruction: SettlementInstruction) -> tuple[object, ...]:
    """Sort key for instructions: currency, payer, payee; coops by id, then `NETWORK`."""
    payer, payee = (
        (1, 0) if isinstance(party, Network) else (0, party)
        for party in (instruction.payer, instruction.payee)
    )
    return (instruction.amount.currency, payer, payee)


def _via_network(currency: str, by_coop: Mapping[int, int]) -> list[SettlementInstruction]:
    """Return one instruction per nonzero position: debtors pay the network, it pays creditors."""
    return [
        SettlementInstruction(coop_id, NETWORK, Money(-amount_minor, currency))
        if amount_minor < 0
        else SettlementInstruction(NETWORK, coop_id, Money(amount_minor, currency))
        for coop_id, amount_minor in by_coop.items()
        if amount_minor != 0
    ]


def _bilateral(currency: str, by_coop: Mapping[int, int]) -> list[SettlementInstruction]:
    """Greedy: the largest debtor pays the largest creditor (ties: lower coop id) in turn.

    Each payment clears at least one side and the last clears both, so there are at most
    (nonzero positions - 1) payments.
    """
    # Heaps of (-outstanding, coop id): the largest outstanding, then the lowest id, on top.
    debtors = [(amount, coop) for coop, amount in by_coop.items() if amount < 0]
    creditors = [(-amount, coop) for coop, amount in by_coop.items() if amount > 0]
    heapq.heapify(debtors)
    heapq.heapify(creditors)
    payments: list[SettlementInstruction] = []
    while debtors:
        debt, debtor = heapq.heappop(debtors)
        credit, creditor = heapq.heappop(creditors)
        paid = min(-debt, -credit)
        payments.append(SettlementInstruction(debtor, creditor, Money(paid, currency)))
        if -debt > paid:
            heapq.heappush(debtors, (debt + paid, debtor))
        if -credit > paid:
            heapq.heappush(creditors, (credit + paid, creditor))
    assert not creditors, "balanced positions leave no creditor unpaid"
    assert len(payments) <= max(0, sum(1 for a in by_coop.values() if a != 0) - 1)
    return payments


def settlement_instructions(
    positions: Positions, mode: SettlementMode
) -> tuple[SettlementInstruction, ...]:
    """Return payments that settle `positions` exactly, sorted by (currency, payer, payee).

    `via_network`: each net debtor pays `NETWORK` once and `NETWORK` pays each net creditor
    once; zero positions get nothing. `bilateral`: direct coop-to-coop payments, greedy,
    at most (nonzero positions - 1) per currency. Checks, in order:
    `netting_coop_id_invalid`, `netting_currency_mismatch`, `netting_positions_unbalanced`.
    """
    assert isinstance(mode, SettlementMode), "mode must be a SettlementMode"
    minor = _positions_minor(positions)
    for currency, by_coop in minor.items():
        if sum(by_coop.values()) != 0:
            raise NettingError(
                NettingErrorCode.NETTING_POSITIONS_UNBALANCED,
                f"{currency} positions do not sum to zero",
                field="positions",
            )
    plan = _via_network if mode is SettlementMode.VIA_NETWORK else _bilateral
    instructions = [i for currency in sorted(minor) for i in plan(currency, minor[currency])]
    ordered = tuple(sorted(instructions, key=_instruction_order))
    remaining = apply_instructions(positions, ordered)
    assert all(a.is_zero() for by_coop in remaining.values() for a in by_coop.values())
    return ordered


def _settle_party(by_coop: dict[int, int], party: Party, delta_minor: int) -> None:
    """Move a coop's position by `delta_minor` toward zero; `NETWORK` passes through.

    Raises `netting_party_unknown` for a coop without a position, and
    `netting_instruction_exceeds_position` if the move would cross zero.
    """
    assert delta_minor != 0, "instructions are positive"
    if isinstance(party, Network):
        return
    if party not in by_coop:
        code = NettingErrorCode.NETTING_PARTY_UNKNOWN
        raise NettingError(code, f"coop {party} has no position", field="coop")
    moved = by_coop[party] + delta_minor
    if (delta_minor > 0 and moved > 0) or (delta_minor < 0 and moved < 0):
        raise NettingError(
            NettingErrorCode.NETTING_INSTRUCTION_EXCEEDS_POSITION,
            f"instruction exceeds coop {party}'s position",
            field="amount",
        )
    by_coop[party] = moved


def apply_instructions(
    positions: Positions, instructions: Iterable[SettlementInstruction]
) -> Positions:
    """Return the positions left after the instructions are paid, in the same shape.

    A paying coop's position rises by the amount and a paid coop's falls; `NETWORK` is a
    pass-through whose own balance is minus the sum of what remains. Positions need not
    balance (partial confirmations). Raises `netting_coop_id_invalid`,
    `netting_currency_mismatch`, `netting_party_unknown` (a currency or coop without a
    position), `netting_instruction_exceeds_position` (a payment that would cross zero, as a
    replayed confirmation does).
    """
    remaining = _positions_minor(positions)
    for instruction in instructions:
        by_coop = remaining.get(instruction.amount.currency)
        if by_coop is None:
            raise NettingError(
                NettingErrorCode.NETTING_PARTY_UNKNOWN,
                f"no positions in {instruction.amount.currency}",
                field="currency",
            )
        _settle_party(by_coop, instruction.payer, instruction.amount.amount_minor)
        _settle_party(by_coop, instruction.payee, -instruction.amount.amount_minor)
    return _freeze(remaining)
