"""Journal entries: what a caller asks the ledger to record, and what it recorded.

An entry is identified by a caller-chosen `entry_id` (its idempotency key) and carries two
or more legs that sum to zero per currency. Kinds:

- `posted`: moves posted balances at once.
- `pending`: a hold; reserves the debits (and credits) until it is resolved or expires.
- `post_pending`: turns a hold into posted movements, in full (no legs given) or for less
  (legs on the same accounts, each no larger than held, with the same sign).
- `void_pending` / `expire_pending`: release a hold; they carry no legs.
- `reversal`: a new entry with the legs of a posted entry negated; history is never edited.

A posted or pending entry may also name ceilings: upper bounds of its own on accounts it
gives to, checked like an account's upper limit (posted plus held credits, in the direction
the entry moves the account) when it is recorded. They let a caller bound one kind of
movement on an account without bounding all of them: a payment may not take a
cooperative's due balance past its net debit cap, while the booking of a settlement
payment that the bank has already made must go through whatever that balance is.

Entries and postings are append-only; a resolution or reversal names its target by id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from ledger.money import Money

__all__ = [
    "EXPIRY_ID_PREFIX",
    "RESOLUTION_KINDS",
    "Ceiling",
    "Entry",
    "EntryKind",
    "EntryOutcome",
    "EntryRequest",
    "Leg",
    "MetadataValue",
    "Posting",
    "expiry_entry_id",
]

# Ids with this prefix are the expiry sweeper's: no other entry may take one.
EXPIRY_ID_PREFIX = "expire-"

MetadataValue = str | int | bool | None


class EntryKind(StrEnum):
    """The kinds of journal entry; see the module docstring."""

    POSTED = "posted"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"
    EXPIRE_PENDING = "expire_pending"
    REVERSAL = "reversal"


RESOLUTION_KINDS = frozenset(
    {EntryKind.POST_PENDING, EntryKind.VOID_PENDING, EntryKind.EXPIRE_PENDING}
)


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of an entry: a signed amount on one account (positive adds to its balance)."""

    account_id: int
    amount: Money


@dataclass(frozen=True, slots=True)
class Ceiling:
    """An entry's own upper bound on an account it gives to: after the entry, the account's
    posted balance plus its held credits may not exceed `max_balance_minor`."""

    account_id: int
    max_balance_minor: int


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """A caller's request to record one entry.

    `target_id` names the hold (for resolutions) or the entry to reverse; `timeout_s` is
    the hold's lifetime; `linked=True` joins this entry with the next one in the same batch
    into an all-or-nothing group that ends at the first entry without the flag;
    `ceilings` bound accounts the entry gives to (posted and pending entries only). A
    ceiling is a condition on the balances when the entry is recorded, not part of what is
    recorded: sent again, the recorded entry replays whatever ceilings the copy names.
    """

    entry_id: str
    business_date: date
    legs: tuple[Leg, ...] = ()
    kind: EntryKind = EntryKind.POSTED
    target_id: str | None = None
    timeout_s: int | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    linked: bool = False
    ceilings: tuple[Ceiling, ...] = ()


@dataclass(frozen=True, slots=True)
class Posting:
    """A recorded leg; posted legs carry the account's running number and balance after."""

    account_id: int
    coop_id: int
    amount: Money
    is_pending: bool
    account_posting_no: int | None
    balance_after_minor: int | None


@dataclass(frozen=True, slots=True)
class Entry:
    """A recorded entry: immutable once committed."""

    seq: int
    entry_id: str
    kind: EntryKind
    target_id: str | None
    business_date: date
    timeout_s: int | None
    expires_at: datetime | None
    metadata_json: str | None
    committed_at: datetime
    digest: str
    postings: tuple[Posting, ...]

    def legs(self) -> tuple[Leg, ...]:
        """The entry's postings as legs, in the order they were recorded."""
        return tuple(Leg(p.account_id, p.amount) for p in self.postings)


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """What became of one request: recorded (`entry`), replayed, or refused (`code`)."""

    entry_id: str
    entry: Entry | None
    code: str | None = None
    message: str | None = None
    replayed: bool = False
    field: str | None = None
    account_id: int | None = None

    @property
    def ok(self) -> bool:
        """True when the entry is recorded (now or by an earlier identical request)."""
        return self.code is None


def expiry_entry_id(target_id: str) -> str:
    """The id of the entry that expires the hold `target_id`: derived from it, so two
    sweepers expiring one hold record its expiry once. `target_id` is a valid entry id."""
    assert target_id.isascii()
    return EXPIRY_ID_PREFIX + hashlib.sha256(target_id.encode()).hexdigest()[:48]
