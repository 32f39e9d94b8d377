"""The pure arithmetic of one request: what its legs do to the accounts they name.

A posted leg moves its account's posted balance by the leg's amount; a held leg reserves
its amount as a pending debit or a pending credit, and releasing the hold takes the same
amounts back. A limit counts only in the direction a movement moves the account:
`insufficient_funds` when it takes (a negative posted leg, or a held debit),
`balance_limit_exceeded` when it gives, so a movement that only gives never fails for funds
the account already lacked. A hold is posted in full, or for less with legs on the hold's
own accounts, each of the hold's currency and sign and no larger than held. Pure functions
on values; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.account import Account
from ledger.digest import CanonicalPosting
from ledger.entry import Ceiling, Leg, Posting
from ledger.errors import LedgerError, LedgerErrorCode

__all__ = [
    "Effect",
    "above_ceiling",
    "canonical_posting",
    "held_effects",
    "moved",
    "posted_effects",
    "resolution_legs",
    "violation_in_direction",
]

_CODE = LedgerErrorCode


@dataclass(slots=True)
class Effect:
    """Balance deltas one request makes on one account, and how many postings it adds."""

    posted: int = 0
    pending_debit: int = 0
    pending_credit: int = 0
    posting_count: int = 0


def posted_effects(legs: Sequence[Leg]) -> dict[int, Effect]:
    """The effect of posting `legs`: each moves its account's posted balance and adds one
    posting to it (an entry names an account in one leg at most)."""
    effects = {
        leg.account_id: Effect(posted=leg.amount.amount_minor, posting_count=1) for leg in legs
    }
    assert len(effects) == len(legs), "an account in one leg at most"
    return effects


def held_effects(legs: Sequence[Leg], *, sign: int) -> dict[int, Effect]:
    """The effect of holding `legs` (`sign` 1) or of releasing their hold (`sign` -1)."""
    effects: dict[int, Effect] = {}
    for leg in legs:
        amount = leg.amount.amount_minor
        debit, credit = (-amount, 0) if amount < 0 else (0, amount)
        effects[leg.account_id] = Effect(pending_debit=sign * debit, pending_credit=sign * credit)
    return effects


def violation_in_direction(account: Account, effect: Effect) -> LedgerErrorCode | None:
    """The limit the movement breaks, looking only in the direction it moves the account."""
    code = account.limit_violation()
    takes = effect.posted < 0 or effect.pending_debit > 0
    if code is _CODE.INSUFFICIENT_FUNDS and takes:
        return code
    if code is _CODE.BALANCE_LIMIT_EXCEEDED and _gives(effect):
        return code
    return None


def _gives(effect: Effect) -> bool:
    """Whether the movement adds to the account's posted balance or its held credits."""
    return effect.posted > 0 or effect.pending_credit > 0


def above_ceiling(account: Account, effect: Effect, ceiling: Ceiling) -> bool:
    """Whether a movement that gives to the account leaves it (`account`, after the
    movement) above the entry's own `ceiling`, counted as its upper limit is."""
    reached = account.posted_minor + account.pending_credit_minor
    return _gives(effect) and reached > ceiling.max_balance_minor


def moved(account: Account, effect: Effect) -> Account:
    """The account after `effect`, its postings counted."""
    return account.with_movement(
        effect.posted, effect.pending_debit, effect.pending_credit, effect.posting_count
    )


def resolution_legs(requested: tuple[Leg, ...], held: tuple[Leg, ...]) -> tuple[Leg, ...]:
    """Legs a hold is posted with: all of it, or the requested smaller amounts."""
    if not requested:
        return held
    held_by_account = {leg.account_id: leg.amount for leg in held}
    if set(held_by_account) != {leg.account_id for leg in requested}:
        raise LedgerError(
            _CODE.PENDING_LEGS_MISMATCH, "legs must name the hold's accounts", field="legs"
        )
    for leg in requested:
        limit = held_by_account[leg.account_id]
        same_sign = (leg.amount.amount_minor > 0) == (limit.amount_minor > 0)
        if leg.amount.currency != limit.currency or not same_sign:
            raise LedgerError(_CODE.PENDING_LEGS_MISMATCH, "legs must match the hold", field="legs")
        if abs(leg.amount.amount_minor) > abs(limit.amount_minor):
            raise LedgerError(_CODE.PENDING_AMOUNT_EXCEEDED, "more than held", field="legs")
    return requested


def canonical_posting(posting: Posting) -> CanonicalPosting:
    """The posting as the entry's digest renders it (`ledger.digest`)."""
    return (
        posting.account_id,
        posting.coop_id,
        posting.amount.currency,
        posting.amount.amount_minor,
        posting.is_pending,
        posting.account_posting_no,
        posting.balance_after_minor,
    )
