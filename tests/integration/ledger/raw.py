"""Raw access to a ledger database, behind the service's back, for guard and tamper tests.

`refusal_code` reads the database's own error code (a PostgreSQL SQLSTATE, or SQLite's
extended result code name) so tests never match message text. `tampering` opens a
transaction in which the append-only triggers (and, on PostgreSQL, foreign keys) do not
fire: PostgreSQL runs it with `session_replication_role = replica`; SQLite drops the
ledger's triggers for good and connects without foreign key enforcement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, create_engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from ledger.db import normalise_url
from ledger.tables import account, entry, posting

# What an account row's seal is: its status, terms version and digest.
SEALED_TERMS = (account.c.status, account.c.terms_version, account.c.terms_digest)

__all__ = [
    "CHANGE_REFUSED",
    "INSERT_REFUSED",
    "RawLeg",
    "insert_entry",
    "next_seq",
    "refusal_code",
    "tampering",
]

# What each engine reports when a guard trigger refuses a statement.
CHANGE_REFUSED = {"postgresql": "23001", "sqlite": "SQLITE_CONSTRAINT_TRIGGER"}
INSERT_REFUSED = {"postgresql": "23514", "sqlite": "SQLITE_CONSTRAINT_TRIGGER"}


def refusal_code(error: DBAPIError) -> str:
    """The engine's machine-readable code for a refused statement."""
    orig = error.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    assert isinstance(code, str), f"no error code on {orig!r}"
    return code


@contextmanager
def tampering(url: str) -> Iterator[Connection]:
    """A committed transaction in which the ledger's guard triggers do not fire."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            else:
                names = conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).scalars()
                for name in list(names):
                    conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
            yield conn
    finally:
        engine.dispose()


def next_seq(conn: Connection) -> int:
    """A fresh entry sequence number, as the ledger would allocate it."""
    if conn.dialect.name == "postgresql":
        return int(conn.execute(select(func.nextval("ledger_entry_seq"))).scalar_one())
    return int(conn.execute(select(func.coalesce(func.max(entry.c.seq), 0))).scalar_one()) + 1


@dataclass(frozen=True, slots=True)
class RawLeg:
    """A posting row: posted legs carry their running number and balance after."""

    account_id: int
    amount_minor: int
    account_posting_no: int | None = None
    balance_after_minor: int | None = None
    currency: str = "IDR"
    coop_id: int = 1


def insert_entry(
    conn: Connection,
    legs: Sequence[RawLeg],
    *,
    entry_id: str,
    digest: str = "f" * 64,
    kind: str = "posted",
    postings_first: bool = True,
) -> int:
    """Insert postings and an entry row the way the ledger does (postings first)."""
    seq = next_seq(conn)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "entry_seq": seq,
            "leg_no": leg_no,
            "account_id": leg.account_id,
            "coop_id": leg.coop_id,
            "currency": leg.currency,
            "amount_minor": leg.amount_minor,
            "is_pending": leg.account_posting_no is None,
            "account_posting_no": leg.account_posting_no,
            "balance_after_minor": leg.balance_after_minor,
            "committed_at": now,
        }
        for leg_no, leg in enumerate(legs, start=1)
    ]
    entry_row = {
        "seq": seq,
        "entry_id": entry_id,
        "kind": kind,
        "business_date": now.date(),
        "committed_at": now,
        "digest": digest,
    }
    if postings_first and rows:
        conn.execute(insert(posting), rows)
    conn.execute(insert(entry).values(entry_row))
    if not postings_first and rows:
        conn.execute(insert(posting), rows)
    return seq
