"""Accounts: who owns them, what they hold, and the limits their balance must respect.

Sign convention (the whole ledger keeps it): a posting's `amount_minor` is signed, positive
adds to the account's balance and negative takes from it; every entry sums to zero per
currency, so the balances of all accounts of one currency sum to zero. A member wallet
holding Rp50.000 has balance +5000000; the cooperative's cash account that took the
banknotes has -5000000.

Invariants: `posted - pending_debit >= min_balance` (when a lower limit is set) and
`posted + pending_credit <= max_balance` (when an upper limit is set); the database checks
both again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ledger.currency import require_currency
from ledger.digest import AccountTerms
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.money import AMOUNT_MINOR_MAX, Money
from ledger.row_id import ROW_ID_MAX

__all__ = [
    "ACCOUNT_REF_PATTERN",
    "SPEC_FIELDS",
    "TERM_FIELDS",
    "Account",
    "AccountKind",
    "AccountSpec",
    "AccountStatus",
]

ACCOUNT_REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


class AccountKind(StrEnum):
    """What an account is for; wallets default to a lower limit of zero."""

    MEMBER_WALLET = "member_wallet"
    MERCHANT_WALLET = "merchant_wallet"
    COOP_CASH = "coop_cash"
    COOP_EQUITY = "coop_equity"
    FEE_INCOME = "fee_income"
    FEE_EXPENSE = "fee_expense"
    INTERCHANGE_RECEIVABLE = "interchange_receivable"
    INTERCHANGE_PAYABLE = "interchange_payable"
    SETTLEMENT = "settlement"
    SUSPENSE = "suspense"

    @property
    def is_wallet(self) -> bool:
        """True for accounts that hold a person's or a merchant's money."""
        return self in (AccountKind.MEMBER_WALLET, AccountKind.MERCHANT_WALLET)


class AccountStatus(StrEnum):
    """Active accounts move money; frozen ones may only release holds; closed ones nothing."""

    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """A request to open an account; `ref` is the caller's idempotency key for it.

    `min_balance_minor=None` means no lower limit and is refused for wallets, which must
    name an explicit overdraft (a non-positive lower limit; 0 is the default for them).
    """

    ref: str
    coop_id: int
    currency: str
    kind: AccountKind
    min_balance_minor: int | None = 0
    max_balance_minor: int | None = None

    def opened_as(self, account_id: int) -> Account:
        """The account this spec opens, once its row has `account_id`: active, with zero
        balances and no postings."""
        return Account(
            account_id,
            self.ref,
            self.coop_id,
            self.currency,
            self.kind,
            AccountStatus.ACTIVE,
            self.min_balance_minor,
            self.max_balance_minor,
            0,
            0,
            0,
            0,
        )

    def validated(self) -> AccountSpec:
        """Return self if every field is within its limits; raise the first violation, in
        field order: `account_ref_invalid`, `account_coop_invalid`, `currency_unknown`,
        `account_kind_invalid`, `account_limits_invalid`."""
        if type(self.ref) is not str or not ACCOUNT_REF_PATTERN.fullmatch(self.ref):
            raise LedgerError(LedgerErrorCode.ACCOUNT_REF_INVALID, "bad account ref", field="ref")
        if type(self.coop_id) is not int or not 0 <= self.coop_id <= ROW_ID_MAX:
            message = f"the coop id must be an integer in 0..{ROW_ID_MAX}"
            raise LedgerError(LedgerErrorCode.ACCOUNT_COOP_INVALID, message, field="coop_id")
        require_currency(self.currency)
        if not isinstance(self.kind, AccountKind):
            message = "the kind must be one of the ledger's account kinds"
            raise LedgerError(LedgerErrorCode.ACCOUNT_KIND_INVALID, message, field="kind")
        low, high = self.min_balance_minor, self.max_balance_minor
        if self.kind.is_wallet and low is None:
            raise _limits("a wallet needs an explicit lower limit")
        if low is not None and (type(low) is not int or not -AMOUNT_MINOR_MAX <= low <= 0):
            raise _limits("the lower limit must be an integer between -10^15 and 0")
        if high is not None and (type(high) is not int or not 0 <= high <= AMOUNT_MINOR_MAX):
            raise _limits("the upper limit must be an integer between 0 and 10^15")
        return self


def _limits(message: str) -> LedgerError:
    return LedgerError(LedgerErrorCode.ACCOUNT_LIMITS_INVALID, message, field="limits")


# The fields an account is opened with, in the order a conflict names the first that differs.
SPEC_FIELDS = ("coop_id", "currency", "kind", "min_balance_minor", "max_balance_minor")
# The terms an account's keyed digest seals (`ledger.digest.account_terms_digest`), in order.
TERM_FIELDS = ("id", "ref", "coop_id", "currency", "kind", "status", *SPEC_FIELDS[3:])


@dataclass(frozen=True, slots=True)
class Account:
    """An account with its cached balances, as of the moment it was read."""

    id: int
    ref: str
    coop_id: int
    currency: str
    kind: AccountKind
    status: AccountStatus
    min_balance_minor: int | None
    max_balance_minor: int | None
    posted_minor: int
    pending_debit_minor: int
    pending_credit_minor: int
    posting_count: int

    @property
    def posted(self) -> Money:
        """The balance of posted entries only."""
        return Money(self.posted_minor, self.currency)

    @property
    def available(self) -> Money:
        """What can still be spent: posted minus what holds have reserved."""
        return Money(self.posted_minor - self.pending_debit_minor, self.currency)

    @property
    def pending(self) -> Money:
        """Net effect of open holds: reserved credits minus reserved debits."""
        return Money(self.pending_credit_minor - self.pending_debit_minor, self.currency)

    def with_movement(
        self, posted_delta: int, debit_delta: int, credit_delta: int, postings: int = 0
    ) -> Account:
        """Return the account after a movement, with `postings` more postings counted."""
        # Positional construction: the planner's hot path, several times cheaper than
        # `dataclasses.replace`.
        return Account(
            self.id,
            self.ref,
            self.coop_id,
            self.currency,
            self.kind,
            self.status,
            self.min_balance_minor,
            self.max_balance_minor,
            self.posted_minor + posted_delta,
            self.pending_debit_minor + debit_delta,
            self.pending_credit_minor + credit_delta,
            self.posting_count + postings,
        )

    def terms(self) -> AccountTerms:
        """Its `TERM_FIELDS`, the kind and status as their stored text: what its terms
        digest seals."""
        return (
            self.id,
            self.ref,
            self.coop_id,
            self.currency,
            self.kind.value,
            self.status.value,
            self.min_balance_minor,
            self.max_balance_minor,
        )

    def require_opened_with(self, spec: AccountSpec) -> None:
        """Return quietly when `spec` (same ref) is the spec this account was opened with;
        otherwise raise `account_exists_with_different_spec` naming the first field that
        differs, in `SPEC_FIELDS` order: coop, currency, kind, lower limit, upper limit."""
        assert spec.ref == self.ref, "compared by ref"
        for name in SPEC_FIELDS:
            if getattr(self, name) != getattr(spec, name):
                raise LedgerError(
                    LedgerErrorCode.ACCOUNT_EXISTS_WITH_DIFFERENT_SPEC,
                    f"account {spec.ref!r} exists with a different {name}",
                    field=name,
                )

    def limit_violation(self) -> LedgerErrorCode | None:
        """Return which limit the current balances break, or None when within both.

        An account without a limit on one side is still held within 10^15 minor units on
        it, the most `Money` holds, and so are the totals its open holds reserve each way:
        every balance it reaches (posted, available, pending) can be read back, and no sum
        of postings nears the 64-bit columns' range."""
        low = -AMOUNT_MINOR_MAX if self.min_balance_minor is None else self.min_balance_minor
        high = AMOUNT_MINOR_MAX if self.max_balance_minor is None else self.max_balance_minor
        if (
            self.posted_minor - self.pending_debit_minor < low
            or self.pending_debit_minor > AMOUNT_MINOR_MAX
        ):
            return LedgerErrorCode.INSUFFICIENT_FUNDS
        if (
            self.posted_minor + self.pending_credit_minor > high
            or self.pending_credit_minor > AMOUNT_MINOR_MAX
        ):
            return LedgerErrorCode.BALANCE_LIMIT_EXCEEDED
        return None
