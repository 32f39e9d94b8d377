"""A pure, in-memory stand-in for the ledger's store, for driving `plan_batch` by hand.

`Book` keeps accounts, recorded entries and which entry resolved or reversed which, builds
the `BatchContext` the store would load for a batch, and applies the returned plan the way
`ledger.store.write_plan` does. No database, no clock: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from ledger.account import Account, AccountKind, AccountStatus
from ledger.entry import Entry, EntryKind, EntryOutcome, EntryRequest, Leg
from ledger.money import Money
from ledger.planner import BatchContext, BatchPlan, TargetState, plan_batch
from ledger.validation import validate_requests

__all__ = [
    "BUSINESS_DATE",
    "KEY",
    "NOW",
    "Book",
    "codes",
    "later",
    "make_account",
    "move",
    "request",
]

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
KEY = b"unit-test-seal-key"
BUSINESS_DATE = date(2026, 11, 23)


def make_account(
    account_id: int,
    *,
    currency: str = "IDR",
    posted_minor: int = 0,
    min_balance_minor: int | None = 0,
    max_balance_minor: int | None = None,
    status: AccountStatus = AccountStatus.ACTIVE,
    kind: AccountKind = AccountKind.MEMBER_WALLET,
) -> Account:
    """An account as the store would return it, with no holds and no postings yet."""
    return Account(
        id=account_id,
        ref=f"acct-{account_id}",
        coop_id=1,
        currency=currency,
        kind=kind,
        status=status,
        min_balance_minor=min_balance_minor,
        max_balance_minor=max_balance_minor,
        posted_minor=posted_minor,
        pending_debit_minor=0,
        pending_credit_minor=0,
        posting_count=0,
    )


def move(
    entry_id: str,
    debit_id: int,
    credit_id: int,
    amount_minor: int,
    *,
    currency: str = "IDR",
    kind: EntryKind = EntryKind.POSTED,
    timeout_s: int | None = None,
    linked: bool = False,
) -> EntryRequest:
    """A two-leg request taking `amount_minor` from `debit_id` and giving it to `credit_id`."""
    amount = Money(amount_minor, currency)
    if kind is EntryKind.PENDING and timeout_s is None:
        timeout_s = 3600
    return EntryRequest(
        entry_id=entry_id,
        business_date=BUSINESS_DATE,
        legs=(Leg(debit_id, -amount), Leg(credit_id, amount)),
        kind=kind,
        timeout_s=timeout_s,
        linked=linked,
    )


def request(
    entry_id: str,
    kind: EntryKind,
    target_id: str,
    legs: tuple[Leg, ...] = (),
    *,
    linked: bool = False,
) -> EntryRequest:
    """A resolution or reversal of `target_id`."""
    return EntryRequest(
        entry_id=entry_id,
        business_date=BUSINESS_DATE,
        legs=legs,
        kind=kind,
        target_id=target_id,
        linked=linked,
    )


def codes(outcomes: Sequence[EntryOutcome]) -> list[str | None]:
    """The outcome codes in request order; None for a recorded (or replayed) request."""
    return [outcome.code for outcome in outcomes]


@dataclass
class Book:
    """Accounts and entries between batches, updated only by applying plans."""

    accounts: dict[int, Account]
    entries: dict[str, Entry] = field(default_factory=dict)
    resolved_by: dict[str, EntryKind] = field(default_factory=dict)
    seq_next: int = 1

    @classmethod
    def of(cls, *accounts: Account) -> Book:
        """A book holding `accounts`."""
        return cls({a.id: a for a in accounts})

    def context(self, requests: Sequence[EntryRequest], now: datetime) -> BatchContext:
        """What the store would load for `requests`: hand-built, with no I/O."""
        ids = {r.entry_id for r in requests} & self.entries.keys()
        target_ids = {r.target_id for r in requests if r.target_id} & self.entries.keys()
        return BatchContext(
            shapes=validate_requests(requests),
            accounts=dict(self.accounts),
            existing={i: self.entries[i] for i in ids},
            targets={t: TargetState(self.entries[t], self.resolved_by.get(t)) for t in target_ids},
            now=now,
            seqs=list(range(self.seq_next, self.seq_next + len(requests))),
            seal_key=KEY,
        )

    def plan(self, requests: Sequence[EntryRequest], *, now: datetime = NOW) -> BatchPlan:
        """Plan `requests` against the book and apply the plan; return it."""
        plan = plan_batch(requests, self.context(requests, now))
        self.seq_next += len(requests)
        for entry in plan.new_entries:
            assert entry.entry_id not in self.entries
            self.entries[entry.entry_id] = entry
            if entry.target_id is not None:
                self.resolved_by[entry.target_id] = entry.kind
        for account in plan.changed_accounts:
            self.accounts[account.id] = account
        return plan

    def outcomes(self, *requests: EntryRequest, now: datetime = NOW) -> tuple[EntryOutcome, ...]:
        """Plan and apply `requests`; return their outcomes."""
        return self.plan(requests, now=now).outcomes

    def posted(self, account_id: int) -> int:
        """The account's posted balance in minor units."""
        return self.accounts[account_id].posted_minor

    def held(self, account_id: int) -> tuple[int, int]:
        """The account's reserved (debit, credit) in minor units."""
        account = self.accounts[account_id]
        return account.pending_debit_minor, account.pending_credit_minor

    def with_status(self, account_id: int, status: AccountStatus) -> None:
        """Freeze, unfreeze or close an account (the store's job, done by hand)."""
        self.accounts[account_id] = replace(self.accounts[account_id], status=status)


def later(seconds: float) -> datetime:
    """`NOW` plus `seconds`."""
    return NOW + timedelta(seconds=seconds)
