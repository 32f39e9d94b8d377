"""Reading and writing ledger rows inside a caller's transaction.

Every function takes an open `Connection` inside a transaction and never commits. Accounts
are locked in ascending id order (`FOR UPDATE` on PostgreSQL; SQLite's single writer lock
is taken by `BEGIN IMMEDIATE`), so concurrent batches never deadlock on each other.
Posting on SQLite allocates sequence numbers and writes here (`allocate_seqs`,
`write_plan`, one executemany per table); on PostgreSQL both go through `ledger.store_pg`.
Postings are written before their entries so that the entry's insert trigger can refuse an
entry whose postings do not sum to zero.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeGuard

from sqlalchemy import (
    Connection,
    Row,
    bindparam,
    func,
    insert,
    select,
    update,
)

from ledger.account import Account, AccountKind, AccountStatus
from ledger.entry import Entry, EntryKind, Posting
from ledger.money import Money
from ledger.planner import BatchPlan, TargetState
from ledger.row_id import ROW_ID_MAX
from ledger.tables import account, entry, posting

__all__ = [
    "allocate_seqs",
    "is_row_id",
    "load_entries",
    "load_targets",
    "lock_accounts",
    "row_ids",
    "row_to_account",
    "target_states",
    "write_plan",
]


def is_row_id(value: object) -> TypeGuard[int]:
    """True if `value` can name a row (a positive 64-bit integer); any other value names
    nothing, so a lookup skips it instead of failing on it in the driver."""
    return type(value) is int and 0 < value <= ROW_ID_MAX


def row_ids(ids: Collection[object]) -> list[int]:
    """The ids that can name a row (`is_row_id`), each once, in order."""
    return sorted({i for i in ids if is_row_id(i)})


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def row_to_account(row: Row[Any]) -> Account:
    """Build an `Account` value from a `ledger_account` row."""
    return Account(
        id=row.id,
        ref=row.ref,
        coop_id=row.coop_id,
        currency=row.currency,
        kind=AccountKind(row.kind),
        status=AccountStatus(row.status),
        min_balance_minor=row.min_balance_minor,
        max_balance_minor=row.max_balance_minor,
        posted_minor=row.posted_minor,
        pending_debit_minor=row.pending_debit_minor,
        pending_credit_minor=row.pending_credit_minor,
        posting_count=row.posting_count,
    )


def lock_accounts(conn: Connection, account_ids: Collection[int]) -> dict[int, Account]:
    """Lock the named accounts in ascending id order and return them; unknown ids are absent."""
    wanted = row_ids(account_ids)
    if not wanted:
        return {}
    query = select(account).where(account.c.id.in_(wanted)).order_by(account.c.id).with_for_update()
    return {row.id: row_to_account(row) for row in conn.execute(query)}


def allocate_seqs(conn: Connection, count: int) -> tuple[datetime, list[int]]:
    """SQLite: the clock and `count` fresh entry sequence numbers (PostgreSQL draws them
    from its sequence in `ledger.store_pg.read_phase`)."""
    assert count > 0
    assert not _is_postgres(conn), "PostgreSQL posts through ledger.store_pg"
    # SQLite: the writer holds the database lock since BEGIN IMMEDIATE, so max + 1 is ours.
    last = conn.execute(select(func.coalesce(func.max(entry.c.seq), 0))).scalar_one()
    return datetime.now(UTC), list(range(last + 1, last + 1 + count))


def _entry_query() -> Any:
    target = entry.alias("target")
    return select(entry, target.c.entry_id.label("target_id")).outerjoin(
        target, target.c.seq == entry.c.target_seq
    )


def load_entries(conn: Connection, entry_ids: Collection[str]) -> dict[str, Entry]:
    """Return the recorded entries among `entry_ids`, with their postings."""
    if not entry_ids:
        return {}
    rows = conn.execute(_entry_query().where(entry.c.entry_id.in_(sorted(entry_ids)))).all()
    return _with_postings(conn, rows)


def _with_postings(conn: Connection, rows: Sequence[Row[Any]]) -> dict[str, Entry]:
    if not rows:
        return {}
    seqs = [row.seq for row in rows]
    query = (
        select(posting)
        .where(posting.c.entry_seq.in_(seqs))
        .order_by(posting.c.entry_seq, posting.c.leg_no)
    )
    by_entry: dict[int, list[Posting]] = {seq: [] for seq in seqs}
    for p in conn.execute(query):
        by_entry[p.entry_seq].append(
            Posting(
                p.account_id,
                p.coop_id,
                Money(p.amount_minor, p.currency),
                bool(p.is_pending),
                p.account_posting_no,
                p.balance_after_minor,
            )
        )
    return {row.entry_id: _row_to_entry(row, tuple(by_entry[row.seq])) for row in rows}


def _row_to_entry(row: Row[Any], postings: tuple[Posting, ...]) -> Entry:
    return Entry(
        seq=row.seq,
        entry_id=row.entry_id,
        kind=EntryKind(row.kind),
        target_id=row.target_id,
        business_date=row.business_date,
        timeout_s=row.timeout_s,
        expires_at=row.expires_at,
        metadata_json=row.metadata_json,
        committed_at=row.committed_at,
        digest=row.digest,
        postings=postings,
    )


def load_targets(conn: Connection, targets: dict[str, Entry]) -> dict[str, TargetState]:
    """Return each target with the kind of entry that resolved or reversed it, if any
    (PostgreSQL reads the resolutions in `ledger.store_pg.read_phase`)."""
    if not targets:
        return {}
    seqs = [e.seq for e in targets.values()]
    query = select(entry.c.target_seq, entry.c.kind).where(entry.c.target_seq.in_(seqs))
    resolved = {row.target_seq: EntryKind(row.kind) for row in conn.execute(query)}
    return target_states(targets, resolved)


def target_states(
    targets: dict[str, Entry], resolved: dict[int, EntryKind]
) -> dict[str, TargetState]:
    """Each target with the kind of entry that resolved or reversed it, from `resolved`
    (by the target's sequence number); None while it stands open."""
    return {key: TargetState(e, resolved.get(e.seq)) for key, e in targets.items()}


def write_plan(conn: Connection, plan: BatchPlan, committed_at: datetime) -> None:
    """SQLite: insert the plan's postings and entries and store its accounts' new balances
    (PostgreSQL writes them with `ledger.store_pg.write_phase`)."""
    assert not _is_postgres(conn), "PostgreSQL posts through ledger.store_pg"
    if plan.new_entries:
        _insert_postings(conn, plan.new_entries, committed_at)
        _insert_entries(conn, plan.new_entries, plan.target_seqs, committed_at)
    if plan.changed_accounts:
        _update_accounts(conn, plan.changed_accounts)


def _posting_rows(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    return [
        {
            "entry_seq": e.seq,
            "leg_no": leg_no,
            "account_id": p.account_id,
            "coop_id": p.coop_id,
            "currency": p.amount.currency,
            "amount_minor": p.amount.amount_minor,
            "is_pending": p.is_pending,
            "account_posting_no": p.account_posting_no,
            "balance_after_minor": p.balance_after_minor,
        }
        for e in entries
        for leg_no, p in enumerate(e.postings, start=1)
    ]


def _entry_rows(entries: Iterable[Entry], target_seqs: Mapping[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "seq": e.seq,
            "entry_id": e.entry_id,
            "kind": e.kind.value,
            "target_seq": target_seqs[e.target_id] if e.target_id else None,
            "business_date": e.business_date,
            "timeout_s": e.timeout_s,
            "expires_at": e.expires_at,
            "metadata_json": e.metadata_json,
            "digest": e.digest,
        }
        for e in entries
    ]


def _insert_postings(conn: Connection, entries: Sequence[Entry], committed_at: datetime) -> None:
    rows = _posting_rows(entries)
    if rows:
        conn.execute(insert(posting), [{**r, "committed_at": committed_at} for r in rows])


def _insert_entries(
    conn: Connection,
    entries: Sequence[Entry],
    target_seqs: Mapping[str, int],
    committed_at: datetime,
) -> None:
    rows = _entry_rows(entries, target_seqs)
    conn.execute(insert(entry), [{**r, "committed_at": committed_at} for r in rows])


def _update_accounts(conn: Connection, accounts: Sequence[Account]) -> None:
    rows = [
        {
            "b_id": a.id,
            "b_posted": a.posted_minor,
            "b_debit": a.pending_debit_minor,
            "b_credit": a.pending_credit_minor,
            "b_count": a.posting_count,
        }
        for a in accounts
    ]
    statement = (
        update(account)
        .where(account.c.id == bindparam("b_id"))
        .values(
            posted_minor=bindparam("b_posted"),
            pending_debit_minor=bindparam("b_debit"),
            pending_credit_minor=bindparam("b_credit"),
            posting_count=bindparam("b_count"),
        )
    )
    conn.execute(statement, rows)
