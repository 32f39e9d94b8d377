"""The sealing key checked against the database before anything is written or sealed with it.

A wrong `KOPNET_SEAL_KEY` does lasting harm: entries and account terms written under it
never verify under the right key, and links it seals into the append-only chain leave
every later audit reporting the chain broken. So the database records the key's
fingerprint (`ledger.digest.seal_key_fingerprint`) in `ledger_seal_key`, and
`check_seal_key` refuses a key whose fingerprint differs (`seal_key_mismatch`).

The first key recorded is not taken on trust: on a database upgraded to 0011 with data
already written, it must verify some of it: the oldest or the newest chain link, entry
digest or account terms digest (the sealer extends the newest link; the oldest rows were
written with the key the ledger started with). A wrong key verifies none of these (an
HMAC under another key does not match); one is enough, so that a row altered behind the
ledger's back does not lock the right key out of the audit that reports it. (A database
that a wrong key already wrote to before 0011 may verify either key: the first recorded
stays, and the audit reports the rows under the other.) An empty ledger records the key
directly. Several processes may start at once: each inserts doing
nothing on a taken name, then reads back what was recorded, so all agree on the first. A
session that may not write (a read-only role, a read-only server) still checks: once the
stored data verified, failing to record is not a refusal, and the next process that may
write records it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from ledger.db import dialect_insert, sqlstate
from ledger.digest import (
    GENESIS_HASH,
    account_terms_digest,
    chain_link,
    entry_digest,
    seal_key_fingerprint,
)
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.leg_effects import canonical_posting
from ledger.store import load_entries, row_to_account
from ledger.tables import account, chain, entry, seal_key

__all__ = ["SEAL_KEY_NAME", "check_seal_key", "recorded_seal_key", "require_seal_key"]

# The one name the fingerprint is recorded under.
SEAL_KEY_NAME = "seal"
# The database refusing the insert to this session: a read-only transaction (a replica,
# `default_transaction_read_only`) and a role without the privilege (an auditor's).
_CANNOT_WRITE_SQLSTATES = frozenset({"25006", "42501"})
_MISMATCH = (
    "KOPNET_SEAL_KEY is not the key this database's digests and chain were written with:"
    " nothing was written or sealed under it (check KOPNET_SEAL_KEY)"
)


def check_seal_key(conn: Connection, key: bytes, now: datetime) -> None:
    """Refuse (`seal_key_mismatch`) a key whose fingerprint differs from the recorded one;
    with none recorded, refuse a key that does not verify what is stored, then record its
    fingerprint (or leave it unrecorded if this session may not write) and compare again
    with what was recorded, ours or another process's. The refusal writes nothing; the
    caller's transaction rolls back with it."""
    assert key, "the sealing key must not be empty"
    assert now.tzinfo is not None, "timestamps are UTC-aware"
    fingerprint = seal_key_fingerprint(key)
    recorded = recorded_seal_key(conn)
    if recorded is None:
        if not _verifies_stored(conn, key):
            raise LedgerError(LedgerErrorCode.SEAL_KEY_MISMATCH, _MISMATCH, field="seal_key")
        if not _record(conn, fingerprint, now):
            return
        recorded = recorded_seal_key(conn)
        assert recorded is not None, "recorded, by us or by another process"
    require_seal_key(recorded, key)


def require_seal_key(recorded: str, key: bytes) -> None:
    """Refuse (`seal_key_mismatch`) a key whose fingerprint is not `recorded`."""
    if recorded != seal_key_fingerprint(key):
        raise LedgerError(LedgerErrorCode.SEAL_KEY_MISMATCH, _MISMATCH, field="seal_key")


def recorded_seal_key(conn: Connection) -> str | None:
    """The fingerprint the database recorded, or None before the first record."""
    query = select(seal_key.c.fingerprint).where(seal_key.c.key_name == SEAL_KEY_NAME)
    found = conn.execute(query).scalar()
    return None if found is None else str(found)


