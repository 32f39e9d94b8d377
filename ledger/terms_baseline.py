"""Recording, once, in the account history the accounts whose status changed before 0013.

Since migration 0013 every account opens active at terms version 0, and every status
change raises its version and appends an event (`ledger.account_events`), so the ledger
never leaves an account at version 0 with another status. Only an account frozen or
closed before 0013 is there (and one changed since, after a downgrade below 0013 and an
upgrade again emptied the history): with no event, its row put back as it was when it
opened (active, with that valid version-0 digest) would match a history that says
nothing. `record_unversioned_terms` appends for each such account a baseline event at
version 1 with its status as it stands, and raises the account to version 1, in the
caller's transaction, under the accounts' row locks and the history's lock. Its digest
is sealed again at version 1 only where the stored one is a valid version-0 digest of its
terms: one that is not (or none) is left as it is, for the audit to report, never blessed.
The audit reports such an account until then (`account_terms_unversioned`,
`ledger.audit_account_events`). An account with a value that does not read is left as it
is: the audit reports that value.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, bindparam, select, update
from sqlalchemy.engine import Row

from ledger.account import AccountStatus
from ledger.account_events import (
    NewEvent,
    append_events,
    latest_versions,
    lock_history,
)
from ledger.digest import account_terms_digest
from ledger.stored_values import raw_value, unreadable_values
from ledger.tables import account, account_event
from ledger.terms_sealing import SEALED_COLUMNS, TERMS_SEAL_BATCH_MAX, TermsSealing, stored_terms

__all__ = ["record_unversioned_terms"]

_CHANGED = (AccountStatus.FROZEN.value, AccountStatus.CLOSED.value)


def record_unversioned_terms(
    conn: Connection, key: bytes, *, after_id: int = 0, limit: int = TERMS_SEAL_BATCH_MAX
) -> tuple[TermsSealing, int | None]:
    """Record under `key` up to `limit` accounts with ids above `after_id` that are frozen
    or closed at version 0 with no event, lowest first, locking them; return what was done
    and the highest id looked at (None when none was left after `after_id`)."""
    assert key, "the sealing key must not be empty"
    assert 1 <= limit <= TERMS_SEAL_BATCH_MAX, "a bounded round"
    rows = conn.execute(_unversioned(conn.dialect.name, after_id, limit)).all()
    if not rows:
        return TermsSealing(), None
    unreadable = tuple(row.unversioned_id for row in rows if unreadable_values(row))
    readable = [row for row in rows if row.unversioned_id not in unreadable]
    lock_history(conn)
    # The rows are locked: a status change that got there first raised their version,
    # and none can append for them now. Asked again under the history's lock all the same.
    latest = latest_versions(conn, [row.unversioned_id for row in readable])
    events = {row.unversioned_id: _baseline(key, row) for row in readable}
    events = {i: event for i, event in events.items() if latest[i] == 0}
    if events:
        _write_versions(conn, events)
        append_events(conn, key, events)
    return TermsSealing(recorded=tuple(events), unreadable=unreadable), rows[-1].unversioned_id


def _unversioned(dialect: str, after_id: int, limit: int) -> Select[Any]:
    """Up to `limit` accounts above `after_id` frozen or closed at version 0 with no
    event, lowest id first, locked."""
    c = account.c
    recorded = select(account_event.c.seq).where(account_event.c.account_id == c.id).exists()
    return (
        select(
            c.id.label("unversioned_id"),
            *(raw_value(c[name], dialect) for name in SEALED_COLUMNS),
        )
        .where(c.id > after_id, c.terms_version == 0, c.status.in_(_CHANGED), ~recorded)
        .order_by(c.id)
        .limit(limit)
        .with_for_update(of=account)
    )


def _baseline(key: bytes, row: Row[Any]) -> NewEvent:
    """The account's baseline event: its status at version 1, with its digest sealed again
    at version 1 where the stored one seals its terms at version 0, else as it is."""
    assert row.terms_version == 0, "an account not yet versioned"
    terms = stored_terms(row)
    digest = row.terms_digest
    if digest is not None and digest == account_terms_digest(key, terms):
        digest = account_terms_digest(key, terms, 1)
    return row.coop_id, row.status, (1, digest)


def _write_versions(conn: Connection, events: dict[int, NewEvent]) -> None:
    """Raise each account to its baseline event's version and digest."""
    c = account.c
    statement = (
        update(account)
        .where(c.id == bindparam("b_id"), c.terms_version == 0)
        .values(terms_version=bindparam("b_version"), terms_digest=bindparam("b_digest"))
    )
    rows = [
        {"b_id": i, "b_version": version, "b_digest": digest}
        for i, (_, _, (version, digest)) in events.items()
    ]
    conn.execute(statement, rows)
