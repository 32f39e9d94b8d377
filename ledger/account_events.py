"""The history of accounts' terms changes: append-only, keyed and hash-chained.

An account's terms digest shows terms rewritten behind the ledger's back, but not an
earlier row put back whole: a frozen account's earlier `active` row and its digest, copied
back from a backup, verify, as that digest is a valid one of those terms. So each account
carries a `terms_version`, sealed in its digest where it is not 0, and every status change
(`record_status_change`) raises it and appends an event to `ledger_account_event`:
the account's new version, its status and the digest it was given, linked into a keyed
chain in `seq` order (`ledger.digest.account_event_link`). The audit
(`ledger.audit_account_events`) recomputes the chain and requires each account to match its
latest event, so a row put back shows as a version behind its history. `kopnet ledger
seal-terms` appends too (`append_events`), once: a baseline event for each account frozen
or closed before 0013 (`ledger.terms_baseline`), and the digest it gives a listed account
that has a history (`ledger.terms_sealing`), so that an event records every digest the
ledger gives an account that has one.

Invariants: each account's versions rise (1, 2, ... while nobody alters its row or its
history behind the ledger's back), and `seq` runs 1, 2, ... over the whole history; an
account's row and its event are written in one transaction, under the
account's row lock (the caller's). Appends are serialised, as the chain's tail is read and
extended under one lock: on PostgreSQL a transaction-scoped advisory lock
(`_ACCOUNT_EVENT_LOCK_KEY`), on SQLite the write lock every transaction takes at BEGIN.
Status changes are rare and never on the payment path, so they can wait for each other;
locking the tail row instead would not do, as a waiter would go on with the tail it waited
for, not the one appended meanwhile.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, func, insert, select, update

from ledger.account import Account
from ledger.digest import GENESIS_HASH, account_event_link, account_terms_digest
from ledger.stored_values import raw_value
from ledger.tables import account, account_event

__all__ = [
    "History",
    "NewEvent",
    "account_histories",
    "append_events",
    "latest_versions",
    "lock_history",
    "record_status_change",
]

_ACCOUNT_EVENT_LOCK_KEY = 0x6B6F706E65745F65  # "kopnet_e"

# An event's columns, in the order of `ledger.digest.AccountEvent`.
_EVENT_FIELDS = ("seq", "account_id", "coop_id", "version", "status", "terms_digest", "created_at")
# An account's seal as stored: its terms version and digest (None if it has none).
_Seal = tuple[int, str | None]
# An event to append for an account: its cooperative, its status (stored text) and the
# version and digest it was given.
NewEvent = tuple[int, str, _Seal]


def record_status_change(
    conn: Connection, before: Mapping[int, Account], after: Mapping[int, Account], key: bytes
) -> None:
    """Store each account's new status (`after`; as read under its lock, `before`), its
    next terms version and its digest sealed again under `key`, and append one event per
    account to the history, lowest id first. An account that has the status
    already is left as it is: no change, no event.

    The new digest replaces only one that seals the terms and version as read, at the
    version of the account's latest event: a status change must not bless terms
    rewritten, or an earlier row put back, behind the ledger's back (their mismatch stays
    for the audit to report), nor seal an account that has no digest (it stays unsealed).
    The new version follows the row's and the history's, whichever is higher, so that the
    change is recorded whatever was done to either; the event records the digest the
    account was left with."""
    assert before.keys() == after.keys(), "the same accounts, before and after"
    assert len({found.status for found in after.values()}) <= 1, "one new status for all"
    changed = sorted(i for i, found in after.items() if found.status is not before[i].status)
    if not changed:
        return
    lock_history(conn)
    stored, latest = _stored_seals(conn, changed), latest_versions(conn, changed)
    given = {i: _resealed(key, (before[i], after[i]), stored[i], latest[i]) for i in changed}
    rows = [
        {"b_id": i, "b_status": after[i].status.value, "b_version": v, "b_digest": d}
        for i, (v, d) in given.items()
    ]
    statement = (
        update(account)
        .where(account.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            terms_version=bindparam("b_version"),
            terms_digest=bindparam("b_digest"),
        )
    )
    conn.execute(statement, rows)
    events = {i: (after[i].coop_id, after[i].status.value, seal) for i, seal in given.items()}
    append_events(conn, key, events)


def lock_history(conn: Connection) -> None:
    """Take the history's append lock until the transaction ends (PostgreSQL; SQLite's
    transactions hold the write lock already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_ACCOUNT_EVENT_LOCK_KEY)))