def _record(conn: Connection, fingerprint: str, now: datetime) -> bool:
    """Insert the fingerprint unless one is recorded; False when the database refused this
    session the write (the savepoint keeps the transaction usable for what follows)."""
    row = {"key_name": SEAL_KEY_NAME, "fingerprint": fingerprint, "created_at": now}
    try:
        with conn.begin_nested():
            new = dialect_insert(conn, seal_key).on_conflict_do_nothing(index_elements=["key_name"])
            conn.execute(new.values(row))
    except DBAPIError as error:
        if sqlstate(error) in _CANNOT_WRITE_SQLSTATES:
            return False
        raise
    return True


def _verifies_stored(conn: Connection, key: bytes) -> bool:
    """Whether `key` verifies what the ledger already stored under its key: the oldest or
    the newest chain link, entry digest or account terms digest. One is enough (a wrong key
    verifies none, while one row altered behind the ledger's back must not lock the right
    key out of the audit that would report it); True for a ledger with none of them."""
    samples: list[Callable[[], bool | None]] = []
    for newest in (False, True):
        samples += [
            functools.partial(_link_verifies, conn, key, newest=newest),
            functools.partial(_entry_verifies, conn, key, newest=newest),
            functools.partial(_terms_verify, conn, key, newest=newest),
        ]
    seen = False
    for sample in samples:
        try:
            verdict = sample()
        except (LedgerError, ValueError, TypeError, OverflowError):
            # A stored value that does not read (one the audit reports): not a verdict.
            verdict = None
        if verdict:
            return True
        seen = seen or verdict is not None
    return not seen


def _link_verifies(conn: Connection, key: bytes, *, newest: bool) -> bool | None:
    """Whether the oldest or newest link recomputes from the one before it and its entry's
    stored digest; None with no chain, or when the link before it or its entry is missing
    (the audit reports those)."""
    order = chain.c.position.desc() if newest else chain.c.position.asc()
    link = conn.execute(
        select(chain.c.position, chain.c.chain_hash, entry.c.digest)
        .join(entry, entry.c.seq == chain.c.entry_seq, isouter=True)
        .order_by(order)
        .limit(1)
    ).first()
    if link is None or link.digest is None:
        return None
    previous: str | None = GENESIS_HASH
    if link.position != 1:
        query = select(chain.c.chain_hash).where(chain.c.position == link.position - 1)
        previous = conn.execute(query).scalar()
    if previous is None:
        return None
    return bool(chain_link(key, previous, link.digest) == link.chain_hash)


def _entry_verifies(conn: Connection, key: bytes, *, newest: bool) -> bool | None:
    """Whether the oldest or newest entry's digest recomputes from what it recorded; None
    with no entry."""
    order = entry.c.seq.desc() if newest else entry.c.seq.asc()
    entry_id = conn.execute(select(entry.c.entry_id).order_by(order).limit(1)).scalar()
    if entry_id is None:
        return None
    found = load_entries(conn, [entry_id])[entry_id]
    recomputed = entry_digest(
        key,
        entry_id=found.entry_id,
        kind=found.kind.value,
        target_id=found.target_id,
        business_date=found.business_date,
        timeout_s=found.timeout_s,
        expires_at=found.expires_at,
        metadata_json=found.metadata_json,
        committed_at=found.committed_at,
        postings=[canonical_posting(p) for p in found.postings],
    )
    return recomputed == found.digest


def _terms_verify(conn: Connection, key: bytes, *, newest: bool) -> bool | None:
    """Whether the oldest or newest account with a terms digest (accounts opened before
    0008 have none) recomputes it, at its terms version; None with no such account."""
    order = account.c.id.desc() if newest else account.c.id.asc()
    query = select(account).where(account.c.terms_digest.is_not(None)).order_by(order).limit(1)
    row = conn.execute(query).first()
    if row is None:
        return None
    terms = row_to_account(row).terms()
    return bool(account_terms_digest(key, terms, row.terms_version) == row.terms_digest)
