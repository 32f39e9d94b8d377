"""Settlement reports as values: a window's report, and one cooperative's view of it.

A `WindowReport` is everything a settlement window produced, in one currency: each coop's
position with its gross amounts and fees, the bilateral obligations behind the positions,
and the instructions that settle them. A `CoopReport` is one coop's slice of it.
`settlement.report_render` turns either into JSON, CSV or PDF.

Invariants, checked when a report is built (codes in this order):
- every amount is in the report's currency (`report_currency_mismatch`);
- gross amounts and fees are not negative, bilateral amounts and instructions positive,
  counts at least one (`report_amount_invalid`);
- a position's net is its receivable minus its payable (`report_position_inconsistent`);
- each coop has one position (`report_coop_repeated`) and the nets sum to zero
  (`report_positions_unbalanced`), as netting guarantees;
- every coop named by a bilateral row or an instruction has a position
  (`report_party_unknown`).
Rows are kept sorted whatever order they were given in: positions by coop id, bilateral
rows by (debtor id, creditor id), instructions by reference, so output is deterministic.
Names are stored exactly as registered; escaping is the renderer's job.

Pure: values only; `generated_at` is the caller's clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TypeAlias

from ledger.money import Money
from settlement.errors import SettlementError
from settlement.netting import Network
from settlement.window_rules import SettlementErrorCode, WindowStatus

__all__ = [
    "BilateralLine",
    "CoopRef",
    "CoopReport",
    "InstructionLine",
    "InstructionStatus",
    "PositionLine",
    "ReportError",
    "ReportErrorCode",
    "ReportParty",
    "WindowReport",
    "WindowTotals",
    "coop_report",
]


class ReportErrorCode(StrEnum):
    """Stable codes of inconsistent report input, in the order the checks run."""

    REPORT_CURRENCY_MISMATCH = "report_currency_mismatch"
    REPORT_AMOUNT_INVALID = "report_amount_invalid"
    REPORT_POSITION_INCONSISTENT = "report_position_inconsistent"
    REPORT_COOP_REPEATED = "report_coop_repeated"
    REPORT_POSITIONS_UNBALANCED = "report_positions_unbalanced"
    REPORT_PARTY_UNKNOWN = "report_party_unknown"


class ReportError(SettlementError):
    """A report cannot be built from what was given; `code` is stable."""


class InstructionStatus(StrEnum):
    """Stored states of a settlement instruction (`settlement_instruction.status`)."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CoopRef:
    """A cooperative as a report names it: id, short code, and registered name."""

    coop_id: int
    code: str
    name: str

    def __post_init__(self) -> None:
        assert type(self.coop_id) is int and self.coop_id > 0, "coop ids are positive"
        assert isinstance(self.code, str) and isinstance(self.name, str), "text"


ReportParty: TypeAlias = CoopRef | Network


def _require(condition: bool, code: ReportErrorCode, message: str) -> None:
    """Raise `code` unless `condition` holds."""
    if not condition:
        raise ReportError(code, message)


def _require_currency(amounts: Iterable[Money], currency: str) -> None:
    """Refuse amounts in another currency than `currency`."""
    for amount in amounts:
        assert isinstance(amount, Money), "amounts are Money"
        mismatch = ReportErrorCode.REPORT_CURRENCY_MISMATCH
        _require(amount.currency == currency, mismatch, f"{amount} is not in {currency}")


def _require_amounts(amounts: Iterable[Money], *, positive: bool = False) -> None:
    """Refuse negative amounts, or with `positive` amounts that are not above zero."""
    low = 1 if positive else 0
    for amount in amounts:
        invalid = ReportErrorCode.REPORT_AMOUNT_INVALID
        _require(amount.amount_minor >= low, invalid, f"{amount} is below {low} minor units")


