"""Sealing, once, the terms of accounts a migration could not seal.

Migration 0009 lists every account that had no terms digest in `ledger_account_unsealed`
(opened before 0008), 0012 the due accounts whose upper limit it removed, and a downgrade
below 0013 the accounts whose digest sealed a version. `seal_listed_terms` writes each
listed account's digest of its terms as they stand (read in the audit's raw forms,
`ledger.stored_values`, so that what is sealed is what the audit recomputes) and takes it
off the list, in the caller's transaction, under the accounts' row locks. An account
without a history is sealed at its terms version (0). One whose status changed while it
was listed has a history whose events recorded no digest: it is sealed at its next
version, and an event records that digest (`ledger.account_events`), so that its history
holds every digest the ledger gave it.

Refused, left listed and unsealed: a due account whose terms as 0012 found them do not
match the digest it found (`ledger.prior_terms`: rewritten before the upgrade; the audit
reports `account_terms_mismatch`), an account whose history recorded a digest (the ledger
gave it one, so it was removed behind the ledger's back, and sealing it again would bless
whatever was written meanwhile), or whose row is not its history's latest version and
status (an earlier row put back, or its newest events removed); the audit reports each
(`account_terms_digest_missing`, `ledger.audit_account_events`'s findings). So is one with
a value that does not read: the audit reports that value. An account that is not listed
is never sealed here, so a digest removed behind the ledger's back stays a finding. The
list itself is not sealed: whoever can remove a digest can list an account that has no
history too, and the command would then seal what they wrote. It is meant to run once,
right after the upgrade; `ledger.terms_baseline` records, in the same command, the
accounts whose status changed before 0013.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, select, update
from sqlalchemy.engine import Row

from ledger.account import TERM_FIELDS
from ledger.account_events import (
    History,
    NewEvent,
    account_histories,
    append_events,
    lock_history,
)
from ledger.digest import AccountTerms, account_terms_digest
from ledger.prior_terms import prior_of, prior_terms_match
from ledger.stored_values import Unreadable, raw_value, unreadable_values
from ledger.tables import account, account_unsealed

__all__ = [
    "SEALED_COLUMNS",
    "TERMS_SEAL_BATCH_MAX",
    "TermsSealing",
    "seal_listed_terms",
    "stored_terms",
]

TERMS_SEAL_BATCH_MAX = 1000
# What sealing reads of an account, each in its raw form.
SEALED_COLUMNS = (*TERM_FIELDS, "terms_version", "terms_digest")


@dataclass(frozen=True, slots=True)
class TermsSealing:
    """What `seal-terms` did: the listed accounts it sealed, the accounts it recorded in
    the history at version 1 (`ledger.terms_baseline`), and the accounts it left as they
    were because a stored value does not read (`unreadable`) or their history disagrees
    with them (`refused`). Each id appears once in each."""

    sealed: tuple[int, ...] = ()
    recorded: tuple[int, ...] = ()
    unreadable: tuple[int, ...] = ()
    refused: tuple[int, ...] = ()

    def __add__(self, other: TermsSealing) -> TermsSealing:
        return TermsSealing(
            _joined(self.sealed, other.sealed),
            _joined(self.recorded, other.recorded),
            _joined(self.unreadable, other.unreadable),
            _joined(self.refused, other.refused),
        )


def _joined(mine: tuple[int, ...], theirs: tuple[int, ...]) -> tuple[int, ...]:
    """Both, in order, each id once (an account may be looked at by both passes)."""
    return tuple(dict.fromkeys(mine + theirs))


def seal_listed_terms(
    conn: Connection, key: bytes, *, after_id: int = 0, limit: int = TERMS_SEAL_BATCH_MAX
) -> tuple[TermsSealing, int | None]:
    """Seal under `key` the terms of up to `limit` listed accounts with ids above
    `after_id`, lowest first, locking them, and take each sealed one off the list; return
    what was done and the highest id looked at (None when no listed account was left after
    `after_id`). A listed account that already has a digest is taken off the list and left
    as it is."""
    assert key, "the sealing key must not be empty"
    assert 1 <= limit <= TERMS_SEAL_BATCH_MAX, "a bounded round"
    rows = conn.execute(_listed(conn.dialect.name, after_id, limit)).all()
    if not rows:
        return TermsSealing(), None
    unreadable = tuple(row.listed_id for row in rows if unreadable_values(row))
    unsealed = [r for r in rows if r.listed_id not in unreadable and r.terms_digest is None]
    seals, events = _sealings(conn, key, unsealed)
    _write_seals(conn, seals)
    if events:
        lock_history(conn)
        append_events(conn, key, events)
    refused = tuple(row.listed_id for row in unsealed if row.listed_id not in seals)
    off = [row.listed_id for row in rows if row.listed_id not in {*unreadable, *refused}]
    if off:
        conn.execute(delete(account_unsealed).where(account_unsealed.c.account_id.in_(off)))
    done = TermsSealing(sealed=tuple(seals), unreadable=unreadable, refused=refused)
    return done, rows[-1].listed_id


def _listed(dialect: str, after_id: int, limit: int) -> Select[Any]:
    """Up to `limit` listed accounts above `after_id`, lowest id first, locked."""
    c, listed = account.c, account_unsealed.c
    prior = (listed.prior_status, listed.prior_max_balance_minor, listed.prior_terms_digest)
    raw = (raw_value(c[name], dialect) for name in SEALED_COLUMNS)
    return (
        select(c.id.label("listed_id"), *raw, *prior)
        .join_from(account, account_unsealed, listed.account_id == c.id)
        .where(c.id > after_id)
        .order_by(c.id)
        .limit(limit)
        .with_for_update(of=account)
    )


# Each account's new terms version and digest, by id.
_Seals = dict[int, tuple[int, str]]


def _sealings(
    conn: Connection, key: bytes, rows: Sequence[Row[Any]]
) -> tuple[_Seals, dict[int, NewEvent]]:
    """The version and digest each listed account without a digest is given, and the
    event that records it for one with a history; an account that is refused has
    neither."""
    histories = account_histories(conn, [row.listed_id for row in rows]) if rows else {}
    seals: _Seals = {}
    events: dict[int, NewEvent] = {}
    for row in rows:
        history = histories.get(row.listed_id)
        if _rewritten_before_0012(key, row):
            continue
        if history is None and row.terms_version == 0:
            seals[row.listed_id] = (0, account_terms_digest(key, stored_terms(row)))
        elif history is not None and _agrees(row, history):
            version = row.terms_version + 1
            digest = account_terms_digest(key, stored_terms(row), version)
            seals[row.listed_id] = (version, digest)
            events[row.listed_id] = (row.coop_id, row.status, (version, digest))
    return seals, events


def _rewritten_before_0012(key: bytes, row: Row[Any]) -> bool:
    """Whether 0012 listed the account with terms that did not match the digest it had."""
    prior = prior_of(row)
    return prior is not None and not prior_terms_match(key, stored_terms(row), prior)


def _agrees(row: Row[Any], history: History) -> bool:
    """The account's row is its history's latest version and status, and its history
    never recorded a digest."""
    same = history.version == row.terms_version and history.status == row.status
    return same and not history.digest_recorded


def _write_seals(conn: Connection, seals: _Seals) -> None:
    """Store each account's new version and digest (over none: the accounts are locked)."""
    if not seals:
        return
    c = account.c
    statement = (
        update(account)
        .where(c.id == bindparam("b_id"), c.terms_digest.is_(None))
        .values(terms_version=bindparam("b_version"), terms_digest=bindparam("b_digest"))
    )
    rows = [{"b_id": i, "b_version": v, "b_digest": d} for i, (v, d) in seals.items()]
    conn.execute(statement, rows)


def stored_terms(row: Row[Any]) -> AccountTerms:
    """An account's terms from a `row` that selected its `TERM_FIELDS` by name, each of
    which reads: what its digest seals."""
    terms = tuple(row._mapping[name] for name in TERM_FIELDS)
    assert len(terms) == 8 and Unreadable not in map(type, terms), "every term reads"
    return terms
