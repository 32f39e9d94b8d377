"""Sealing, once, the terms of accounts opened before migration 0008.

Migration 0009 lists every account that had no terms digest in `ledger_account_unsealed`.
`seal_listed_terms` writes each listed account's digest of its terms as they stand (read in
the audit's raw forms, `ledger.stored_values`, so that what is sealed is what the audit
recomputes) and takes it off the list, in the caller's transaction, under the accounts'
row locks. A listed account with a value that does not read stays listed and unsealed: the
audit reports that value. An account that is not listed is never sealed here, so a digest
removed behind the ledger's back stays a finding (`account_terms_digest_missing`). The
list itself is not sealed: whoever can remove a digest can list the account too, and the
command would then seal what they wrote. It is meant to run once, right after the upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.engine import Row

from ledger.account import TERM_FIELDS
from ledger.digest import AccountTerms, account_terms_digest
from ledger.stored_values import Unreadable, raw_value, unreadable_values
from ledger.tables import account, account_unsealed

__all__ = ["TERMS_SEAL_BATCH_MAX", "ListedSealing", "seal_listed_terms", "stored_terms"]

TERMS_SEAL_BATCH_MAX = 1000


@dataclass(frozen=True, slots=True)
class ListedSealing:
    """The listed accounts sealed, and those left listed because a term or the digest does
    not read."""

    sealed: tuple[int, ...] = ()
    unreadable: tuple[int, ...] = ()

    def __add__(self, other: ListedSealing) -> ListedSealing:
        return ListedSealing(self.sealed + other.sealed, self.unreadable + other.unreadable)


def seal_listed_terms(
    conn: Connection, key: bytes, *, after_id: int = 0, limit: int = TERMS_SEAL_BATCH_MAX
) -> tuple[ListedSealing, int | None]:
    """Seal under `key` the terms of up to `limit` listed accounts with ids above
    `after_id`, lowest first, locking them, and take each sealed one off the list; return
    what was done and the highest id looked at (None when no listed account was left after
    `after_id`). A listed account that already has a digest is taken off the list and left
    as it is."""
    assert key, "the sealing key must not be empty"
    assert 1 <= limit <= TERMS_SEAL_BATCH_MAX, "a bounded round"
    c, dialect = account.c, conn.dialect.name
    raw = [raw_value(c[name], dialect) for name in (*TERM_FIELDS, "terms_digest")]
    query = (
        select(c.id.label("listed_id"), *raw)
        .join_from(account, account_unsealed, account_unsealed.c.account_id == c.id)
        .where(c.id > after_id)
        .order_by(c.id)
        .limit(limit)
        .with_for_update(of=account)
    )
    rows = conn.execute(query).all()
    if not rows:
        return ListedSealing(), None
    unreadable = tuple(row.listed_id for row in rows if unreadable_values(row))
    readable = [row for row in rows if row.listed_id not in unreadable]
    digests = [
        {"b_id": row.listed_id, "b_digest": account_terms_digest(key, stored_terms(row))}
        for row in readable
        if row.terms_digest is None
    ]
    if digests:
        sealing = (
            update(account)
            .where(c.id == bindparam("b_id"), c.terms_digest.is_(None))
            .values(terms_digest=bindparam("b_digest"))
        )
        conn.execute(sealing, digests)
    off = [row.listed_id for row in readable]
    if off:
        conn.execute(delete(account_unsealed).where(account_unsealed.c.account_id.in_(off)))
    sealed = tuple(d["b_id"] for d in digests)
    return ListedSealing(sealed, unreadable), rows[-1].listed_id


def stored_terms(row: Row[Any]) -> AccountTerms:
    """An account's terms from a `row` that selected its `TERM_FIELDS` by name, each of
    which reads: what its digest seals."""
    terms = tuple(row._mapping[name] for name in TERM_FIELDS)
    assert len(terms) == 8 and Unreadable not in map(type, terms), "every term reads"
    return terms