@dataclass(frozen=True, slots=True)
class PositionLine:
    """A coop's position in the window: net = receivable - payable, and its fees."""

    coop: CoopRef
    net: Money
    payable: Money
    receivable: Money
    fee_income: Money
    fee_cost: Money

    def __post_init__(self) -> None:
        gross = (self.payable, self.receivable, self.fee_income, self.fee_cost)
        assert isinstance(self.net, Money), "net is Money"
        _require_currency(gross, self.net.currency)
        _require_amounts(gross)
        consistent = self.net == self.receivable - self.payable
        code = ReportErrorCode.REPORT_POSITION_INCONSISTENT
        _require(consistent, code, f"coop {self.coop.coop_id}: net != receivable - payable")


@dataclass(frozen=True, slots=True)
class BilateralLine:
    """`count` obligations by which `debtor` owes `creditor` a positive `amount` in total."""

    debtor: CoopRef
    creditor: CoopRef
    amount: Money
    count: int

    def __post_init__(self) -> None:
        assert self.debtor.coop_id != self.creditor.coop_id, "a coop does not owe itself"
        _require_amounts((self.amount,), positive=True)
        code = ReportErrorCode.REPORT_AMOUNT_INVALID
        _require(type(self.count) is int and self.count >= 1, code, "count is at least one")


@dataclass(frozen=True, slots=True)
class InstructionLine:
    """A settlement payment: `payer` pays `payee` a positive `amount`; either may be NETWORK."""

    reference: str
    payer: ReportParty
    payee: ReportParty
    amount: Money
    status: InstructionStatus
    bank_reference: str | None = None

    def __post_init__(self) -> None:
        assert isinstance(self.status, InstructionStatus), "status is an InstructionStatus"
        assert self.payer != self.payee, "payer and payee differ"
        _require_amounts((self.amount,), positive=True)

    def involves(self, coop_id: int) -> bool:
        """True when the coop pays or is paid by this instruction."""
        return any(isinstance(p, CoopRef) and p.coop_id == coop_id for p in self.parties)

    @property
    def parties(self) -> tuple[ReportParty, ReportParty]:
        """Payer and payee."""
        return (self.payer, self.payee)


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Sums over a window report; `instructed` leaves cancelled instructions out."""

    payable: Money
    receivable: Money
    fee_income: Money
    fee_cost: Money
    obligation_count: int
    instruction_count: int
    instructed: Money
    confirmed: Money


def _sum(currency: str, amounts: Iterable[Money]) -> Money:
    """Sum amounts of one currency (zero when there are none)."""
    return Money(sum(amount.amount_minor for amount in amounts), currency)


def _check_currency(currency: str, report: WindowReport | CoopReport) -> None:
    """Refuse any row amount in another currency than the report's."""
    positions = report.positions if isinstance(report, WindowReport) else (report.position,)
    amounts = [p.net for p in positions]
    amounts += [row.amount for row in report.bilateral]
    amounts += [row.amount for row in report.instructions]
    _require_currency(amounts, currency)


def _check_parties(known: set[int], report: WindowReport | CoopReport) -> None:
    """Refuse a bilateral row or instruction that names a coop without a position."""
    named = {c.coop_id for row in report.bilateral for c in (row.debtor, row.creditor)}
    named |= {
        p.coop_id for row in report.instructions for p in row.parties if isinstance(p, CoopRef)
    }
    unknown = sorted(named - known)
    code = ReportErrorCode.REPORT_PARTY_UNKNOWN
    _require(not unknown, code, f"coops {unknown} have no position")


def _sorted_rows(report: WindowReport | CoopReport) -> None:
    """Store the bilateral rows and instructions in their canonical order."""
    bilateral = sorted(report.bilateral, key=lambda r: (r.debtor.coop_id, r.creditor.coop_id))
    instructions = sorted(report.instructions, key=lambda r: r.reference)
    # Frozen values normalise themselves once, at construction, before anyone sees them.
    object.__setattr__(report, "bilateral", tuple(bilateral))
    object.__setattr__(report, "instructions", tuple(instructions))


