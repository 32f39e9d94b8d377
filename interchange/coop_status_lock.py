"""The advisory lock that orders a cooperative's status changes after the payments that
read its status (PostgreSQL; SQLite runs one writer at a time).

A payment batch takes the shared lock of every cooperative it reads, in id order, before
it reads them (`interchange.payment_store_pg`); a status change (a suspension, a close)
takes the exclusive lock of its cooperative first (`lock_coop_status`). So a change waits
for the batches that read the cooperative active and have not committed, and a batch that
starts after it reads the new status: no payment is recorded after a suspension committed.
Advisory locks queue fairly, unlike row share locks (a new share holder does not wait
behind a waiting updater, which could then wait for as long as batches overlap), and they
write nothing to the cooperative's row. Registrations take the row's lock, not this one,
so they do not wait for payments.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

__all__ = ["COOP_LOCK_CLASS", "lock_coop_status"]

COOP_LOCK_CLASS = 0x6B63  # "kc": the namespace of cooperatives' status locks


def lock_coop_status(conn: Connection, coop_id: int) -> None:
    """Take the cooperative's status lock exclusively until the transaction ends (waiting
    for the payments that read its status); nothing on SQLite."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(COOP_LOCK_CLASS, coop_id)))
