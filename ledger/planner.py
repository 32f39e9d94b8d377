"""The pure core of posting: decide what a batch of requests records, without any I/O.

Given the locked accounts, the entries that already carry the requested ids, the targets of
resolutions and reversals, the moment of commit and pre-allocated sequence numbers, the
planner returns one outcome per request, the entries to insert and the accounts' new
balances. Requests are applied in order; each succeeds or fails on its own unless linked
into an all-or-nothing group, whose effects are undone together when any member fails.

Checks per request run in this order: shape (`ledger.validation`, checked before anything
was loaded and handed in with the context), the target,
idempotency against the entry with the same id recorded earlier or earlier in this batch
(a replay returns it), then a new entry's id (`expire-` ids are the sweeper's), then the
target's state and the legs of a hold posted for less, then the accounts leg by leg
(`account_not_found`, `currency_mismatch`, `account_closed`, `account_frozen`), then the
limits leg by leg (`insufficient_funds`, `balance_limit_exceeded`), each in the direction
the request moves the account, then the request's own ceilings in the order given
(`balance_limit_exceeded` too). The arithmetic of one request (its balance effects, the
limit a movement breaks, the legs of a hold posted for less, the postings' canonical form
for the digest) is `ledger.leg_effects`'s; this module applies it request by request.

Invariants: every planned entry sums to zero per currency; no planned account breaks a
limit; each account's running posting number grows by one per posted leg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ledger.account import Account, AccountStatus
from ledger.digest import entry_digest
from ledger.entry import (
    RESOLUTION_KINDS,
    Entry,
    EntryKind,
    EntryOutcome,
    EntryRequest,
    Leg,
    Posting,
)
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.idempotency import compare_with_existing
from ledger.leg_effects import (
    Effect,
    above_ceiling,
    canonical_posting,
    held_effects,
    moved,
    posted_effects,
    resolution_legs,
    violation_in_direction,
)
from ledger.validation import require_new_entry_id

__all__ = ["BatchContext", "BatchPlan", "TargetState", "plan_batch"]

_CODE = LedgerErrorCode
# Entries that only give back what a hold reserved: frozen and closed accounts allow them.
_RELEASE_KINDS = RESOLUTION_KINDS - {EntryKind.POST_PENDING}


@dataclass(frozen=True, slots=True)
class TargetState:
    """An entry named as a target, and the kind of the entry that already resolved or
    reversed it (None while it stands open)."""

    entry: Entry
    resolved_by: EntryKind | None


@dataclass(frozen=True, slots=True)
class BatchContext:
    """Everything the planner may read: each request's checked shape (`validate_requests`,
    in request order), and what was loaded after the accounts were locked."""

    shapes: Sequence[str | LedgerError | None]
    accounts: Mapping[int, Account]
    existing: Mapping[str, Entry]
    targets: Mapping[str, TargetState]
    now: datetime
    seqs: Sequence[int]
    seal_key: bytes


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """The planner's decision: one outcome per request, what to insert, what to update."""

    outcomes: tuple[EntryOutcome, ...]
    new_entries: tuple[Entry, ...]
    changed_accounts: tuple[Account, ...]
    # The sequence number of each new entry's target (recorded earlier or in this batch),
    # by the target's id: what the entry's row stores.
    target_seqs: Mapping[str, int]


@dataclass(slots=True)
class _Group:
    """Undo information for the linked group being planned."""

    indexes: list[int] = field(default_factory=list)
    accounts_before: dict[int, Account] = field(default_factory=dict)
    resolved_before: dict[str, EntryKind | None] = field(default_factory=dict)
    failed: bool = False


def plan_batch(requests: Sequence[EntryRequest], context: BatchContext) -> BatchPlan:
    """Plan a batch; never raises for caller errors, which become outcomes with a code."""
    assert len(context.seqs) >= len(requests), "one sequence number per request"
    assert len(context.shapes) == len(requests), "one checked shape per request"
    assert context.now.tzinfo is not None, "the commit moment is UTC-aware"
    return _Planner(context).run(requests)