@dataclass(frozen=True, slots=True)
class WindowReport:
    """A settlement window's report in one currency; see the module docstring."""

    window_date: date
    status: WindowStatus
    currency: str
    positions: tuple[PositionLine, ...]
    bilateral: tuple[BilateralLine, ...]
    instructions: tuple[InstructionLine, ...]
    generated_at: datetime

    def __post_init__(self) -> None:
        assert isinstance(self.status, WindowStatus), "status is a WindowStatus"
        assert self.generated_at.tzinfo is not None, "generated_at is timezone-aware"
        _check_currency(self.currency, self)
        coop_ids = [p.coop.coop_id for p in self.positions]
        repeated = ReportErrorCode.REPORT_COOP_REPEATED
        _require(len(set(coop_ids)) == len(coop_ids), repeated, "one position per coop")
        unbalanced = ReportErrorCode.REPORT_POSITIONS_UNBALANCED
        net_total = sum(p.net.amount_minor for p in self.positions)
        _require(net_total == 0, unbalanced, "positions do not sum to zero")
        _check_parties(set(coop_ids), self)
        positions = sorted(self.positions, key=lambda p: p.coop.coop_id)
        object.__setattr__(self, "positions", tuple(positions))
        _sorted_rows(self)

    @property
    def totals(self) -> WindowTotals:
        """The report's sums."""
        live = [i for i in self.instructions if i.status is not InstructionStatus.CANCELLED]
        confirmed = [i for i in live if i.status is InstructionStatus.CONFIRMED]
        return WindowTotals(
            payable=_sum(self.currency, (p.payable for p in self.positions)),
            receivable=_sum(self.currency, (p.receivable for p in self.positions)),
            fee_income=_sum(self.currency, (p.fee_income for p in self.positions)),
            fee_cost=_sum(self.currency, (p.fee_cost for p in self.positions)),
            obligation_count=sum(row.count for row in self.bilateral),
            instruction_count=len(self.instructions),
            instructed=_sum(self.currency, (i.amount for i in live)),
            confirmed=_sum(self.currency, (i.amount for i in confirmed)),
        )


@dataclass(frozen=True, slots=True)
class CoopReport:
    """One coop's view of a window: its position and fees, its bilateral rows, its payments."""

    window_date: date
    status: WindowStatus
    currency: str
    position: PositionLine
    bilateral: tuple[BilateralLine, ...]
    instructions: tuple[InstructionLine, ...]
    generated_at: datetime

    def __post_init__(self) -> None:
        assert isinstance(self.status, WindowStatus), "status is a WindowStatus"
        assert self.generated_at.tzinfo is not None, "generated_at is timezone-aware"
        _check_currency(self.currency, self)
        coop_id = self.coop.coop_id
        rows_ok = all(coop_id in (r.debtor.coop_id, r.creditor.coop_id) for r in self.bilateral)
        rows_ok = rows_ok and all(i.involves(coop_id) for i in self.instructions)
        _require(rows_ok, ReportErrorCode.REPORT_PARTY_UNKNOWN, "rows of another coop")
        _sorted_rows(self)

    @property
    def coop(self) -> CoopRef:
        """The coop this report is for."""
        return self.position.coop


def coop_report(report: WindowReport, coop_id: int) -> CoopReport:
    """Return `coop_id`'s slice of `report`; raises `report_coop_not_found`."""
    position = next((p for p in report.positions if p.coop.coop_id == coop_id), None)
    if position is None:
        code = SettlementErrorCode.REPORT_COOP_NOT_FOUND
        raise ReportError(code, f"coop {coop_id} has no position in this window")
    bilateral = tuple(
        r for r in report.bilateral if coop_id in (r.debtor.coop_id, r.creditor.coop_id)
    )
    instructions = tuple(i for i in report.instructions if i.involves(coop_id))
    return CoopReport(
        report.window_date,
        report.status,
        report.currency,
        position,
        bilateral,
        instructions,
        report.generated_at,
    )