def _stored_seals(conn: Connection, account_ids: Collection[int]) -> dict[int, _Seal]:
    """The terms version and digest each of the (locked) accounts stores."""
    c = account.c
    query = select(c.id, c.terms_version, c.terms_digest).where(c.id.in_(sorted(account_ids)))
    seals = {row.id: (row.terms_version, row.terms_digest) for row in conn.execute(query)}
    assert seals.keys() == set(account_ids), "every account is there, locked"
    return seals


def _tail(conn: Connection) -> tuple[int, str]:
    """The history's last `seq` and link (0 and the genesis link when it is empty)."""
    query = select(account_event.c.seq, account_event.c.chain_hash)
    row = conn.execute(query.order_by(account_event.c.seq.desc()).limit(1)).first()
    return (row.seq, row.chain_hash) if row else (0, GENESIS_HASH)


def latest_versions(conn: Connection, account_ids: Collection[int]) -> dict[int, int]:
    """The version of each account's latest event (0 for an account without events)."""
    c = account_event.c
    query = select(c.account_id, func.max(c.version)).where(c.account_id.in_(sorted(account_ids)))
    found = {row[0]: row[1] for row in conn.execute(query.group_by(c.account_id))}
    return {account_id: found.get(account_id, 0) for account_id in account_ids}


def _resealed(key: bytes, change: tuple[Account, Account], stored: _Seal, latest: int) -> _Seal:
    """The account's next version, and the digest it is given with it: the new terms
    (`change`: before and after) sealed at that version where the stored digest seals the
    terms before it at the stored version, and that version is the `latest` event's; else
    the stored digest as it is."""
    before, after = change
    assert before.status is not after.status, "a change of status"
    version, digest = stored
    following = max(version, latest) + 1
    if version != latest or digest != account_terms_digest(key, before.terms(), version):
        return following, digest
    return following, account_terms_digest(key, after.terms(), following)


def append_events(conn: Connection, key: bytes, events: Mapping[int, NewEvent]) -> None:
    """Append one event per account to the history, in `events`' order, linked after its
    tail. The caller holds the history's lock (`lock_history`) and the accounts' row
    locks, and writes each account's row with the version and digest of its event."""
    assert events, "something to append"
    seq, previous = _tail(conn)
    now = datetime.now(UTC)
    rows = []
    for account_id, (coop_id, status, (version, digest)) in events.items():
        assert version > 0, "an event records a version the account was raised to"
        seq += 1
        event = (seq, account_id, coop_id, version, status, digest, now)
        previous = account_event_link(key, previous, event)
        rows.append({**dict(zip(_EVENT_FIELDS, event, strict=True)), "chain_hash": previous})
    conn.execute(insert(account_event), rows)


@dataclass(frozen=True, slots=True)
class History:
    """What an account's history says of it: its latest event's version and status, as
    stored (`ledger.stored_values.Unreadable` where one does not read), and whether any
    of its events recorded a digest."""

    version: object
    status: object
    digest_recorded: bool


def account_histories(conn: Connection, account_ids: Collection[int]) -> dict[int, History]:
    """The history of each of the (locked) accounts that has one. Few accounts change
    status, and those few times, so every event of theirs is read."""
    c, dialect = account_event.c, conn.dialect.name
    sealed = c.terms_digest.is_not(None).label("sealed")
    read = (raw_value(c.version, dialect), raw_value(c.status, dialect), sealed)
    query = (
        select(c.account_id, *read)
        .where(c.account_id.in_(sorted(account_ids)))
        .order_by(c.account_id, c.version)
    )
    found: dict[int, History] = {}
    for row in conn.execute(query):
        known = found.get(row.account_id)
        recorded = bool(row.sealed) or (known is not None and known.digest_recorded)
        found[row.account_id] = History(row.version, row.status, recorded)
    return found