class _Planner:
    def __init__(self, context: BatchContext) -> None:
        self.ctx = context
        self.accounts: dict[int, Account] = dict(context.accounts)
        self.changed: set[int] = set()
        self.outcomes: list[EntryOutcome] = []
        self.new_entries: dict[str, Entry] = {}
        self.resolved: dict[str, EntryKind | None] = {
            key: state.resolved_by for key, state in context.targets.items()
        }
        self.group = _Group()

    def run(self, requests: Sequence[EntryRequest]) -> BatchPlan:
        for index, request in enumerate(requests):
            self._plan_in_group(index, request)
            if not request.linked:
                self.group = _Group()
        if self.group.indexes:
            # A batch that ends inside a linked group fails the whole group.
            self._undo_group(None, _CODE.LINKED_GROUP_OPEN, "batch ended inside a group")
        entries = tuple(o.entry for o in self.outcomes if o.entry and not o.replayed)
        changed = tuple(self.accounts[i] for i in sorted(self.changed))
        known = {key: state.entry.seq for key, state in self.ctx.targets.items()}
        known.update((e.entry_id, e.seq) for e in entries)
        target_seqs = {e.target_id: known[e.target_id] for e in entries if e.target_id}
        return BatchPlan(tuple(self.outcomes), entries, changed, target_seqs)

    def _plan_in_group(self, index: int, request: EntryRequest) -> None:
        group = self.group
        group.indexes.append(index)
        if group.failed:
            self.outcomes.append(
                _refused(request, LedgerError(_CODE.LINKED_ENTRY_FAILED, "group failed"))
            )
            return
        try:
            self.outcomes.append(self._plan_one(index, request))
        except LedgerError as error:
            self.outcomes.append(_refused(request, error))
            if request.linked or len(group.indexes) > 1:
                self._undo_group(failed_index=index)

    def _undo_group(
        self,
        failed_index: int | None,
        code: LedgerErrorCode = _CODE.LINKED_ENTRY_FAILED,
        message: str = "another entry failed",
    ) -> None:
        """Undo the group's new entries and their effects, and give its other members
        `code`. A member that replayed an entry recorded outside the group keeps its
        outcome: that entry stands."""
        group = self.group
        standing = self._standing_replays()
        group.failed = True
        self.accounts.update(group.accounts_before)
        self.resolved.update(group.resolved_before)
        for index in group.indexes:
            outcome = self.outcomes[index]
            if index != failed_index and outcome.code is None and index not in standing:
                self.outcomes[index] = EntryOutcome(outcome.entry_id, None, code.value, message)
            if outcome.entry is not None and not outcome.replayed:
                self.new_entries.pop(outcome.entry_id, None)

    def _standing_replays(self) -> set[int]:
        """The group's members that replayed an entry not created by the group itself."""
        indexes = self.group.indexes
        created = {
            self.outcomes[i].entry_id
            for i in indexes
            if self.outcomes[i].entry is not None and not self.outcomes[i].replayed
        }
        return {
            i
            for i in indexes
            if self.outcomes[i].replayed and self.outcomes[i].entry_id not in created
        }

    def _plan_one(self, index: int, request: EntryRequest) -> EntryOutcome:
        metadata_json = self.ctx.shapes[index]
        if isinstance(metadata_json, LedgerError):
            raise metadata_json
        target = self._target(request)
        # An id recorded earlier, or earlier in this batch (two callers retrying the same
        # request can share a group commit), replays or conflicts the same way.
        existing = self.ctx.existing.get(request.entry_id) or self.new_entries.get(request.entry_id)
        if existing is not None:
            compare_with_existing(request, metadata_json, existing, target)
            return EntryOutcome(request.entry_id, existing, replayed=True)
        require_new_entry_id(request)
        effects, posted_legs, pending_legs = self._effects(request, target)
        self._apply(request, effects)
        # Only now, with every check passed, does the target count as resolved (or reversed).
        if target is not None:
            self._mark_resolved(target.entry_id, request.kind)
        entry = self._record(index, request, metadata_json, posted_legs, pending_legs)
        self.new_entries[request.entry_id] = entry
        return EntryOutcome(request.entry_id, entry)

    def _target(self, request: EntryRequest) -> Entry | None:
        if request.target_id is None:
            return None
        in_batch = self.new_entries.get(request.target_id)
        if in_batch is not None:
            return in_batch
        state = self.ctx.targets.get(request.target_id)
        if state is not None:
            return state.entry
        missing = (
            _CODE.ENTRY_NOT_FOUND if request.kind is EntryKind.REVERSAL else _CODE.PENDING_NOT_FOUND
        )
        raise LedgerError(missing, f"no entry {request.target_id!r}", field="target_id")

    def _effects(
        self, request: EntryRequest, target: Entry | None
    ) -> tuple[dict[int, Effect], tuple[Leg, ...], tuple[Leg, ...]]:
        """Return per-account deltas, the legs to post and the legs to hold."""
        kind = request.kind
        if kind is EntryKind.POSTED:
            return posted_effects(request.legs), request.legs, ()
        if kind is EntryKind.PENDING:
            return held_effects(request.legs, sign=1), (), request.legs
        assert target is not None
        if kind is EntryKind.REVERSAL:
            legs = self._reversal_legs(target)
            return posted_effects(legs), legs, ()
        self._check_resolution(request, target)
        held = target.legs()
        effects = held_effects(held, sign=-1)
        if kind is not EntryKind.POST_PENDING:
            return effects, (), ()
        legs = resolution_legs(request.legs, held)
        for account_id, effect in posted_effects(legs).items():
            combined = effects.setdefault(account_id, Effect())
            combined.posted += effect.posted
            combined.posting_count += effect.posting_count
        return effects, legs, ()

    def _reversal_legs(self, target: Entry) -> tuple[Leg, ...]:
        if target.kind not in (EntryKind.POSTED, EntryKind.POST_PENDING):
            raise LedgerError(
                _CODE.ENTRY_NOT_REVERSIBLE,
                f"a {target.kind} entry cannot be reversed",
                field="target_id",
            )
        if self.resolved.get(target.entry_id) is not None:
            raise LedgerError(_CODE.ENTRY_ALREADY_REVERSED, "already reversed", field="target_id")
        return tuple(Leg(p.account_id, -p.amount) for p in target.postings)

    def _check_resolution(self, request: EntryRequest, target: Entry) -> None:
        if target.kind is not EntryKind.PENDING:
            raise LedgerError(_CODE.PENDING_NOT_FOUND, "target is not a hold", field="target_id")
        done = self.resolved.get(target.entry_id)
        if done is EntryKind.POST_PENDING:
            raise LedgerError(
                _CODE.PENDING_ALREADY_POSTED, "hold already posted", field="target_id"
            )
        if done is EntryKind.EXPIRE_PENDING:
            raise LedgerError(_CODE.PENDING_EXPIRED, "hold expired", field="target_id")
        if done is not None:
            raise LedgerError(
                _CODE.PENDING_ALREADY_VOIDED, "hold already voided", field="target_id"
            )
        expired = target.expires_at is not None and self.ctx.now >= target.expires_at
        if request.kind is EntryKind.POST_PENDING and expired:
            raise LedgerError(_CODE.PENDING_EXPIRED, "hold expired", field="target_id")
        if request.kind is EntryKind.EXPIRE_PENDING and not expired:
            raise LedgerError(_CODE.PENDING_NOT_EXPIRED, "hold has not expired", field="target_id")

    def _mark_resolved(self, target_id: str, kind: EntryKind) -> None:
        self.group.resolved_before.setdefault(target_id, self.resolved.get(target_id))
        self.resolved[target_id] = kind

    def _apply(self, request: EntryRequest, effects: dict[int, Effect]) -> None:
        releases_only = request.kind in _RELEASE_KINDS
        updated: dict[int, Account] = {}
        for account_id, effect in effects.items():
            updated[account_id] = moved(self._account(account_id, request, releases_only), effect)
        for account_id, effect in effects.items():
            violation = violation_in_direction(updated[account_id], effect)
            if violation is not None and not releases_only:
                raise _leg_error(violation, f"account {account_id}: {violation}", account_id)
        for ceiling in request.ceilings:
            if above_ceiling(updated[ceiling.account_id], effects[ceiling.account_id], ceiling):
                message = f"account {ceiling.account_id}: above this entry's ceiling"
                raise _leg_error(_CODE.BALANCE_LIMIT_EXCEEDED, message, ceiling.account_id)
        for account_id, account in updated.items():
            self.group.accounts_before.setdefault(account_id, self.accounts[account_id])
            self.accounts[account_id] = account
            self.changed.add(account_id)

    def _account(self, account_id: int, request: EntryRequest, releases_only: bool) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise _leg_error(_CODE.ACCOUNT_NOT_FOUND, f"no account {account_id}", account_id)
        if any(
            leg.account_id == account_id and leg.amount.currency != account.currency
            for leg in request.legs
        ):
            raise _leg_error(
                _CODE.CURRENCY_MISMATCH,
                f"account {account_id} holds {account.currency}",
                account_id,
            )
        if account.status is AccountStatus.CLOSED and not releases_only:
            raise _leg_error(_CODE.ACCOUNT_CLOSED, f"account {account_id} is closed", account_id)
        if account.status is AccountStatus.FROZEN and not releases_only:
            raise _leg_error(_CODE.ACCOUNT_FROZEN, f"account {account_id} is frozen", account_id)
        return account

    def _record(
        self,
        index: int,
        request: EntryRequest,
        metadata_json: str | None,
        posted_legs: tuple[Leg, ...],
        pending_legs: tuple[Leg, ...],
    ) -> Entry:
        postings = tuple(self._posting(leg, is_pending=False) for leg in posted_legs) + tuple(
            self._posting(leg, is_pending=True) for leg in pending_legs
        )
        now = self.ctx.now
        expires_at = None
        if request.timeout_s is not None:
            expires_at = now + timedelta(seconds=request.timeout_s)
        digest = entry_digest(
            self.ctx.seal_key,
            entry_id=request.entry_id,
            kind=request.kind.value,
            target_id=request.target_id,
            business_date=request.business_date,
            timeout_s=request.timeout_s,
            expires_at=expires_at,
            metadata_json=metadata_json,
            committed_at=now,
            postings=[canonical_posting(p) for p in postings],
        )
        return Entry(
            self.ctx.seqs[index],
            request.entry_id,
            request.kind,
            request.target_id,
            request.business_date,
            request.timeout_s,
            expires_at,
            metadata_json,
            now,
            digest,
            postings,
        )

    def _posting(self, leg: Leg, *, is_pending: bool) -> Posting:
        account = self.accounts[leg.account_id]
        if is_pending:
            return Posting(leg.account_id, account.coop_id, leg.amount, True, None, None)
        # The account was moved by `_apply` already, this posting counted, and appears once
        # per entry, so its posted balance and count now are those after this posting.
        return Posting(
            leg.account_id,
            account.coop_id,
            leg.amount,
            False,
            account.posting_count,
            account.posted_minor,
        )


def _leg_error(code: LedgerErrorCode, message: str, account_id: int) -> LedgerError:
    return LedgerError(code, message, field="legs", account_id=account_id)


def _refused(request: EntryRequest, error: LedgerError) -> EntryOutcome:
    return EntryOutcome(
        request.entry_id,
        None,
        error.code.value,
        error.message,
        field=error.field,
        account_id=error.account_id,
    )
