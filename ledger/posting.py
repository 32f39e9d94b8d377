"""Posting a batch of entries inside the caller's transaction.

`post_entries` is the one write path of the ledger: single requests, batches and the group
committer all end here, and so can a caller that records its own rows (an interchange
payment, a settlement) in the same transaction. Order of work: check each request's shape
(`ledger.validation`; only a well-formed request's id is looked up), load targets (immutable;
on PostgreSQL in the lock's trip, its statement looking up their accounts), lock every
account involved in ascending id order, read the clock and allocate sequence numbers, load
the ids already recorded and what resolved the targets, plan (pure), write.
A request that fails changes nothing; the others in the batch are unaffected unless linked
to it. On PostgreSQL the read and write phases go through `ledger.store_pg`, one round trip
each. A caller that writes rows of its own after the ledger's can split the call:
`plan_entries` locks and plans, `write_planned` writes, so that both writes and the commit
can share a round trip (`ledger.db.commit_with`) and the accounts stay locked for less
time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from ledger.entry import EntryOutcome, EntryRequest
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.planner import BatchContext, BatchPlan, plan_batch
from ledger.store import (
    allocate_seqs,
    load_entries,
    load_targets,
    lock_accounts,
    row_ids,
    target_states,
    write_plan,
)
from ledger.store_pg import read_phase, write_phase
from ledger.validation import BATCH_SIZE_MAX, storable_entry_ids, validate_requests

__all__ = ["PlannedEntries", "check_batch_size", "plan_entries", "post_entries", "write_planned"]


@dataclass(frozen=True, slots=True)
class PlannedEntries:
    """A batch decided but not yet written: its accounts are locked until the commit."""

    plan: BatchPlan
    committed_at: datetime

    @property
    def outcomes(self) -> tuple[EntryOutcome, ...]:
        """One outcome per request, in request order, as they stand once written."""
        return self.plan.outcomes


def post_entries(
    conn: Connection, requests: Sequence[EntryRequest], *, seal_key: bytes
) -> tuple[EntryOutcome, ...]:
    """Record what can be recorded of `requests`, one outcome each, in request order."""
    planned = plan_entries(conn, requests, seal_key=seal_key)
    write_planned(conn, planned)
    return planned.outcomes


def check_batch_size(size: int) -> None:
    """Refuse an empty batch, or one over `BATCH_SIZE_MAX` entries."""
    if size == 0:
        raise LedgerError(LedgerErrorCode.BATCH_EMPTY, "a batch needs at least one entry")
    if size > BATCH_SIZE_MAX:
        raise LedgerError(
            LedgerErrorCode.BATCH_TOO_LARGE, f"a batch holds at most {BATCH_SIZE_MAX} entries"
        )


def plan_entries(
    conn: Connection, requests: Sequence[EntryRequest], *, seal_key: bytes
) -> PlannedEntries:
    """Lock the accounts and decide what `requests` record; write it with `write_planned`
    in the same transaction, before anything else reads or posts to those accounts."""
    check_batch_size(len(requests))
    shapes = validate_requests(requests)
    # The planner refuses a malformed request before it looks at anything recorded, so
    # only the well-formed ones' targets, accounts and ids are loaded (and locked).
    well_formed = [
        r for r, shape in zip(requests, shapes, strict=True) if not isinstance(shape, LedgerError)
    ]
    target_ids = storable_entry_ids(r.target_id for r in well_formed)
    account_ids = {leg.account_id for r in well_formed for leg in r.legs}
    entry_ids = {r.entry_id for r in well_formed}
    if conn.dialect.name == "postgresql":
        # Ids that cannot name an account are left out; the planner reports them not found.
        # The targets, and their accounts to lock, come in the same trip.
        read = read_phase(conn, row_ids(account_ids), entry_ids, len(requests), target_ids)
        accounts, now, seqs, existing = read.accounts, read.now, read.seqs, read.existing
        targets = target_states(read.targets, read.resolutions)
    else:
        target_entries = load_entries(conn, target_ids)
        account_ids.update(p.account_id for e in target_entries.values() for p in e.postings)
        accounts = lock_accounts(conn, account_ids)
        now, seqs = allocate_seqs(conn, len(requests))
        existing = load_entries(conn, entry_ids)
        targets = load_targets(conn, target_entries)
    context = BatchContext(
        shapes=shapes,
        accounts=accounts,
        existing=existing,
        targets=targets,
        now=now,
        seqs=seqs,
        seal_key=seal_key,
    )
    return PlannedEntries(plan_batch(requests, context), now)


def write_planned(conn: Connection, planned: PlannedEntries) -> None:
    """Write a planned batch: its entries, postings and the accounts' new balances."""
    if conn.dialect.name == "postgresql":
        write_phase(conn, planned.plan, planned.committed_at)
    else:
        write_plan(conn, planned.plan, planned.committed_at)
