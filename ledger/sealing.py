"""Sealing: linking recorded entries into the hash chain, off the payment path.

Writers never touch the chain: they store each entry's keyed digest and commit. A sealer
(`Ledger.seal`: `kopnet ledger seal`, which operators schedule, or `kopnet audit verify`)
appends the entries not yet sealed to `ledger_chain` in sequence order, each with a keyed
link. On PostgreSQL only one
sealer runs at a time (a transaction-scoped advisory lock that sealers try and skip, never
wait on). An entry that commits late, after entries with higher numbers were sealed, is
sealed in the next round if its number is within `LATE_WINDOW_SEQS` of the highest sealed
(a round looks no further down, so that it stays cheap); one that commits later still (its
transaction held open while more numbers were drawn: refused requests draw them too) is
sealed by the next full scan (`full_scan`: `kopnet ledger seal --full-scan`, which the
nightly job runs, and `kopnet audit verify`'s sealing). Chain order is sealing order, and
every entry is sealed once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, exists, func, insert, select

from ledger.digest import GENESIS_HASH, chain_link
from ledger.tables import chain, entry

__all__ = ["LATE_WINDOW_SEQS", "SEAL_BATCH_MAX", "SEAL_LOCK_KEY", "chain_head", "seal_entries"]

SEAL_BATCH_MAX = 50_000
# How far below the highest sealed entry the sealer looks for entries that committed late.
LATE_WINDOW_SEQS = 200_000
SEAL_LOCK_KEY = 0x6B6F706E6574  # "kopnet"


def chain_head(conn: Connection) -> tuple[int, str]:
    """Return the last chain position and its hash (0 and the genesis hash when empty)."""
    row = conn.execute(
        select(chain.c.position, chain.c.chain_hash).order_by(chain.c.position.desc()).limit(1)
    ).first()
    return (row.position, row.chain_hash) if row else (0, GENESIS_HASH)


def seal_entries(
    conn: Connection, key: bytes, *, limit: int = SEAL_BATCH_MAX, full_scan: bool = False
) -> int:
    """Seal up to `limit` unsealed entries with links keyed by `key`; return how many were
    sealed (0 if another sealer holds the lock). `full_scan` looks at the whole ledger, not
    only the late window, and waits for another sealer to finish rather than skip (a
    scheduled full scan that met the every-minute sealer would otherwise seal nothing), up
    to the session's `lock_timeout` (`lock_wait_timeout` past it)."""
    assert 1 <= limit <= SEAL_BATCH_MAX
    if conn.dialect.name == "postgresql" and full_scan:
        conn.execute(select(func.pg_advisory_xact_lock(SEAL_LOCK_KEY)))
    elif conn.dialect.name == "postgresql":
        locked = conn.execute(select(func.pg_try_advisory_xact_lock(SEAL_LOCK_KEY))).scalar()
        if not locked:
            return 0
    position, previous = chain_head(conn)
    floor = 0
    if not full_scan:
        highest = conn.execute(select(func.max(chain.c.entry_seq))).scalar() or 0
        floor = max(0, highest - LATE_WINDOW_SEQS)
    sealed = exists().where(chain.c.entry_seq == entry.c.seq)
    query = (
        select(entry.c.seq, entry.c.digest)
        .where(entry.c.seq > floor, ~sealed)
        .order_by(entry.c.seq)
        .limit(limit)
    )
    rows = []
    now = datetime.now(UTC)
    for seq, digest in conn.execute(query):
        position += 1
        previous = chain_link(key, previous, digest)
        rows.append(
            {
                "position": position,
                "entry_seq": seq,
                "chain_hash": previous,
                "sealed_at": now,
            }
        )
    if rows:
        conn.execute(insert(chain), rows)
    return len(rows)
