"""PostgreSQL's fast path for posting: each phase of a batch in one network round trip.

The statements are fixed texts with bound parameters (arrays for whole batches, sent in
binary and packed in a few C calls: `ledger.pg_arrays`), so psycopg prepares them
once per connection, and they are sent in pipeline mode: the read phase (the
transaction's BEGIN, lock the accounts in id order, read the clock and draw sequence
numbers, find the ids already recorded) and the write phase (postings, entries, account
balances) each cost one round trip instead of one per statement. A caller that already
holds a pipeline open (to send its own rows and the COMMIT with the ledger's writes,
`ledger.db.commit_with`) gets the write phase queued in it instead. Semantics are those
of `ledger.store`; the SQLite path stays there. Runs inside the caller's transaction and
never commits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from ledger.account import Account, AccountKind, AccountStatus
from ledger.db import driver, pipeline_begun, pipelined
from ledger.entry import Entry, EntryKind, Posting
from ledger.money import Money
from ledger.pg_arrays import Bools, Int2s, Int4s, Int8s, Texts
from ledger.planner import BatchPlan

__all__ = ["ReadPhase", "read_phase", "write_phase"]

_ACCOUNT_COLUMNS = (
    "id, ref, coop_id, currency, kind, status, min_balance_minor, max_balance_minor,"
    " posted_minor, pending_debit_minor, pending_credit_minor, posting_count"
)
_LOCK = (
    f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_account WHERE id = ANY(%b::bigint[])"
    " ORDER BY id FOR UPDATE"
)
# The same, with the accounts of the named targets' postings too: an entry's postings never
# change, so the statement that locks can look them up. The lateral lookup's ORDER BY keeps
# it a lookup by key for each target, as in `_EXISTING` below: flattened into a join, it
# scanned every posting for a batch of 8,190 targets.
_LOCK_WITH_TARGETS = (
    f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_account WHERE id = ANY(%b::bigint[] || ARRAY("
    " SELECT q.account_id FROM ledger_entry e, LATERAL (SELECT account_id FROM ledger_posting"
    " WHERE entry_seq = e.seq ORDER BY leg_no) q WHERE e.entry_id = ANY(%b::text[])))"
    " ORDER BY id FOR UPDATE"
)
_CLOCK_AND_SEQS = (
    "SELECT clock_timestamp(),"
    " array(SELECT nextval('ledger_entry_seq') FROM generate_series(1, %b))"
)
# A replay's entries with their postings, one row per posting (an entry without postings
# gives one row whose posting columns are null). The postings are looked up by their key
# for each entry found: a join would leave its method to the planner, and with stale
# statistics (after a bulk load) it chose a parallel scan of every posting, milliseconds
# on every call.
_EXISTING = (
    "SELECT e.seq, e.entry_id, e.kind, t.entry_id, e.business_date, e.timeout_s,"
    " e.expires_at, e.metadata_json, e.committed_at, e.digest, p.account_id, p.coop_id,"
    " p.currency, p.amount_minor, p.is_pending, p.account_posting_no, p.balance_after_minor"
    " FROM ledger_entry e LEFT JOIN ledger_entry t ON t.seq = e.target_seq"
    " LEFT JOIN LATERAL (SELECT * FROM ledger_posting q WHERE q.entry_seq = e.seq"
    " ORDER BY q.leg_no) p ON true"
    " WHERE e.entry_id = ANY(%b::text[]) ORDER BY e.seq, p.leg_no"
)
# The entries that already resolved or reversed the batch's targets (named by their ids):
# read after the lock, so that a resolution committed while the batch waited is seen.
_RESOLUTIONS = (
    "SELECT target_seq, kind FROM ledger_entry WHERE target_seq IN ("
    " SELECT seq FROM ledger_entry WHERE entry_id = ANY(%b::text[]))"
)
_INSERT_POSTINGS = (
    "INSERT INTO ledger_posting (entry_seq, leg_no, account_id, coop_id, currency,"
    " amount_minor, is_pending, account_posting_no, balance_after_minor, committed_at)"
    " SELECT *, %b::timestamptz FROM unnest(%b::bigint[], %b::smallint[], %b::bigint[],"
    " %b::bigint[], %b::varchar[], %b::bigint[], %b::boolean[], %b::bigint[], %b::bigint[])"
)
# The entries go in after their postings (the postings' check refuses additions to an
# entry already recorded); the accounts' new balances ride along in the same statement.
_INSERT_ENTRIES_AND_MOVE_ACCOUNTS = (
    "WITH moved AS (UPDATE ledger_account a SET posted_minor = v.posted,"
    " pending_debit_minor = v.debit, pending_credit_minor = v.credit, posting_count = v.count"
    " FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[])"
    " AS v(id, posted, debit, credit, count)"
    # The id filter lets the planner use the primary key instead of scanning every account.
    " WHERE a.id = v.id AND a.id = ANY(%b::bigint[]))"
    " INSERT INTO ledger_entry (seq, entry_id, kind, target_seq, business_date, timeout_s,"
    " expires_at, metadata_json, digest, committed_at)"
    " SELECT *, %b::timestamptz FROM unnest(%b::bigint[], %b::varchar[], %b::varchar[],"
    " %b::bigint[], %b::date[], %b::integer[], %b::timestamptz[], %b::text[], %b::varchar[])"
)


@dataclass(frozen=True, slots=True)
class ReadPhase:
    """What the read phase found: locked accounts, the clock, sequence numbers, replays,
    the targets, and the kind of entry that resolved each target already resolved (by its
    seq)."""

    accounts: dict[int, Account]
    now: datetime
    seqs: list[int]
    existing: dict[str, Entry]
    targets: dict[str, Entry]
    resolutions: dict[int, EntryKind]


def read_phase(
    conn: Connection,
    account_ids: Collection[int],
    entry_ids: Collection[str],
    count: int,
    target_ids: Collection[str],
) -> ReadPhase:
    """Lock the accounts (those named and those of the targets' postings), read the clock,
    draw `count` seqs, load the recorded entries among `entry_ids` and `target_ids`, and
    the targets' resolutions: one trip."""
    assert count > 0
    pg = driver(conn)
    ids, targets = Int8s(sorted(account_ids)), Texts(sorted(target_ids))
    names = Texts(sorted({*entry_ids, *targets}))
    with pipeline_begun(pg):
        if targets:
            locked = pg.execute(_LOCK_WITH_TARGETS, (ids, targets))
        else:
            locked = pg.execute(_LOCK, (ids,))
        clock = pg.execute(_CLOCK_AND_SEQS, (count,))
        recorded = pg.execute(_EXISTING, (names,))
        resolved = pg.execute(_RESOLUTIONS, (targets,)) if targets else None
    accounts = {row[0]: _account(row) for row in locked.fetchall()}
    moment, seqs = clock.fetchone()
    found = _entries(recorded.fetchall())
    resolutions = (
        {} if resolved is None else {row[0]: EntryKind(row[1]) for row in resolved.fetchall()}
    )
    return ReadPhase(
        accounts,
        moment.astimezone(UTC),
        list(seqs),
        {i: found[i] for i in entry_ids if i in found},
        {i: found[i] for i in targets if i in found and _all_locked(found[i], accounts)},
        resolutions,
    )


def _all_locked(target: Entry, accounts: Mapping[int, Account]) -> bool:
    """Whether the lock took every account of `target`'s postings. A target committed
    while the lock waited was not there when the lock statement looked its accounts up,
    but is when the entries are read after it: such a target is left out, not found, as
    it was when the lock began."""
    return all(p.account_id in accounts for p in target.postings)


def _account(row: Sequence[Any]) -> Account:
    return Account(
        row[0],
        row[1],
        row[2],
        row[3],
        AccountKind(row[4]),
        AccountStatus(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
    )


def _entries(rows: Sequence[Any]) -> dict[str, Entry]:
    postings: dict[int, list[Posting]] = {}
    heads: dict[int, Sequence[Any]] = {}
    for row in rows:
        heads.setdefault(row[0], row)
        legs = postings.setdefault(row[0], [])
        if row[10] is not None:
            legs.append(Posting(row[10], row[11], Money(row[13], row[12]), *row[14:17]))
    return {
        row[1]: Entry(
            row[0],
            row[1],
            EntryKind(row[2]),
            row[3],
            row[4],
            row[5],
            _utc(row[6]),
            row[7],
            row[8].astimezone(UTC),
            row[9],
            tuple(postings[seq]),
        )
        for seq, row in heads.items()
    }


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def write_phase(conn: Connection, plan: BatchPlan, committed_at: datetime) -> None:
    """Insert the plan's postings and entries and store its accounts' balances: one trip."""
    entries = plan.new_entries
    if not entries and not plan.changed_accounts:
        return
    pg = driver(conn)
    with pipelined(pg):
        if entries:
            pg.execute(_INSERT_POSTINGS, (committed_at, *_posting_arrays(entries)))
        pg.execute(
            _INSERT_ENTRIES_AND_MOVE_ACCOUNTS,
            (
                *_account_arrays(plan.changed_accounts),
                committed_at,
                *_entry_arrays(entries, plan.target_seqs),
            ),
        )


def _posting_arrays(entries: Sequence[Entry]) -> tuple[list[Any], ...]:
    columns: tuple[list[Any], ...] = (
        Int8s(),
        Int2s(),
        Int8s(),
        Int8s(),
        Texts(),
        Int8s(),
        Bools(),
        Int8s(),
        Int8s(),
    )
    for e in entries:
        for leg_no, p in enumerate(e.postings, start=1):
            values = (
                e.seq,
                leg_no,
                p.account_id,
                p.coop_id,
                p.amount.currency,
                p.amount.amount_minor,
                p.is_pending,
                p.account_posting_no,
                p.balance_after_minor,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
    return columns


def _entry_arrays(
    entries: Sequence[Entry], target_seqs: Mapping[str, int]
) -> tuple[list[Any], ...]:
    return (
        Int8s([e.seq for e in entries]),
        Texts([e.entry_id for e in entries]),
        Texts([e.kind.value for e in entries]),
        Int8s([target_seqs[e.target_id] if e.target_id else None for e in entries]),
        [e.business_date for e in entries],
        Int4s([e.timeout_s for e in entries]),
        [e.expires_at for e in entries],
        Texts([e.metadata_json for e in entries]),
        Texts([e.digest for e in entries]),
    )


def _account_arrays(accounts: Sequence[Account]) -> tuple[Int8s, ...]:
    ids = Int8s([a.id for a in accounts])
    return (
        ids,
        Int8s([a.posted_minor for a in accounts]),
        Int8s([a.pending_debit_minor for a in accounts]),
        Int8s([a.pending_credit_minor for a in accounts]),
        Int8s([a.posting_count for a in accounts]),
        ids,
    )
