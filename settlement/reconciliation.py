"""Reconciliation: what we expected to move on the settlement account against the bank's word.

An `ExpectedPayment` is one settlement instruction seen from the network settlement
account: a debtor coop paying in is a `credit`, a payout to a creditor coop is a `debit`
(`expected_payment` derives it from a `SettlementInstruction`). `reconcile` compares them
with a `BankStatement` of that account and puts every expected payment and every statement
entry in exactly one bucket:

- `matched`: an entry with the payment's reference, amount and direction;
- `mismatched`: an entry with the payment's reference but another amount (or currency) or
  direction; both sides are kept so that a person can see the difference;
- `unmatched_expected`: a payment no entry refers to;
- `unmatched_statement`: an entry left over, with a reason: `no_reference` (the bank gave
  none), `unknown_reference` (no payment has it), `duplicate_reference` (a payment has it,
  but another entry was paired with that payment), `cancelled_reference` (it names an
  instruction that was cancelled: money moved that should not have).

Matching is by reference first, then by amount: the entries carrying a payment's reference
are candidates; the first of them (statement order) whose amount and direction equal the
payment's is matched; failing that, the first candidate is paired as mismatched. Every
other candidate is a `duplicate_reference` leftover, so two statement lines with the same
reference never both settle one payment: a bank that books a payment twice shows up.
References are compared exactly (case and all): a reference is an identifier we issued.

Payments' references are unique (`reconciliation_reference_repeated` otherwise): one
reference names one payment. Buckets are ordered deterministically whatever the input order
of the payments: `matched`, `mismatched` and `unmatched_expected` by reference,
`unmatched_statement` by position in the statement.

Pure: values in, values out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ledger.money import Money
from settlement.bank_statement import (
    REFERENCE_CHARS_MAX,
    BankStatement,
    Direction,
    StatementEntry,
)
from settlement.errors import SettlementError
from settlement.netting import Network, SettlementInstruction

__all__ = [
    "EXPECTED_PAYMENTS_MAX",
    "ExpectedPayment",
    "Match",
    "Mismatch",
    "ReconciliationError",
    "ReconciliationErrorCode",
    "ReconciliationReport",
    "StatementLine",
    "UnmatchedLine",
    "UnmatchedReason",
    "expected_payment",
    "reconcile",
]

# As many payments as a statement may hold entries.
EXPECTED_PAYMENTS_MAX = 100_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ReconciliationErrorCode(StrEnum):
    """Stable codes of reconciliation failures, in the order the checks run."""

    RECONCILIATION_REFERENCE_INVALID = "reconciliation_reference_invalid"
    RECONCILIATION_AMOUNT_NOT_POSITIVE = "reconciliation_amount_not_positive"
    RECONCILIATION_INSTRUCTION_BYPASSES_NETWORK = "reconciliation_instruction_bypasses_network"
    RECONCILIATION_TOO_MANY_PAYMENTS = "reconciliation_too_many_payments"
    RECONCILIATION_REFERENCE_REPEATED = "reconciliation_reference_repeated"


class ReconciliationError(SettlementError):
    """Reconciliation input the caller supplied is refused; `code` is stable."""


class UnmatchedReason(StrEnum):
    """Why a statement entry is left over."""

    NO_REFERENCE = "no_reference"
    UNKNOWN_REFERENCE = "unknown_reference"
    DUPLICATE_REFERENCE = "duplicate_reference"
    CANCELLED_REFERENCE = "cancelled_reference"


@dataclass(frozen=True, slots=True)
class ExpectedPayment:
    """A payment we expect on the settlement account, from that account's point of view.

    `reference` is the instruction's reference (1-140 characters, no control characters,
    no surrounding whitespace); `amount` is positive; the labels name payer and payee for
    people (a coop's name, or the network).
    """

    reference: str
    amount: Money
    direction: Direction
    payer_label: str
    payee_label: str

    def __post_init__(self) -> None:
        assert isinstance(self.amount, Money), "amount must be Money"
        assert isinstance(self.direction, Direction), "direction must be a Direction"
        assert isinstance(self.payer_label, str) and isinstance(self.payee_label, str)
        reference = self.reference
        if (
            not isinstance(reference, str)
            or not 1 <= len(reference) <= REFERENCE_CHARS_MAX
            or reference != reference.strip()
            or _CONTROL.search(reference)
        ):
            code = ReconciliationErrorCode.RECONCILIATION_REFERENCE_INVALID
            message = f"reference is 1-{REFERENCE_CHARS_MAX} unpadded printable characters"
            raise ReconciliationError(code, message, field="reference")
        if not self.amount.is_positive():
            code = ReconciliationErrorCode.RECONCILIATION_AMOUNT_NOT_POSITIVE
            raise ReconciliationError(code, "amounts are positive", field="amount")


@dataclass(frozen=True, slots=True)
class StatementLine:
    """A statement entry and its 0-based position in `BankStatement.entries`."""

    index: int
    entry: StatementEntry


@dataclass(frozen=True, slots=True)
class Match:
    """A payment and the entry that carries its reference, amount and direction."""

    expected: ExpectedPayment
    line: StatementLine


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A payment and the entry that carries its reference but differs; both are kept."""

    expected: ExpectedPayment
    line: StatementLine

    @property
    def amount_differs(self) -> bool:
        """True when the amounts (or their currencies) differ."""
        return self.expected.amount != self.line.entry.amount

    @property
    def direction_differs(self) -> bool:
        """True when the directions differ."""
        return self.expected.direction is not self.line.entry.direction


@dataclass(frozen=True, slots=True)
class UnmatchedLine:
    """A statement entry left over, and why."""

    line: StatementLine
    reason: UnmatchedReason


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """Every payment and every entry of one reconciliation, each in exactly one bucket."""

    matched: tuple[Match, ...]
    mismatched: tuple[Mismatch, ...]
    unmatched_expected: tuple[ExpectedPayment, ...]
    unmatched_statement: tuple[UnmatchedLine, ...]

    @property
    def is_clean(self) -> bool:
        """True when everything matched: nothing mismatched or left over on either side."""
        return not (self.mismatched or self.unmatched_expected or self.unmatched_statement)


def expected_payment(
    instruction: SettlementInstruction, reference: str, labels: Mapping[int, str]
) -> ExpectedPayment:
    """Return what `instruction` should look like on the network settlement account.

    A coop paying `NETWORK` is a credit; `NETWORK` paying a coop is a debit. Labels come
    from `labels` by coop id (the id itself when absent). A coop-to-coop instruction never
    touches that account: `reconciliation_instruction_bypasses_network`.
    """
    payer, payee = instruction.payer, instruction.payee
    if not isinstance(payer, Network) and not isinstance(payee, Network):
        code = ReconciliationErrorCode.RECONCILIATION_INSTRUCTION_BYPASSES_NETWORK
        message = "a bilateral instruction does not move the network settlement account"
        raise ReconciliationError(code, message, field="instruction")
    direction = Direction.CREDIT if isinstance(payee, Network) else Direction.DEBIT
    payer_label, payee_label = (_label(party, labels) for party in (payer, payee))
    return ExpectedPayment(reference, instruction.amount, direction, payer_label, payee_label)


def _label(party: int | Network, labels: Mapping[int, str]) -> str:
    """A party's label: "network", the coop's label, or its id when it has none."""
    return "network" if isinstance(party, Network) else labels.get(party, str(party))


def _by_reference(expected: Sequence[ExpectedPayment]) -> dict[str, ExpectedPayment]:
    """Index the payments by reference, refusing too many and repeated references."""
    if len(expected) > EXPECTED_PAYMENTS_MAX:
        code = ReconciliationErrorCode.RECONCILIATION_TOO_MANY_PAYMENTS
        message = f"at most {EXPECTED_PAYMENTS_MAX} payments"
        raise ReconciliationError(code, message, field="instructions")
    indexed: dict[str, ExpectedPayment] = {}
    for payment in expected:
        assert isinstance(payment, ExpectedPayment), "instructions are ExpectedPayment"
        if payment.reference in indexed:
            code = ReconciliationErrorCode.RECONCILIATION_REFERENCE_REPEATED
            message = f"reference {payment.reference!r} names two payments"
            raise ReconciliationError(code, message, field="reference")
        indexed[payment.reference] = payment
    return indexed


def _pick(payment: ExpectedPayment, candidates: Sequence[StatementLine]) -> tuple[int, bool]:
    """Return the position in `candidates` to pair with `payment`, and whether it matches."""
    for position, line in enumerate(candidates):
        if line.entry.amount == payment.amount and line.entry.direction is payment.direction:
            return position, True
    return 0, False


def _reason(
    entry: StatementEntry, references: Mapping[str, ExpectedPayment], cancelled: frozenset[str]
) -> UnmatchedReason:
    """Why an entry that was not paired is left over."""
    if not entry.reference:
        return UnmatchedReason.NO_REFERENCE
    if entry.reference in references:
        return UnmatchedReason.DUPLICATE_REFERENCE
    if entry.reference in cancelled:
        return UnmatchedReason.CANCELLED_REFERENCE
    return UnmatchedReason.UNKNOWN_REFERENCE


def _candidates(statement: BankStatement) -> dict[str, list[StatementLine]]:
    """Group the entries that carry a reference by it, each group in statement order."""
    grouped: defaultdict[str, list[StatementLine]] = defaultdict(list)
    for index, entry in enumerate(statement.entries):
        if entry.reference:
            grouped[entry.reference].append(StatementLine(index, entry))
    return grouped


def _pair(
    references: Mapping[str, ExpectedPayment], candidates: Mapping[str, list[StatementLine]]
) -> tuple[list[Match], list[Mismatch], list[ExpectedPayment]]:
    """Pair each payment, by reference order, with at most one of its candidate entries."""
    matched: list[Match] = []
    mismatched: list[Mismatch] = []
    unmatched_expected: list[ExpectedPayment] = []
    for reference in sorted(references):
        payment, lines = references[reference], candidates.get(reference, [])
        if not lines:
            unmatched_expected.append(payment)
            continue
        position, is_match = _pick(payment, lines)
        if is_match:
            matched.append(Match(payment, lines[position]))
        else:
            mismatched.append(Mismatch(payment, lines[position]))
    return matched, mismatched, unmatched_expected


def reconcile(
    instructions: Sequence[ExpectedPayment],
    statement: BankStatement,
    *,
    cancelled: Collection[str] = (),
) -> ReconciliationReport:
    """Put every payment and every statement entry in one bucket; see the module docstring.
    `cancelled` are the references of instructions cancelled: expected no more, an entry
    naming one is left over as `cancelled_reference`.

    Raises `reconciliation_too_many_payments`, then `reconciliation_reference_repeated`.
    """
    references = _by_reference(instructions)
    matched, mismatched, unmatched_expected = _pair(references, _candidates(statement))
    paired = {m.line.index for m in matched} | {m.line.index for m in mismatched}
    gone = frozenset(cancelled) - references.keys()
    leftover = tuple(
        UnmatchedLine(StatementLine(index, entry), _reason(entry, references, gone))
        for index, entry in enumerate(statement.entries)
        if index not in paired
    )
    assert len(matched) + len(mismatched) + len(unmatched_expected) == len(references)
    assert len(paired) + len(leftover) == len(statement.entries), "every entry lands once"
    return ReconciliationReport(
        tuple(matched), tuple(mismatched), tuple(unmatched_expected), leftover
    )
